/* A test filter for the tests of blockkit's filters: it sits below the
 * filter under test and appends one line per call it receives to the
 * file named by oplog=PATH, so a test can see exactly what the filter
 * above passed down.  Every context gets a number (1, 2, ...) in the
 * order it was opened, so calls made on behalf of different client
 * connections can be told apart:
 *
 *   N open
 *   N pread COUNT OFFSET
 *   N pwrite COUNT OFFSET fua=F
 *   N zero COUNT OFFSET fua=F may_trim=M fast=Z
 *   N trim COUNT OFFSET fua=F
 *   N flush
 *   N cache COUNT OFFSET
 *   N close
 *
 * With oplog-flush=no the filter also claims that it can neither flush
 * nor do FUA, and with oplog-multi-conn=no that it cannot do multi-conn,
 * so that a test can put a layer without them under the filter it tests.
 *
 * Each line is written with one write(2) on an O_APPEND descriptor, so
 * lines from parallel requests never interleave.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-filter.h>

static int log_fd = -1;
static int flush_ok = 1;
static int multi_conn_ok = 1;
static unsigned next_id;        /* updated atomically */

struct handle {
  unsigned id;
};

static void
oplog_unload (void)
{
  if (log_fd >= 0)
    close (log_fd);
}

static int
oplog_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "oplog") == 0) {
    if (log_fd >= 0)
      close (log_fd);
    log_fd = open (value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd == -1) {
      nbdkit_error ("oplog=%s: %m", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "oplog-flush") == 0) {
    flush_ok = nbdkit_parse_bool (value);
    return flush_ok == -1 ? -1 : 0;
  }
  if (strcmp (key, "oplog-multi-conn") == 0) {
    multi_conn_ok = nbdkit_parse_bool (value);
    return multi_conn_ok == -1 ? -1 : 0;
  }
  return next (nxdata, key, value);
}

static int
oplog_can_multi_conn (nbdkit_next *next, void *handle)
{
  return multi_conn_ok ? next->can_multi_conn (next) : 0;
}

static int
oplog_can_flush (nbdkit_next *next, void *handle)
{
  return flush_ok ? next->can_flush (next) : 0;
}

static int
oplog_can_fua (nbdkit_next *next, void *handle)
{
  return flush_ok ? next->can_fua (next) : NBDKIT_FUA_NONE;
}

static void
say (struct handle *h, const char *fmt, ...)
{
  char line[256];
  va_list args;
  int n, m;
  ssize_t r;

  if (log_fd < 0)
    return;
  n = snprintf (line, sizeof line, "%u ", h->id);
  va_start (args, fmt);
  m = vsnprintf (line + n, sizeof line - n - 1, fmt, args);
  va_end (args);
  n += m;
  line[n++] = '\n';
  r = write (log_fd, line, n);
  (void) r;
}

static void *
oplog_open (nbdkit_next_open *next, nbdkit_context *context,
            int readonly, const char *exportname, int is_tls)
{
  struct handle *h;

  if (next (context, readonly, exportname) == -1)
    return NULL;
  h = malloc (sizeof *h);
  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  h->id = __atomic_add_fetch (&next_id, 1, __ATOMIC_SEQ_CST);
  say (h, "open");
  return h;
}

static void
oplog_close (void *handle)
{
  say (handle, "close");
  free (handle);
}

#define FUA(f) (((f) & NBDKIT_FLAG_FUA) != 0)

static int
oplog_pread (nbdkit_next *next, void *handle, void *buf,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  say (handle, "pread %" PRIu32 " %" PRIu64, count, offset);
  return next->pread (next, buf, count, offset, flags, err);
}

static int
oplog_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  say (handle, "pwrite %" PRIu32 " %" PRIu64 " fua=%d",
       count, offset, FUA (flags));
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
oplog_zero (nbdkit_next *next, void *handle,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  say (handle, "zero %" PRIu32 " %" PRIu64 " fua=%d may_trim=%d fast=%d",
       count, offset, FUA (flags), (flags & NBDKIT_FLAG_MAY_TRIM) != 0,
       (flags & NBDKIT_FLAG_FAST_ZERO) != 0);
  return next->zero (next, count, offset, flags, err);
}

static int
oplog_trim (nbdkit_next *next, void *handle,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  say (handle, "trim %" PRIu32 " %" PRIu64 " fua=%d",
       count, offset, FUA (flags));
  return next->trim (next, count, offset, flags, err);
}

static int
oplog_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  say (handle, "flush");
  return next->flush (next, flags, err);
}

/* A filter with its own .zero must speak for fast zero, or the server
 * assumes its zeroes are slow.
 */
static int
oplog_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

static int
oplog_cache (nbdkit_next *next, void *handle,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  say (handle, "cache %" PRIu32 " %" PRIu64, count, offset);
  return next->cache (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "testoplog",
  .longname = "blockkit test filter logging every call",
  .unload = oplog_unload,
  .config = oplog_config,
  .open = oplog_open,
  .close = oplog_close,
  .pread = oplog_pread,
  .pwrite = oplog_pwrite,
  .can_flush = oplog_can_flush,
  .can_multi_conn = oplog_can_multi_conn,
  .can_fua = oplog_can_fua,
  .can_fast_zero = oplog_can_fast_zero,
  .zero = oplog_zero,
  .trim = oplog_trim,
  .flush = oplog_flush,
  .cache = oplog_cache,
};

NBDKIT_REGISTER_FILTER (filter)
