/* A test plugin for blockkit's test suite (test-fallbacks.sh): a RAM disk
 * whose optional features are switched on and off by configuration keys,
 * and which logs every data callback the server makes, so that a test
 * can check how the plugin layer emulates what the plugin lacks.
 *
 *   size=SIZE                      disk size (default 1M)
 *   log=PATH                       the log file (required)
 *   zero=native|none|eopnotsupp    .can_zero true / false (server emulates
 *                                  with pwrite) / .zero fails EOPNOTSUPP
 *   fua=native|emulate|none        what .can_fua returns
 *   flush=yes|no                   what .can_flush returns
 *   trim=yes|no|eopnotsupp         .can_trim true / false / .trim fails
 *                                  with EOPNOTSUPP
 *   cache=native|emulate|none      what .can_cache returns
 *
 * The callbacks all exist whatever the keys say: a "no" only changes the
 * answer of the matching can_* callback, so a call the server should not
 * have made shows up in the log.
 *
 * One line per data callback is appended to the log, each with a single
 * write(2) on an O_APPEND descriptor so that lines from parallel requests
 * never interleave:
 *   pread COUNT OFFSET
 *   pwrite COUNT OFFSET fua=F data=zero|nonzero
 *   zero COUNT OFFSET fua=F may_trim=M fast=Z
 *   trim COUNT OFFSET fua=F
 *   flush
 *   cache COUNT OFFSET
 * (A version 1 build, see test-fallback-v1-plugin.c, logs fua=0 and
 * fast=0 always, since version 1 callbacks get no flags.)
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#ifndef NBDKIT_API_VERSION
#define NBDKIT_API_VERSION 2
#endif
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#ifndef FALLBACK_PLUGIN_NAME
#define FALLBACK_PLUGIN_NAME "testfallback"
#endif

enum { NATIVE, EMULATE, NONE, EOPNOTSUPP_ };

static int64_t size = 1024 * 1024;
static char *log_path;
static int log_fd = -1;
static int zero_mode = NATIVE;   /* NATIVE, NONE, EOPNOTSUPP_ */
static int fua_mode = EMULATE;   /* NATIVE, EMULATE, NONE */
static int flush_mode = 1;
static int trim_mode = NATIVE;   /* NATIVE (yes), NONE (no), EOPNOTSUPP_ */
static int cache_mode = NONE;    /* NATIVE, EMULATE, NONE */
static unsigned char *disk;

static int
parse_mode (const char *key, const char *value, int *r, ...)
{
  /* The variadic list is pairs of (name, mode), ending with NULL. */
  va_list ap;
  const char *name;

  va_start (ap, r);
  while ((name = va_arg (ap, const char *)) != NULL) {
    int mode = va_arg (ap, int);
    if (strcmp (value, name) == 0) {
      *r = mode;
      va_end (ap);
      return 0;
    }
  }
  va_end (ap);
  nbdkit_error ("%s: unknown value '%s'", key, value);
  return -1;
}

static int
fb_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    if (size == -1)
      return -1;
    return 0;
  }
  if (strcmp (key, "log") == 0) {
    free (log_path);
    log_path = nbdkit_absolute_path (value);
    return log_path ? 0 : -1;
  }
  if (strcmp (key, "zero") == 0)
    return parse_mode (key, value, &zero_mode, "native", NATIVE,
                       "none", NONE, "eopnotsupp", EOPNOTSUPP_, NULL);
  if (strcmp (key, "fua") == 0)
    return parse_mode (key, value, &fua_mode, "native", NATIVE,
                       "emulate", EMULATE, "none", NONE, NULL);
  if (strcmp (key, "flush") == 0)
    return parse_mode (key, value, &flush_mode, "yes", 1, "no", 0, NULL);
  if (strcmp (key, "trim") == 0)
    return parse_mode (key, value, &trim_mode, "yes", NATIVE,
                       "no", NONE, "eopnotsupp", EOPNOTSUPP_, NULL);
  if (strcmp (key, "cache") == 0)
    return parse_mode (key, value, &cache_mode, "native", NATIVE,
                       "emulate", EMULATE, "none", NONE, NULL);
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

static int
fb_config_complete (void)
{
  if (log_path == NULL) {
    nbdkit_error ("the log=PATH parameter is required");
    return -1;
  }
  if (size < 0 || size > INT64_C (1) << 30) {
    nbdkit_error ("size must be between 0 and 1G");
    return -1;
  }
  return 0;
}

#define fb_config_help \
  "log=PATH (required)  size=SIZE  zero=native|none|eopnotsupp\n" \
  "fua=native|emulate|none  flush=yes|no  trim=yes|no|eopnotsupp\n" \
  "cache=native|emulate|none"

static int
fb_get_ready (void)
{
  disk = calloc (1, size ? size : 1);
  if (disk == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd == -1) {
    nbdkit_error ("open: %s: %m", log_path);
    return -1;
  }
  return 0;
}

static void
fb_unload (void)
{
  if (log_fd >= 0)
    close (log_fd);
  free (disk);
  free (log_path);
}

static void
log_line (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
log_line (const char *fmt, ...)
{
  char line[256];
  va_list ap;
  int n;
  int saved_errno = errno;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  if ((size_t) n > sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';
  /* One write(2) per line: O_APPEND makes it atomic with respect to the
   * other threads' lines.
   */
  if (write (log_fd, line, n) != n)
    abort ();
  errno = saved_errno;
}

/* A request outside the disk must never reach a plugin. */
static void
check_range (const char *what, uint32_t count, uint64_t offset)
{
  if (offset > (uint64_t) size || count > (uint64_t) size - offset) {
    nbdkit_error ("%s: out of range request reached the plugin: "
                  "count=%" PRIu32 " offset=%" PRIu64, what, count, offset);
    abort ();
  }
}

static int the_handle;

static void *
fb_open (int readonly)
{
  return &the_handle;
}

static int64_t
fb_get_size (void *handle)
{
  return size;
}

static int
fb_can_write (void *handle)
{
  return 1;
}

static int
fb_can_flush (void *handle)
{
  return flush_mode;
}

static int
fb_can_trim (void *handle)
{
  return trim_mode != NONE;
}

static int
fb_can_zero (void *handle)
{
  return zero_mode != NONE;
}

static int
fb_can_fua (void *handle)
{
  switch (fua_mode) {
  case NATIVE: return NBDKIT_FUA_NATIVE;
  case EMULATE: return NBDKIT_FUA_EMULATE;
  default: return NBDKIT_FUA_NONE;
  }
}

static int
fb_can_cache (void *handle)
{
  switch (cache_mode) {
  case NATIVE: return NBDKIT_CACHE_NATIVE;
  case EMULATE: return NBDKIT_CACHE_EMULATE;
  default: return NBDKIT_CACHE_NONE;
  }
}

static bool
all_zero (const unsigned char *buf, uint32_t count)
{
  uint32_t i;

  for (i = 0; i < count; i++)
    if (buf[i])
      return false;
  return true;
}

/* The data callbacks, written once for both API versions. */
#if NBDKIT_API_VERSION == 1
#define FLAGS_PARAM
#define FLAGS 0
#else
#define FLAGS_PARAM , uint32_t flags
#define FLAGS flags
#endif
#define FUA_OF(f) (!!((f) & NBDKIT_FLAG_FUA))

static int
fb_pread (void *handle, void *buf, uint32_t count, uint64_t offset
          FLAGS_PARAM)
{
  check_range ("pread", count, offset);
  log_line ("pread %" PRIu32 " %" PRIu64, count, offset);
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
fb_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset
           FLAGS_PARAM)
{
  check_range ("pwrite", count, offset);
  log_line ("pwrite %" PRIu32 " %" PRIu64 " fua=%d data=%s",
            count, offset, FUA_OF (FLAGS),
            all_zero (buf, count) ? "zero" : "nonzero");
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
fb_flush (void *handle FLAGS_PARAM)
{
  log_line ("flush");
  return 0;
}

static int
fb_trim (void *handle, uint32_t count, uint64_t offset FLAGS_PARAM)
{
  check_range ("trim", count, offset);
  log_line ("trim %" PRIu32 " %" PRIu64 " fua=%d",
            count, offset, FUA_OF (FLAGS));
  if (trim_mode == EOPNOTSUPP_) {
    nbdkit_set_error (EOPNOTSUPP);
    return -1;
  }
  memset (disk + offset, 0, count);
  return 0;
}

#if NBDKIT_API_VERSION == 1
static int
fb_zero (void *handle, uint32_t count, uint64_t offset, int may_trim)
{
  const uint32_t flags = may_trim ? NBDKIT_FLAG_MAY_TRIM : 0;
#else
static int
fb_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
#endif
  check_range ("zero", count, offset);
  log_line ("zero %" PRIu32 " %" PRIu64 " fua=%d may_trim=%d fast=%d",
            count, offset, FUA_OF (flags),
            !!(flags & NBDKIT_FLAG_MAY_TRIM),
            !!(flags & NBDKIT_FLAG_FAST_ZERO));
  if (zero_mode == EOPNOTSUPP_) {
    nbdkit_set_error (EOPNOTSUPP);
    return -1;
  }
  memset (disk + offset, 0, count);
  return 0;
}

static int
fb_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  check_range ("cache", count, offset);
  log_line ("cache %" PRIu32 " %" PRIu64, count, offset);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = FALLBACK_PLUGIN_NAME,
  .version           = "1.0",
  .config            = fb_config,
  .config_complete   = fb_config_complete,
  .config_help       = fb_config_help,
  .get_ready         = fb_get_ready,
  .unload            = fb_unload,
  .open              = fb_open,
  .get_size          = fb_get_size,
  .can_write         = fb_can_write,
  .can_flush         = fb_can_flush,
  .can_trim          = fb_can_trim,
  .can_zero          = fb_can_zero,
  .can_fua           = fb_can_fua,
  .can_cache         = fb_can_cache,
  .pread             = fb_pread,
  .pwrite            = fb_pwrite,
  .flush             = fb_flush,
  .trim              = fb_trim,
  .zero              = fb_zero,
  .cache             = fb_cache,
};

NBDKIT_REGISTER_PLUGIN (plugin)
