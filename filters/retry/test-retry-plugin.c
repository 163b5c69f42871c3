/* A test plugin for test-retry*.sh: a 1M RAM disk (shared by every
 * handle, so data survives a reopen) whose data calls fail on demand:
 *
 *   log=PATH            required: one line per event, each written with
 *                       one write(2): "open readonly=R", "close",
 *                       "OP ok" or "OP fail" for each data call
 *   fail-total=N        the first N data calls of the server's life fail
 *   fail-after-open=N   the first N data calls after each open fail
 *                       (so a reopen never helps when N >= 1)
 *   error=EIO|ENOSPC    the errno of a failure (default EIO)
 *   delay-ms=N          every data call takes N ms, so that calls the
 *                       server runs in parallel overlap; each new high of
 *                       calls in progress at once is logged ("inflight N")
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#define SIZE (1024 * 1024)

static unsigned char disk[SIZE];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_path;
static int log_fd = -1;
static unsigned fail_total, fail_after_open, delay_ms;
static unsigned inflight, inflight_max;
static int error = EIO;

struct handle {
  int readonly;
  unsigned calls;               /* data calls since this open */
};

static int
tr_config (const char *key, const char *value)
{
  if (strcmp (key, "log") == 0) {
    log_path = nbdkit_absolute_path (value);
    return log_path ? 0 : -1;
  }
  if (strcmp (key, "fail-total") == 0)
    return nbdkit_parse_unsigned (key, value, &fail_total);
  if (strcmp (key, "fail-after-open") == 0)
    return nbdkit_parse_unsigned (key, value, &fail_after_open);
  if (strcmp (key, "delay-ms") == 0)
    return nbdkit_parse_unsigned (key, value, &delay_ms);
  if (strcmp (key, "error") == 0) {
    if (strcmp (value, "EIO") == 0)
      error = EIO;
    else if (strcmp (value, "ENOSPC") == 0)
      error = ENOSPC;
    else {
      nbdkit_error ("error: unknown value %s", value);
      return -1;
    }
    return 0;
  }
  nbdkit_error ("unknown parameter %s", key);
  return -1;
}

static int
tr_get_ready (void)
{
  if (log_path == NULL) {
    nbdkit_error ("log=PATH is required");
    return -1;
  }
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd == -1) {
    nbdkit_error ("%s: %m", log_path);
    return -1;
  }
  return 0;
}

static void
tr_unload (void)
{
  if (log_fd >= 0)
    close (log_fd);
  free (log_path);
}

static void
log_line (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
log_line (const char *fmt, ...)
{
  char line[128];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line - 1, fmt, ap);
  va_end (ap);
  if (n < 0 || (size_t) n > sizeof line - 2)
    abort ();
  line[n++] = '\n';
  if (write (log_fd, line, n) != n)
    abort ();
}

static void *
tr_open (int readonly)
{
  struct handle *h = calloc (1, sizeof *h);

  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  h->readonly = readonly;
  log_line ("open readonly=%d", readonly);
  return h;
}

static void
tr_close (void *handle)
{
  log_line ("close");
  free (handle);
}

static int64_t
tr_get_size (void *h)
{
  return SIZE;
}

static int
tr_can_write (void *handle)
{
  struct handle *h = handle;
  return !h->readonly;
}

static int
tr_one (void *h)
{
  return 1;
}

/* delay-ms: the call takes that long, counted as in progress meanwhile. */
static void
take_time (void)
{
  struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
  unsigned high = 0;

  if (delay_ms == 0)
    return;
  pthread_mutex_lock (&lock);
  if (++inflight > inflight_max)
    high = inflight_max = inflight;
  pthread_mutex_unlock (&lock);
  if (high)
    log_line ("inflight %u", high);
  nanosleep (&ts, NULL);
  pthread_mutex_lock (&lock);
  inflight--;
  pthread_mutex_unlock (&lock);
}

/* Decides whether this data call fails, and logs it. */
static bool
fails (struct handle *h, const char *op)
{
  static unsigned total;
  bool f;

  take_time ();
  pthread_mutex_lock (&lock);
  f = total < fail_total || h->calls < fail_after_open;
  total++;
  h->calls++;
  pthread_mutex_unlock (&lock);
  log_line ("%s %s", op, f ? "fail" : "ok");
  if (f) {
    nbdkit_error ("test-retry-plugin: %s fails on purpose", op);
    nbdkit_set_error (error);
  }
  return f;
}

static int
tr_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  if (fails (h, "pread"))
    return -1;
  pthread_mutex_lock (&lock);
  memcpy (buf, disk + offset, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
tr_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  if (fails (h, "pwrite"))
    return -1;
  pthread_mutex_lock (&lock);
  memcpy (disk + offset, buf, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
tr_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (fails (h, "zero"))
    return -1;
  pthread_mutex_lock (&lock);
  memset (disk + offset, 0, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
tr_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return fails (h, "trim") ? -1 : 0;
}

static int
tr_flush (void *h, uint32_t flags)
{
  return fails (h, "flush") ? -1 : 0;
}

static int
tr_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  if (fails (h, "extents"))
    return -1;
  return nbdkit_add_extent (extents, offset, count, 0);
}

static struct nbdkit_plugin plugin = {
  .name              = "testretry",
  .config            = tr_config,
  .get_ready         = tr_get_ready,
  .unload            = tr_unload,
  .open              = tr_open,
  .close             = tr_close,
  .get_size          = tr_get_size,
  .can_write         = tr_can_write,
  .can_flush         = tr_one,
  .can_trim          = tr_one,
  .can_zero          = tr_one,
  .can_extents       = tr_one,
  .pread             = tr_pread,
  .pwrite            = tr_pwrite,
  .zero              = tr_zero,
  .trim              = tr_trim,
  .flush             = tr_flush,
  .extents           = tr_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
