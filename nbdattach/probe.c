/* nbdattach: the I/O probe of a device.  A connected device is not
 * necessarily a working one: --check, and --reattach before and after it
 * hands the kernel new sockets, read the first 4 KiB of /dev/nbdN,
 * bypassing the page cache, to see what the kernel does with a real
 * request.  The read runs in a child process, so that the caller (which
 * may be the daemon serving that very device) never blocks on it: a read
 * of a device whose data source is gone can wait for minutes in the
 * kernel, uninterruptibly.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nbdattach.h"

/* The child: no descriptor but the pipe, so that a child stuck in the
 * read holds none of the daemon's sockets (it would keep a kernel
 * connection alive after the daemon died).
 */
static void __attribute__ ((noreturn))
probe_child (const char *dev, int out)
{
  void *buf;
  int fd, e = 0;

  if (dup2 (out, 3) == -1)
    _exit (1);
  if (close_range (4, ~0U, 0) == -1) {
    long max = sysconf (_SC_OPEN_MAX);
    for (fd = 4; fd < (max > 0 && max < 65536 ? max : 65536); ++fd)
      close (fd);
  }
  fd = open (dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd == -1 || posix_memalign (&buf, 4096, 4096) != 0 ||
      pread (fd, buf, 4096, 0) != 4096)
    e = errno ? errno : EIO;
  if (write (3, &e, sizeof e) != sizeof e)
    _exit (1);
  _exit (0);
}

int
io_probe_start (struct io_probe *pr, const char *dev, char *why,
                size_t len)
{
  int pipefd[2];

  snprintf (pr->dev, sizeof pr->dev, "%s", dev);
  pr->fd = -1;
  pr->pid = -1;
  if (pipe2 (pipefd, O_CLOEXEC) == -1) {
    snprintf (why, len, "pipe: %s", strerror (errno));
    return -1;
  }
  pr->pid = fork ();
  if (pr->pid == -1) {
    snprintf (why, len, "fork: %s", strerror (errno));
    close (pipefd[0]);
    close (pipefd[1]);
    return -1;
  }
  if (pr->pid == 0)
    probe_child (pr->dev, pipefd[1]);
  close (pipefd[1]);
  pr->fd = pipefd[0];
  return 0;
}

int
io_probe_wait (struct io_probe *pr, int timeout_ms, char *why, size_t len)
{
  struct pollfd pfd = { .fd = pr->fd, .events = POLLIN };
  int err = 0, status;

  if (poll (&pfd, 1, timeout_ms) <= 0) {
    snprintf (why, len, "reading %s did not finish within %d s", pr->dev,
              timeout_ms / 1000);
    return 1;
  }
  if (read (pr->fd, &err, sizeof err) != sizeof err)
    err = EIO;
  close (pr->fd);
  pr->fd = -1;
  waitpid (pr->pid, &status, 0);
  pr->pid = -1;
  if (err) {
    snprintf (why, len, "reading %s fails: %s", pr->dev, strerror (err));
    return -1;
  }
  return 0;
}

/* A stalled child is left to finish on its own: a process in
 * uninterruptible I/O cannot be killed.  It is not waited for either;
 * once this process exits, init reaps it.
 */
void
io_probe_abandon (struct io_probe *pr)
{
  if (pr->fd >= 0)
    close (pr->fd);
  pr->fd = -1;
  pr->pid = -1;
}

/* --check: a remote server down longer than the retry budget fails the
 * read with EIO, or stalls it while the retry filter is still trying.
 */
int
device_io_probe (int index, int timeout_ms, char *why, size_t len)
{
  char dev[32];

  snprintf (dev, sizeof dev, "/dev/nbd%d", index);
  return device_path_io_probe (dev, timeout_ms, why, len);
}

/* The same for any block device (a ublk one). */
int
device_path_io_probe (const char *dev, int timeout_ms, char *why, size_t len)
{
  struct io_probe pr;
  char msg[200];
  int r;

  if (io_probe_start (&pr, dev, why, len) == -1)
    return -1;
  r = io_probe_wait (&pr, timeout_ms, msg, sizeof msg);
  if (r == 0)
    return 0;
  if (r == 1) {
    io_probe_abandon (&pr);
    snprintf (why, len, "%s (is its data source down and being "
              "retried?)", msg);
  }
  else
    snprintf (why, len, "%s (its data source is failing)", msg);
  return -1;
}
