/* nbdattach: the ioctl interface of kernels before 4.12 (no netlink).
 * One connection only; NBD_DO_IT blocks until the device disconnects,
 * so it runs in its own thread.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/nbd.h>

#include "nbdattach.h"

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"

static int device_fd = -1;
static pthread_t do_it_thread;
static int do_it_result;

static void *
do_it (void *arg)
{
  /* Returns when the device is disconnected. */
  do_it_result = ioctl (device_fd, NBD_DO_IT) == -1 ? errno : 0;
  ioctl (device_fd, NBD_CLEAR_QUE);
  ioctl (device_fd, NBD_CLEAR_SOCK);
  return NULL;
}

int
ioctl_attach (const struct attach_params *p, int *index_out)
{
  char path[32];
  int index = p->index >= 0 ? p->index : first_free_device ();

  if (p->nr_fds != 1) {
    nbdkit_error ("the ioctl interface supports exactly one connection");
    errno = EINVAL;
    return -1;
  }
  if (index < 0) {
    nbdkit_error ("no free nbd device (load the nbd module with more "
                  "devices: modprobe nbd nbds_max=N)");
    errno = ENODEV;
    return -1;
  }
  snprintf (path, sizeof path, "/dev/nbd%d", index);
  device_fd = open (path, O_RDWR | O_CLOEXEC);
  if (device_fd == -1) {
    nbdkit_error ("%s: %m", path);
    return -1;
  }
  if (ioctl (device_fd, NBD_SET_BLKSIZE, (unsigned long) p->block_size) == -1 ||
      ioctl (device_fd, NBD_SET_SIZE_BLOCKS,
             (unsigned long) (p->size / p->block_size)) == -1 ||
      ioctl (device_fd, NBD_CLEAR_SOCK) == -1 ||
      ioctl (device_fd, NBD_SET_FLAGS, (unsigned long) p->server_flags) == -1 ||
      ioctl (device_fd, NBD_SET_TIMEOUT, (unsigned long) p->timeout) == -1 ||
      ioctl (device_fd, NBD_SET_SOCK, (unsigned long) p->fds[0]) == -1) {
    int err = errno;
    nbdkit_error ("%s: setting up the device: %s%s", path, strerror (err),
                  err == EBUSY ? " (device busy)" : "");
    close (device_fd);
    device_fd = -1;
    errno = err;
    return -1;
  }
  if (pthread_create (&do_it_thread, NULL, do_it, NULL) != 0) {
    nbdkit_error ("pthread_create: %m");
    close (device_fd);
    device_fd = -1;
    return -1;
  }
  *index_out = index;
  return 0;
}

/* Waits for NBD_DO_IT to return (the device was disconnected). */
int
ioctl_wait (void)
{
  pthread_join (do_it_thread, NULL);
  close (device_fd);
  device_fd = -1;
  return do_it_result;
}

int
ioctl_detach (int index)
{
  char path[32];
  int fd, r;

  snprintf (path, sizeof path, "/dev/nbd%d", index);
  fd = open (path, O_RDWR | O_CLOEXEC);
  if (fd == -1)
    return -1;
  r = ioctl (fd, NBD_DISCONNECT);
  close (fd);
  return r;
}
