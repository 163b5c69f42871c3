/* blockkit: --selinux-label, the SELinux label of the listening sockets.
 *
 * libvirt guests confined by sVirt may only connect to sockets labelled
 * for them, so the established server lets the administrator name the
 * label.  The kernel takes the label of the next socket a thread creates
 * from /proc/thread-self/attr/sockcreate (what libselinux's
 * setsockcreatecon does), so no library is needed: the label is written
 * there just before each listening socket is created and cleared just
 * after, and the kernel itself rejects a label that is not valid.
 *
 * On a system without SELinux the option is an error that says so,
 * rather than silently serving a socket the confined client cannot use.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "options.h"
#include "sockets.h"

#define SELINUXFS "/sys/fs/selinux"
#define SOCKCREATE "/proc/thread-self/attr/sockcreate"

void
check_selinux_label (void)
{
  if (access (SELINUXFS "/enforce", F_OK) == -1) {
    fprintf (stderr, "%s: --selinux-label: SELinux is not enabled on this "
             "system (no %s), so the socket cannot be labelled\n",
             program_name, SELINUXFS);
    exit (EXIT_FAILURE);
  }
  if (*selinux_label_option == '\0') {
    fprintf (stderr, "%s: --selinux-label: the label is empty\n",
             program_name);
    exit (EXIT_FAILURE);
  }
}

/* Sets (ON) or clears the label of the sockets this thread creates. */
void
set_socket_label (bool on)
{
  const char *label = on ? selinux_label_option : "";
  size_t len;
  int fd;

  if (selinux_label_option == NULL)
    return;
  len = strlen (label);
  fd = open (SOCKCREATE, O_WRONLY | O_CLOEXEC);
  if (fd == -1 || write (fd, label, len) != (ssize_t) len) {
    fprintf (stderr, "%s: --selinux-label %s: %s: %s\n", program_name,
             selinux_label_option, SOCKCREATE, strerror (errno));
    exit (EXIT_FAILURE);
  }
  close (fd);
}
