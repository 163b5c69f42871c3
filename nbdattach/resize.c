/* nbdattach: changing the size of a live device (--resize, and a plugin
 * calling nbdkit_size_changed, e.g. Ceph rbd when another client resized
 * the image).
 *
 * The chain is asked for its size again, through a fresh context, so
 * that every filter sees it (offset, truncate, partition compute theirs
 * from the layer below).  The connections are then paused between two
 * requests and reopened, because each context keeps the size it was
 * opened with and checks requests against it; and the kernel is told
 * with RECONFIGURE + NBD_ATTR_SIZE_BYTES.  That call is made while the
 * connections are being served: on kernels that freeze the queue to
 * resize (6.12), the freeze waits for the requests in flight, which
 * only a serving daemon can finish.  Growing reopens first (so that the
 * new blocks are servable before the kernel sends requests for them);
 * shrinking tells the kernel first (so that it stops sending requests
 * beyond the new end before the chain refuses them).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"

/* nbdkit_size_changed may be called from any thread of the plugin's:
 * it only writes to this pipe, which the wait loop watches.
 */
static int changed_pipe[2] = { -1, -1 };

static void
size_changed_hook_fn (void)
{
  char c = 0;
  ssize_t r = write (changed_pipe[1], &c, 1);  /* full: already pending */

  (void) r;
}

int
size_changed_fd (void)
{
  if (changed_pipe[0] == -1) {
    if (pipe2 (changed_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
      nbdkit_error ("pipe2: %m");
      return -1;
    }
    size_changed_hook = size_changed_hook_fn;
  }
  return changed_pipe[0];
}

/* The plugin said its size changed: apply it as --resize would, without
 * shrinking under a filesystem (the messages go to the log).
 */
void
size_changed_event (void)
{
  char buf[64], msg[512];

  while (read (changed_pipe[0], buf, sizeof buf) > 0)
    ;
  if (device_resize (0, false, msg, sizeof msg) == -1)
    nbdkit_error ("%s", msg);
  else
    debug ("%s", msg);
}

static uint64_t
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* How long requests waited for the reopen and the kernel took, for the
 * message.
 */
static uint64_t paused_us, kernel_us;

/* Pauses the connections and serves them again with contexts opened
 * now, which learn the chain's current size.
 */
static int
reopen_connections (char *msg, size_t len)
{
  uint64_t t = now_us ();
  int r = serve_pause ();

  serve_resume ();
  paused_us = now_us () - t;
  if (r == -1) {
    snprintf (msg, len, "%s: a connection ended or failed to flush while "
              "reopening the chain", served.name);
    return -1;
  }
  return 0;
}

static int
tell_kernel (uint64_t size, char *msg, size_t len)
{
  struct attach_params p = {
    .index = served.index, .size = size, .with_size = true,
    .block_size = block_size, .timeout = timeout,
    .dead_conn_timeout = dead_timeout, .backend_id = backend_name,
  };

  uint64_t t = now_us ();
  int r = nl_nbd_reconfigure (&p);

  kernel_us = now_us () - t;
  if (r == -1) {
    snprintf (msg, len, "%s: the kernel refused the new size %" PRIu64
              ": %s", served.name, size, strerror (errno));
    return -1;
  }
  return 0;
}

/* WANT: the size asked for (0: whatever the chain now says).  Returns 0
 * or -1, with a message for the user in MSG either way.
 */
int
device_resize (uint64_t want, bool force, char *msg, size_t len)
{
  struct export_info info;
  uint64_t old = served.size;
  char why[512];

  if (use_ioctl) {
    snprintf (msg, len, "%s: resizing needs the netlink interface (this "
              "daemon uses --ioctl)", served.name);
    return -1;
  }
  if (probe_export (exportname_option ? exportname_option : "", &info)
      == -1) {
    snprintf (msg, len, "%s: the chain failed to open to read its size "
              "(see the log)", served.name);
    return -1;
  }
  if (want != 0 && want != info.size) {
    snprintf (msg, len, "%s: the chain is %" PRIu64 " bytes, not %" PRIu64
              ": the %s plugin cannot change its size itself; resize its "
              "data (truncate -s, rbd resize, ...), then run nbdattach "
              "--resize %s without a size", served.name, info.size, want,
              top->name, served.name);
    return -1;
  }
  if (info.size == 0 || info.size % block_size != 0) {
    snprintf (msg, len, "%s: the new size %" PRIu64 " is not a non-zero "
              "multiple of the block size %" PRIu64 ": size unchanged",
              served.name, info.size, block_size);
    return -1;
  }
  if (info.size == old) {
    snprintf (msg, len, "%s: size unchanged, %" PRIu64 " bytes",
              served.name, old);
    return 0;
  }
  if (info.size < old && !force && disk_in_use (served.name + strlen ("/dev/"), why,
                                                  sizeof why)) {
    snprintf (msg, len, "%s: refusing to shrink from %" PRIu64 " to %"
              PRIu64 " bytes: %s (--force shrinks anyway, and what lies "
              "beyond the new end is lost to it)", served.name, old,
              info.size, why);
    return -1;
  }

  if (info.size > old) {
    if (reopen_connections (msg, len) == -1 ||
        tell_kernel (info.size, msg, len) == -1)
      return -1;
  }
  else {
    if (tell_kernel (info.size, msg, len) == -1)
      return -1;
    served.size = info.size;
    if (reopen_connections (msg, len) == -1)
      return -1;
  }
  served.size = info.size;
  snprintf (msg, len, "%s: resized from %" PRIu64 " to %" PRIu64 " bytes "
            "(requests paused %.1f ms for the reopen, the kernel took %.1f "
            "ms)", served.name, old, info.size, paused_us / 1000.0,
            kernel_us / 1000.0);
  return 0;
}
