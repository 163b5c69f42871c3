/* A test plugin for the offset filter's tests: a RAM disk WITHOUT a zero
 * callback (so the server emulates zero with this plugin's pwrite), which
 * logs every pwrite it gets as "pwrite COUNT OFFSET" to log=PATH and
 * aborts on a request outside the disk.
 *
 *   size=SIZE   disk size (default 1M, at most 64M)
 *   log=PATH    the log file (required)
 */
#include <config.h>

#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

static int64_t size = 1024 * 1024;
static char *log_path;
static int log_fd = -1;
static unsigned char *disk;

static int
nz_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    return size == -1 ? -1 : 0;
  }
  if (strcmp (key, "log") == 0) {
    free (log_path);
    log_path = nbdkit_absolute_path (value);
    return log_path ? 0 : -1;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

static int
nz_get_ready (void)
{
  if (log_path == NULL || size <= 0 || size > 64 * 1024 * 1024) {
    nbdkit_error ("log=PATH is required and size must be 1..64M");
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
nz_unload (void)
{
  if (log_fd >= 0)
    close (log_fd);
  free (disk);
  free (log_path);
}

static int the_handle;

static void *
nz_open (int readonly)
{
  return &the_handle;
}

static int64_t
nz_get_size (void *handle)
{
  return size;
}

static void
check_range (uint32_t count, uint64_t offset)
{
  if (offset > (uint64_t) size || count > (uint64_t) size - offset) {
    nbdkit_error ("out of range request reached the plugin: count=%" PRIu32
                  " offset=%" PRIu64, count, offset);
    abort ();
  }
}

static int
nz_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  check_range (count, offset);
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
nz_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  char line[64];
  int n;

  check_range (count, offset);
  memcpy (disk + offset, buf, count);
  /* One write(2) per line on O_APPEND: lines never interleave. */
  n = snprintf (line, sizeof line, "pwrite %" PRIu32 " %" PRIu64 "\n",
                count, offset);
  if (write (log_fd, line, n) != n)
    abort ();
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name            = "testoffset",
  .config          = nz_config,
  .config_help     = "log=PATH (required)  size=SIZE",
  .get_ready       = nz_get_ready,
  .unload          = nz_unload,
  .open            = nz_open,
  .get_size        = nz_get_size,
  .pread           = nz_pread,
  .pwrite          = nz_pwrite,
};

NBDKIT_REGISTER_PLUGIN (plugin)
