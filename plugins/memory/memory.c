/* blockkit: the memory plugin, a RAM disk.
 *
 * All connections share one allocator (common/sparse/allocator.h:
 * allocator=sparse, the default, malloc[,mlock=true] or zstd), so the
 * disk lives as long as the server and every client sees the same data.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "sparse.h"
#include "allocator.h"

static int64_t size = -1;               /* size=, required */
static char *allocator_spec;            /* allocator=, default sparse */
static struct allocator *a;

static void
memory_unload (void)
{
  if (a)
    a->f->free (a);
  a = NULL;
  free (allocator_spec);
}

static int
memory_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1) {
      nbdkit_error ("memory: could not parse size=%s", value);
      return -1;
    }
    if (r < 0) {
      nbdkit_error ("memory: size=%s must not be negative", value);
      return -1;
    }
    size = r;
  }
  else if (strcmp (key, "allocator") == 0) {
    /* Checked in config_complete, where the allocator is made. */
    free (allocator_spec);
    allocator_spec = strdup (value);
    if (allocator_spec == NULL) {
      nbdkit_error ("memory: strdup: %m");
      return -1;
    }
  }
  else {
    nbdkit_error ("memory: unknown parameter '%s=%s'", key, value);
    return -1;
  }
  return 0;
}

/* Large payloads go straight between the socket and the pages
 * (nbdkit_set_direct_ops): the modes are the sparse array's own.
 */
#if NBDKIT_DIRECT_READ != SPARSE_MAP_READ || \
  NBDKIT_DIRECT_WRITE != SPARSE_MAP_WRITE || \
  NBDKIT_DIRECT_WRITE_ALLOC != SPARSE_MAP_WRITE_ALLOC
#error "direct modes differ from the sparse array's"
#endif

static int64_t
memory_direct_map (uint64_t offset, uint64_t count, int mode,
                   struct iovec *iov, int *iovcnt)
{
  return a->f->map (a, offset, count, mode, iov, iovcnt);
}

static void
memory_direct_unmap (void)
{
  a->f->unmap (a);
}

static const struct nbdkit_direct_ops direct_ops = {
  .map = memory_direct_map,
  .unmap = memory_direct_unmap,
};

static int
memory_config_complete (void)
{
  if (size == -1) {
    nbdkit_error ("memory: you must give the size, as size=SIZE "
                  "(or just SIZE), for example: blockkit memory 1G");
    return -1;
  }

  a = allocator_create (allocator_spec ? allocator_spec : "sparse");
  if (a == NULL)
    return -1;
  /* allocator=malloc takes (and, with mlock, locks) the RAM now. */
  if (a->f->set_size_hint (a, size) == -1)
    return -1;
  if (a->f->map)
    nbdkit_set_direct_ops (&direct_ops);
  return 0;
}

#define memory_config_help \
  "[size=]SIZE                 (required) Size of the RAM disk, eg. 1G.\n" \
  "allocator=sparse|malloc[,mlock=true]|zstd\n" \
  "                            How the disk is kept in RAM (default:\n" \
  "                            sparse)."

static void
memory_dump_plugin (void)
{
  printf ("memory_page_size=%" PRIu64 "\n", (uint64_t) SPARSE_PAGE_SIZE);
  printf ("memory_max_size=%" PRIi64 "\n", (int64_t) SPARSE_MAX_SIZE);
  /* The keys nbdkit prints, which scripts test for. */
  printf ("mlock=yes\n");
  printf ("zstd=%s\n", allocator_have_zstd () ? "yes" : "no");
}

/* There is no per-connection state; the handle only has to be non-NULL. */
static int handle;

static void *
memory_open (int readonly)
{
  return &handle;
}

static int64_t
memory_get_size (void *h)
{
  return size;
}

static int
memory_can_multi_conn (void *h)
{
  return 1;                     /* all connections share the same RAM */
}

static int
memory_can_fua (void *h)
{
  return NBDKIT_FUA_NATIVE;     /* writes are "persistent" at once */
}

static int
memory_can_zero (void *h)
{
  return NBDKIT_ZERO_NATIVE;
}

static int
memory_can_fast_zero (void *h)
{
  return 1;
}

static int
memory_can_trim (void *h)
{
  return 1;
}

static int
memory_can_flush (void *h)
{
  return 1;
}

static int
memory_can_extents (void *h)
{
  return 1;
}

static int
memory_can_cache (void *h)
{
  return NBDKIT_CACHE_NATIVE;   /* already in RAM: nothing to do */
}

static int
memory_pread (void *h, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  return a->f->read (a, buf, count, offset);
}

static int
memory_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  /* A client writing zeroes over unwritten space keeps it sparse. */
  return a->f->write (a, buf, count, offset, true);
}

static int
memory_flush (void *h, uint32_t flags)
{
  return 0;
}

static int
memory_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  /* Zeroing always frees memory where it can; it is always fast. */
  return a->f->zero (a, count, offset);
}

static int
memory_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return a->f->zero (a, count, offset);
}

static int
memory_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
memory_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
               struct nbdkit_extents *extents)
{
  return allocator_plugin_extents (a, count, offset, flags, extents);
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "memory",
  .longname          = "blockkit memory plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "A RAM disk (sparse up to 2^63-1 bytes, flat, "
                       "or compressed)",
  .unload            = memory_unload,
  .config            = memory_config,
  .config_complete   = memory_config_complete,
  .config_help       = memory_config_help,
  .magic_config_key  = "size",
  .dump_plugin       = memory_dump_plugin,
  .open              = memory_open,
  .get_size          = memory_get_size,
  .can_multi_conn    = memory_can_multi_conn,
  .can_fua           = memory_can_fua,
  .can_zero          = memory_can_zero,
  .can_fast_zero     = memory_can_fast_zero,
  .can_trim          = memory_can_trim,
  .can_flush         = memory_can_flush,
  .can_extents       = memory_can_extents,
  .can_cache         = memory_can_cache,
  .pread             = memory_pread,
  .pwrite            = memory_pwrite,
  .flush             = memory_flush,
  .zero              = memory_zero,
  .trim              = memory_trim,
  .cache             = memory_cache,
  .extents           = memory_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
