/* blockkit: the cow filter, a private writable overlay.
 *
 * The layer below is opened read-only and never written.  Writes, zeroes
 * and trims land in an overlay (a block store in an unlinked temporary
 * file, see common/blkstore/), reads come from the overlay where it has
 * the block and from below otherwise.  One overlay serves every client
 * connection, so all clients see each other's writes.  It is temporary:
 * everything written is lost when the server exits, which is why flush
 * and FUA have nothing to do.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "blkextents.h"
#include "blkstore.h"
#include "cow.h"
#include "trigger.h"
#include "filter-handle.h"

/* 64K: large enough that the map and the per-block locking cost little,
 * small enough that a 4K write copies up little from below.
 */
uint32_t cow_block_size = 65536;
bool cow_on_cache;
struct blk_trigger cow_on_read;
struct blkstore *cow_store;

static void
cow_unload (void)
{
  blkstore_free (cow_store);
  blk_trigger_free (&cow_on_read);
}

static int
cow_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
            const char *key, const char *value)
{
  int r;

  if (strcmp (key, "cow-block-size") == 0)
    return blkstore_parse_block_size (key, value, &cow_block_size);
  if (strcmp (key, "cow-on-cache") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1) {
      nbdkit_error ("cow-on-cache=%s: expected a boolean", value);
      return -1;
    }
    cow_on_cache = r;
    return 0;
  }
  if (strcmp (key, "cow-on-read") == 0)
    return blk_trigger_parse (key, value, &cow_on_read);
  return next (nxdata, key, value);
}

#define cow_config_help \
  "cow-block-size=SIZE      Overlay block size (power of 2, default 64K).\n" \
  "cow-on-cache=BOOL        Copy blocks into the overlay on CACHE requests.\n" \
  "cow-on-read=BOOL|/PATH   Copy blocks into the overlay when read\n" \
  "                         (with a path: only while that file exists)."

/* The store is made before the server forks or serves anyone, so a
 * missing or read-only $TMPDIR stops the server at once.
 */
static int
cow_get_ready (int thread_model)
{
  cow_store = blkstore_new ("cow", cow_block_size);
  return cow_store ? 0 : -1;
}

static void *
cow_open (nbdkit_next_open *next, nbdkit_context *context,
          int readonly, const char *exportname, int is_tls)
{
  /* Below is only ever read: open it read-only, whatever the client. */
  return filter_handle_open (next, context, 1, exportname,
                             sizeof (struct cow_handle));
}

static int
cow_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct cow_handle *h = handle;
  int64_t size = next->get_size (next);
  int r;

  if (size == -1)
    return -1;
  h->size = size;
  if (blkstore_set_size (cow_store, size) == -1)
    return -1;
  if ((r = next->can_extents (next)) == -1)
    return -1;
  h->below_can_extents = r;
  if ((h->below_can_cache = next->can_cache (next)) == -1)
    return -1;
  return 0;
}

/* The overlay makes anything writable, and does all of these itself. */
static int
cow_yes (nbdkit_next *next, void *handle)
{
  return 1;
}

static int
cow_can_zero (nbdkit_next *next, void *handle)
{
  return NBDKIT_ZERO_NATIVE;
}

/* FUA has nothing to reach: the overlay is not persistent. */
static int
cow_can_fua (nbdkit_next *next, void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
cow_can_cache (nbdkit_next *next, void *handle)
{
  struct cow_handle *h = handle;

  if (cow_on_cache)
    return NBDKIT_CACHE_NATIVE;
  return h->below_can_cache;
}

static int
cow_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  return cow_read (next, handle, buf, count, offset, err);
}

static int
cow_pwrite (nbdkit_next *next, void *handle, const void *buf,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  return cow_write (next, handle, buf, count, offset, err);
}

static int
cow_zero_cb (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  return cow_zero (next, handle, count, offset, false, err);
}

static int
cow_trim (nbdkit_next *next, void *handle, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  return cow_zero (next, handle, count, offset, true, err);
}

static int
cow_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  return 0;
}

static int
cow_extents (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags,
             struct nbdkit_extents *extents, int *err)
{
  static const int types[4] = {
    [COW_ABSENT] = BLKSTORE_ASK_BELOW,
    [COW_DATA] = 0,
    [COW_ZERO] = NBDKIT_EXTENT_ZERO,
    [COW_TRIMMED] = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO,
  };
  struct cow_handle *h = handle;

  return blkstore_extents (cow_store, next, h->below_can_extents, types,
                           count, offset, flags, extents, err);
}

static int
cow_cache (nbdkit_next *next, void *handle, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  struct cow_handle *h = handle;

  if (cow_on_cache)
    return cow_copy_up (next, h, count, offset, err);
  return next->cache (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "cow",
  .longname = "blockkit copy-on-write filter",
  .description = "A private writable overlay over a read-only layer below; "
  "changes are lost when the server exits.",
  .unload = cow_unload,
  .config = cow_config,
  .config_help = cow_config_help,
  .get_ready = cow_get_ready,
  .open = cow_open,
  .close = free,   /* the handle is one flat struct */
  .prepare = cow_prepare,
  .can_write = cow_yes,
  .can_flush = cow_yes,
  .can_trim = cow_yes,
  .can_zero = cow_can_zero,
  .can_fast_zero = cow_yes,
  .can_extents = cow_yes,
  .can_fua = cow_can_fua,
  .can_multi_conn = cow_yes,
  .can_cache = cow_can_cache,
  .pread = cow_pread,
  .pwrite = cow_pwrite,
  .zero = cow_zero_cb,
  .trim = cow_trim,
  .flush = cow_flush,
  .extents = cow_extents,
  .cache = cow_cache,
};

NBDKIT_REGISTER_FILTER (filter)
