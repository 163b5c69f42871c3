/* A test plugin for the blocksize filter's tests: a RAM disk that
 * advertises block size limits and refuses to be sent anything else.
 *
 *   size=SIZE        disk size (default 16M, at most 256M)
 *   minimum=SIZE     advertised minimum block size (default 512)
 *   maximum=SIZE     advertised maximum (default 64K); the plugin holds
 *                    every request to it, trim and zero included
 *   log=PATH         every request as "OP COUNT OFFSET" (required)
 *   rdelay=USEC      sleep this long in each read after reading, to widen
 *                    race windows
 *
 * A request that is misaligned or larger than the maximum is logged as
 * "BAD OP COUNT OFFSET" and then the plugin aborts, so a test notices
 * both from the log and from the dead server.
 */
#include <config.h>

#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

static int64_t size = 16 * 1024 * 1024;
static uint32_t minimum = 512, maximum = 64 * 1024;
static unsigned rdelay;
static char *log_path;
static int log_fd = -1;
static unsigned char *disk;

static int
st_config (const char *key, const char *value)
{
  int64_t v;

  if (strcmp (key, "log") == 0) {
    free (log_path);
    log_path = nbdkit_absolute_path (value);
    return log_path ? 0 : -1;
  }
  if (strcmp (key, "rdelay") == 0)
    return nbdkit_parse_unsigned ("rdelay", value, &rdelay);
  v = nbdkit_parse_size (value);
  if (v == -1)
    return -1;
  if (strcmp (key, "size") == 0)
    size = v;
  else if (strcmp (key, "minimum") == 0)
    minimum = v;
  else if (strcmp (key, "maximum") == 0)
    maximum = v;
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int
st_get_ready (void)
{
  if (log_path == NULL || size <= 0 || size > 256 * 1024 * 1024) {
    nbdkit_error ("log=PATH is required and size must be 1..256M");
    return -1;
  }
  disk = calloc (1, size);
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (disk == NULL || log_fd == -1) {
    nbdkit_error ("setup: %m");
    return -1;
  }
  return 0;
}

static void
st_unload (void)
{
  if (log_fd >= 0)
    close (log_fd);
  free (disk);
  free (log_path);
}

static int the_handle;

static void *
st_open (int readonly)
{
  return &the_handle;
}

static int64_t
st_get_size (void *handle)
{
  return size;
}

static int
st_block_size (void *handle, uint32_t *min, uint32_t *pref, uint32_t *max)
{
  *min = minimum;
  *pref = minimum > 4096 ? minimum : 4096;
  *max = maximum;
  return 0;
}

/* Logs the request (one write(2) on O_APPEND, so lines never mix) and
 * aborts if it breaks the advertised limits.
 */
static void
check (const char *op, uint32_t count, uint64_t offset)
{
  char line[80];
  int n;
  int bad = count % minimum || offset % minimum || count > maximum ||
    offset > (uint64_t) size || count > (uint64_t) size - offset;

  n = snprintf (line, sizeof line, "%s%s %" PRIu32 " %" PRIu64 "\n",
                bad ? "BAD " : "", op, count, offset);
  if (write (log_fd, line, n) != n || bad)
    abort ();
}

static int
st_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  check ("pread", count, offset);
  memcpy (buf, disk + offset, count);
  /* Sleep after copying: the caller then holds data that a concurrent
   * write may already have made stale, which is the window a
   * read-modify-write must protect.
   */
  if (rdelay) {
    struct timespec ts = { rdelay / 1000000, rdelay % 1000000 * 1000L };
    nanosleep (&ts, NULL);
  }
  return 0;
}

static int
st_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  check ("pwrite", count, offset);
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
st_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  check ("zero", count, offset);
  memset (disk + offset, 0, count);
  return 0;
}

static int
st_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  check ("trim", count, offset);
  memset (disk + offset, 0, count);
  return 0;
}

static int
st_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  check ("cache", count, offset);
  return 0;
}

static int
st_flush (void *handle, uint32_t flags)
{
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name            = "teststrict",
  .config          = st_config,
  .config_help     = "log=PATH (required)  size=  minimum=  maximum=  rdelay=",
  .get_ready       = st_get_ready,
  .unload          = st_unload,
  .open            = st_open,
  .get_size        = st_get_size,
  .block_size      = st_block_size,
  .pread           = st_pread,
  .pwrite          = st_pwrite,
  .zero            = st_zero,
  .trim            = st_trim,
  .cache           = st_cache,
  .flush           = st_flush,
};

NBDKIT_REGISTER_PLUGIN (plugin)
