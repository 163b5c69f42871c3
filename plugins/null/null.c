/* blockkit: the null plugin, a disk that reads as zeroes and discards
 * whatever is written to it.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

static int64_t size = 0;                /* size=, default 0 */

static int
null_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1) {
      nbdkit_error ("null: could not parse size=%s", value);
      return -1;
    }
    size = r;
  }
  else {
    nbdkit_error ("null: unknown parameter '%s=%s'", key, value);
    return -1;
  }
  return 0;
}

#define null_config_help \
  "[size=]SIZE                 Size of the disk (default: 0)."

/* No per-connection state; the handle only has to be non-NULL. */
static int handle;

static void *
null_open (int readonly)
{
  return &handle;
}

static int64_t
null_get_size (void *h)
{
  return size;
}

static int
null_one (void *h)
{
  return 1;
}

static int
null_can_zero (void *h)
{
  return NBDKIT_ZERO_NATIVE;
}

static int
null_can_fua (void *h)
{
  return NBDKIT_FUA_NATIVE;
}

static int
null_can_cache (void *h)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
null_pread (void *h, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  memset (buf, 0, count);
  return 0;
}

static int
null_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  return 0;
}

static int
null_flush (void *h, uint32_t flags)
{
  return 0;
}

static int
null_trim_zero_cache (void *h, uint32_t count, uint64_t offset,
                      uint32_t flags)
{
  return 0;
}

static int
null_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  /* The whole disk is one hole that reads as zeroes. */
  return nbdkit_add_extent (extents, offset, count,
                            NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "null",
  .longname          = "blockkit null plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "A disk that reads as zeroes and discards writes",
  .config            = null_config,
  .config_help       = null_config_help,
  .magic_config_key  = "size",
  .open              = null_open,
  .get_size          = null_get_size,
  .can_write         = null_one,
  .can_flush         = null_one,
  .can_trim          = null_one,
  .can_extents       = null_one,
  .can_multi_conn    = null_one,
  .can_fast_zero     = null_one,
  .can_zero          = null_can_zero,
  .can_fua           = null_can_fua,
  .can_cache         = null_can_cache,
  .pread             = null_pread,
  .pwrite            = null_pwrite,
  .flush             = null_flush,
  .trim              = null_trim_zero_cache,
  .zero              = null_trim_zero_cache,
  .cache             = null_trim_zero_cache,
  .extents           = null_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
