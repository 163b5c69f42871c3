/* nbdattach: the control socket through which `nbdattach --resize` and
 * `nbdattach --upgrade` talk to the daemon serving a device.
 *
 * A Unix stream socket, STATE_DIR/nbdN.ctl, mode 0600 in a root-owned
 * directory, and the daemon also checks that the peer is root
 * (SO_PEERCRED).  A socket rather than signals: a command carries
 * arguments (a size, --force) and gets an answer back, the error
 * message included, once the work is done, so that `--resize` and
 * `--upgrade` (systemd's ExecReload=) succeed or fail truthfully.
 *
 * The protocol is one line each way: the command ("resize SIZE FORCE",
 * SIZE 0 for "what the chain says", or "upgrade"), then "OK message" or
 * "ERR message".  The daemon handles one command at a time in its main
 * loop; an upgraded daemon inherits the listening socket, so the path
 * never goes away while the device is served.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"

/* How long a client has to send its command. */
#define COMMAND_TIMEOUT_MS 5000

static void
control_path (int index, struct sockaddr_un *addr)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  snprintf (addr->sun_path, sizeof addr->sun_path, "%s/nbd%d.ctl",
            STATE_DIR, index);
}

/* Returns the listening socket, or -1 (logged: the device works, only
 * --resize and --upgrade will not reach it).
 */
int
control_listen (int index)
{
  struct sockaddr_un addr;
  int fd;

  control_path (index, &addr);
  if (mkdir (STATE_DIR, 0755) == -1 && errno != EEXIST) {
    nbdkit_error ("mkdir %s: %m (no --resize or --upgrade)", STATE_DIR);
    return -1;
  }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    nbdkit_error ("socket: %m (no --resize or --upgrade)");
    return -1;
  }
  unlink (addr.sun_path);
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == -1 ||
      chmod (addr.sun_path, 0600) == -1 || listen (fd, 4) == -1) {
    nbdkit_error ("%s: %m (no --resize or --upgrade)", addr.sun_path);
    close (fd);
    return -1;
  }
  return fd;
}

void
control_remove (int index)
{
  struct sockaddr_un addr;

  control_path (index, &addr);
  unlink (addr.sun_path);
}

static void
reply (int fd, bool ok, const char *msg)
{
  char buf[1024];
  int len = snprintf (buf, sizeof buf, "%s %s\n", ok ? "OK" : "ERR", msg);

  if (len >= (int) sizeof buf)
    len = sizeof buf - 1;
  if (send (fd, buf, len, MSG_NOSIGNAL) != len)
    debug ("control: the client went away before the answer: %m");
}

/* Reads one line (the command) within COMMAND_TIMEOUT_MS. */
static int
read_command (int fd, char *buf, size_t len)
{
  size_t n = 0;

  while (n < len - 1) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    ssize_t r;

    if (poll (&pfd, 1, COMMAND_TIMEOUT_MS) != 1)
      return -1;
    r = recv (fd, buf + n, len - 1 - n, 0);
    if (r <= 0)
      return -1;
    n += r;
    buf[n] = '\0';
    if (strchr (buf, '\n')) {
      buf[strcspn (buf, "\n")] = '\0';
      return 0;
    }
  }
  return -1;
}

/* One client on the listening socket.  Returns what device_upgrade
 * returned for an upgrade (1 or -1: the daemon must exit without
 * disconnecting), else 0.
 */
int
control_handle (int listen_fd)
{
  struct ucred cred;
  socklen_t cred_len = sizeof cred;
  char cmd[128], msg[1024];
  uint64_t size;
  int fd, force, handed_over = 0;

  fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd == -1)
    return 0;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == -1 ||
      cred.uid != 0)
    reply (fd, false, "only root may control the device");
  else if (read_command (fd, cmd, sizeof cmd) == -1)
    reply (fd, false, "no command received");
  else if (sscanf (cmd, "resize %" SCNu64 " %d", &size, &force) == 2) {
    int r = device_resize (size, force, msg, sizeof msg);
    reply (fd, r == 0, msg);
  }
  else if (strcmp (cmd, "upgrade") == 0) {
    handed_over = device_upgrade (listen_fd, msg, sizeof msg);
    reply (fd, handed_over == 1, msg);
  }
  else
    reply (fd, false, "unknown command");
  close (fd);
  return handed_over;
}

/* The client side: sends LINE to the daemon of DEV (a device or a
 * backend name), prints its answer, returns the exit status.
 */
int
control_command (const char *dev, const char *line)
{
  struct sockaddr_un addr;
  char buf[1024];
  size_t n = 0;
  int fd, index;

  if (geteuid () != 0)
    die ("controlling a device needs root");
  index = resolve_or_die (dev);
  if (!device_connected (index))
    die ("/dev/nbd%d is not connected", index);
  control_path (index, &addr);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    die ("socket: %s", strerror (errno));
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1) {
    if (errno == ENOENT || errno == ECONNREFUSED)
      die ("/dev/nbd%d: no daemon answers on %s (it is not running: "
           "use --reattach; or it was started by an nbdattach without "
           "--resize and --upgrade)", index, addr.sun_path);
    die ("%s: %s", addr.sun_path, strerror (errno));
  }
  if (send (fd, line, strlen (line), MSG_NOSIGNAL) != (ssize_t) strlen (line))
    die ("%s: %s", addr.sun_path, strerror (errno));
  /* No time limit: an upgrade waits for the new binary to open the
   * chain, which for a remote plugin can take a while.
   */
  for (;;) {
    ssize_t r = recv (fd, buf + n, sizeof buf - 1 - n, 0);
    if (r <= 0)
      break;
    n += r;
    if (n == sizeof buf - 1)
      break;
  }
  close (fd);
  buf[n] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  if (strncmp (buf, "OK ", 3) == 0) {
    printf ("%s\n", buf + 3);
    return EXIT_SUCCESS;
  }
  if (strncmp (buf, "ERR ", 4) == 0)
    die ("%s", buf + 4);
  die ("/dev/nbd%d: the daemon closed the control socket without an "
       "answer (did it crash? nbdattach --list, and the log)", index);
}
