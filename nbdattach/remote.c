/* nbdattach: remote data sources get the retry filter by default.
 *
 * A device backed by another machine (the nbd, curl and rbd plugins, or
 * a URI given in place of the plugin) fails whenever that machine
 * restarts or the network blips.  The commonest complaint about
 * nbd-client is exactly that: the server restarts and the device is
 * dead.  So for these plugins nbdattach stacks the retry filter directly
 * on the plugin unless the chain already has one or --no-retry is
 * given: a failed request then reopens the plugin (a new connection to
 * the server) and is tried again, with the retry filter's defaults (5
 * retries, 2 s doubling: about a minute), before the kernel sees EIO.
 * Local plugins get nothing: for them a failure is not transient.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "internal.h"
#include "nbdattach.h"

static const char *const remote_plugins[] = { "nbd", "curl", "rbd" };
static const char *const remote_schemes[] = {
  "nbd://", "nbds://", "nbd+unix://", "nbds+unix://", "nbd+vsock://",
  "nbds+vsock://", "http://", "https://",
};

bool
plugin_is_remote (const char *plugin)
{
  const char *base = strrchr (plugin, '/');
  size_t i;

  for (i = 0; i < sizeof remote_schemes / sizeof remote_schemes[0]; ++i)
    if (strncmp (plugin, remote_schemes[i], strlen (remote_schemes[i])) == 0)
      return true;
  /* A name, or a path to blockkit-NAME-plugin.so / nbdkit-NAME-plugin.so. */
  base = base ? base + 1 : plugin;
  for (i = 0; i < sizeof remote_plugins / sizeof remote_plugins[0]; ++i) {
    const char *n = remote_plugins[i];
    size_t len = strlen (n);
    const char *dash = strchr (base, '-');

    if (strcmp (base, n) == 0)
      return true;
    if (dash && strncmp (dash + 1, n, len) == 0 &&
        strncmp (dash + 1 + len, "-plugin", 7) == 0)
      return true;
  }
  return false;
}

/* The filter list to load: FILTERS (N of them, nearest the client first)
 * with "retry" added nearest the plugin when that is called for.  The
 * result is a new array (free it); the strings are not copied.
 */
char **
filters_with_auto_retry (const char *plugin, char **filters, size_t *n,
                         bool no_retry)
{
  char **v = malloc ((*n + 1) * sizeof *v);
  bool has_retry = false;
  size_t i;

  if (v == NULL)
    return NULL;
  for (i = 0; i < *n; ++i) {
    v[i] = filters[i];
    if (strcmp (filters[i], "retry") == 0 ||
        strstr (filters[i], "-retry-filter") != NULL)
      has_retry = true;
  }
  if (!no_retry && !has_retry && plugin_is_remote (plugin)) {
    v[(*n)++] = (char *) "retry";
    debug ("%s is remote: the retry filter is added (--no-retry to "
           "leave it out)", plugin);
  }
  return v;
}

/* --check's I/O probe: reads the first 4 KiB of /dev/nbdINDEX, bypassing
 * the page cache, in a child process, and waits for it at most
 * TIMEOUT_MS.  A connected device whose data source is gone (a remote
 * server down longer than the retry budget) fails this with EIO, or
 * stalls while the retry filter is still trying.  Returns 0 if the read
 * worked, else -1 with the reason in WHY.  A stalled child is left to
 * finish on its own: a process in uninterruptible I/O cannot be killed.
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
  int pipefd[2], status;
  struct pollfd pfd;
  pid_t pid;
  int err = 0;

  if (pipe (pipefd) == -1) {
    snprintf (why, len, "pipe: %s", strerror (errno));
    return -1;
  }
  pid = fork ();
  if (pid == -1) {
    snprintf (why, len, "fork: %s", strerror (errno));
    close (pipefd[0]);
    close (pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    void *buf;
    int fd, e = 0;

    close (pipefd[0]);
    fd = open (dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd == -1 || posix_memalign (&buf, 4096, 4096) != 0 ||
        pread (fd, buf, 4096, 0) != 4096)
      e = errno ? errno : EIO;
    if (write (pipefd[1], &e, sizeof e) != sizeof e)
      _exit (1);
    _exit (0);
  }
  close (pipefd[1]);
  pfd.fd = pipefd[0];
  pfd.events = POLLIN;
  if (poll (&pfd, 1, timeout_ms) <= 0) {
    snprintf (why, len, "reading %s did not finish within %d s (is its "
              "data source down and being retried?)", dev, timeout_ms / 1000);
    close (pipefd[0]);
    return -1;
  }
  if (read (pipefd[0], &err, sizeof err) != sizeof err)
    err = EIO;
  close (pipefd[0]);
  waitpid (pid, &status, 0);
  if (err) {
    snprintf (why, len, "reading %s fails: %s (its data source is "
              "failing)", dev, strerror (err));
    return -1;
  }
  return 0;
}
