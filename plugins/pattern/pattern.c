/* blockkit: the pattern plugin, a read-only disk in which every
 * 8-byte aligned word holds its own offset as a big-endian 64-bit
 * number.  Reading anywhere tells you where you read from, which is
 * what libnbd's and qemu's tests look for.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <endian.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

static int64_t size = 0;                /* size=, default 0 */

static int
pattern_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1) {
      nbdkit_error ("pattern: could not parse size=%s", value);
      return -1;
    }
    size = r;
  }
  else {
    nbdkit_error ("pattern: unknown parameter '%s=%s'", key, value);
    return -1;
  }
  return 0;
}

#define pattern_config_help \
  "[size=]SIZE                 Size of the disk (default: 0)."

static int handle;

static void *
pattern_open (int readonly)
{
  return &handle;
}

static int64_t
pattern_get_size (void *h)
{
  return size;
}

static int
pattern_zero_fn (void *h)
{
  return 0;
}

static int
pattern_one (void *h)
{
  return 1;
}

static int
pattern_can_cache (void *h)
{
  return NBDKIT_CACHE_NATIVE;   /* computed, so "caching" is free */
}

static int
pattern_pread (void *h, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  unsigned char *p = buf;
  uint64_t word, be;
  uint32_t skip, n;

  /* Unaligned head: part of the word containing OFFSET. */
  skip = offset & 7;
  if (skip) {
    word = offset & ~UINT64_C (7);
    be = htobe64 (word);
    n = 8 - skip;
    if (n > count)
      n = count;
    memcpy (p, (unsigned char *) &be + skip, n);
    p += n;
    offset += n;
    count -= n;
  }

  /* Whole words. */
  while (count >= 8) {
    be = htobe64 (offset);
    memcpy (p, &be, 8);
    p += 8;
    offset += 8;
    count -= 8;
  }

  /* Tail. */
  if (count > 0) {
    be = htobe64 (offset);
    memcpy (p, &be, count);
  }
  return 0;
}

static int
pattern_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
pattern_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *extents)
{
  /* All data, none of it zero (except the very first word). */
  return nbdkit_add_extent (extents, offset, count, 0);
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "pattern",
  .longname          = "blockkit pattern plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "A read-only disk where each 8-byte word holds "
                       "its own offset (big-endian)",
  .config            = pattern_config,
  .config_help       = pattern_config_help,
  .magic_config_key  = "size",
  .open              = pattern_open,
  .get_size          = pattern_get_size,
  .can_write         = pattern_zero_fn,
  .can_multi_conn    = pattern_one,
  .can_extents       = pattern_one,
  .can_cache         = pattern_can_cache,
  .pread             = pattern_pread,
  .cache             = pattern_cache,
  .extents           = pattern_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
