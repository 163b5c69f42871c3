/* blockkit: the cache filter, a local cache of the layer below.
 *
 * Blocks read (cache-on-read), written, or named in CACHE requests are
 * kept in a block store (an unlinked temporary file, see
 * common/blkstore/).  In writeback mode writes stay in the cache, marked
 * dirty, until a flush or FUA write (or the block's eviction, or the
 * client's disconnect) writes them back; writethrough writes below at
 * once; unsafe is writeback that ignores flush and FUA.  With
 * cache-max-size, blocks are evicted (clock / second chance, dirty ones
 * written back first) to keep the cache near that size.  One cache serves
 * every client connection.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "blkextents.h"
#include "blkstore.h"
#include "cache.h"
#include "trigger.h"
#include "filter-handle.h"

enum cache_mode cache_mode = CACHE_MODE_WRITEBACK;
/* 64K: a good unit for reads from a slow layer below, and a small map. */
uint32_t cache_block_size = 65536;
uint64_t cache_max_blocks;
/* A cache that does not keep what is read surprises people: on. */
struct blk_trigger cache_on_read = { .on = true };
struct blkstore *cache_store;

static int64_t cache_max_size;  /* 0: no limit */

static void
cache_unload (void)
{
  blkstore_free (cache_store);
  cache_evict_free ();
  blk_trigger_free (&cache_on_read);
}

static int
cache_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "cache") == 0) {
    if (strcmp (value, "writeback") == 0)
      cache_mode = CACHE_MODE_WRITEBACK;
    else if (strcmp (value, "writethrough") == 0)
      cache_mode = CACHE_MODE_WRITETHROUGH;
    else if (strcmp (value, "unsafe") == 0)
      cache_mode = CACHE_MODE_UNSAFE;
    else {
      nbdkit_error ("cache=%s: expected writeback, writethrough or unsafe",
                    value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "cache-on-read") == 0)
    return blk_trigger_parse (key, value, &cache_on_read);
  if (strcmp (key, "cache-max-size") == 0) {
    cache_max_size = nbdkit_parse_size (value);
    if (cache_max_size == -1) {
      nbdkit_error ("cache-max-size=%s: not a size", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "cache-min-block-size") == 0)
    return blkstore_parse_block_size (key, value, &cache_block_size);
  return next (nxdata, key, value);
}

static int
cache_config_complete (nbdkit_next_config_complete *next,
                       nbdkit_backend *nxdata)
{
  if (cache_max_size > 0) {
    if ((uint64_t) cache_max_size < cache_block_size) {
      nbdkit_error ("cache-max-size=%" PRIi64 ": smaller than one cache "
                    "block (%" PRIu32 " bytes, see cache-min-block-size)",
                    cache_max_size, cache_block_size);
      return -1;
    }
    cache_max_blocks = cache_max_size / cache_block_size;
  }
  return next (nxdata);
}

#define cache_config_help \
  "cache=writeback|writethrough|unsafe  How writes are cached (default\n" \
  "                              writeback).\n" \
  "cache-on-read=BOOL|/PATH      Keep what is read (default true; with a\n" \
  "                              path: only while that file exists).\n" \
  "cache-max-size=SIZE           Evict blocks to stay within SIZE.\n" \
  "cache-min-block-size=SIZE     Cache block size (power of 2, default 64K)."

/* Before the server forks or serves anyone: a missing or read-only
 * $TMPDIR stops it at once.
 */
static int
cache_get_ready (int thread_model)
{
  cache_store = blkstore_new ("cache", cache_block_size);
  return cache_store ? 0 : -1;
}

static void *
cache_open (nbdkit_next_open *next, nbdkit_context *context,
            int readonly, const char *exportname, int is_tls)
{
  return filter_handle_open (next, context, readonly, exportname,
                             sizeof (struct cache_handle));
}

static int
cache_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct cache_handle *h = handle;
  int64_t size = next->get_size (next);

  if (size == -1)
    return -1;
  h->size = size;
  if (blkstore_set_size (cache_store, size) == -1 ||
      cache_evict_grow (blkstore_nblocks (cache_store)) == -1)
    return -1;
  if ((h->below_can_flush = next->can_flush (next)) == -1)
    return -1;
  if ((h->below_can_zero = next->can_zero (next)) == -1)
    return -1;
  return 0;
}

/* Nothing written is lost on a clean disconnect, even without a flush
 * (and even in unsafe mode): what is dirty goes below now.
 */
static int
cache_finalize (nbdkit_next *next, void *handle)
{
  int err = 0;

  if (cache_mode == CACHE_MODE_WRITETHROUGH)
    return 0;
  if (cache_writeback_all (next, &err) == -1) {
    nbdkit_error ("cache: writing dirty blocks back at disconnect: %s",
                  strerror (err));
    return -1;
  }
  return 0;
}

/* The capability answers follow from where a write is when it is
 * acknowledged (blockkit-cache-filter(1), "CAPABILITIES", has the same
 * reasoning for users):
 *
 * writethrough: below, through this connection's context, before the
 *   reply.  So flush, FUA, fast zero and multi-conn are exactly what the
 *   layer below offers.
 * writeback: in the cache, shared by all connections, until written
 *   back.  Flush is always possible (it writes every dirty block back,
 *   then flushes below if below can), so FUA is too (emulated by flush
 *   when below has none).  Zero is a write into the cache, never faster
 *   than writing zeroes, so a fast zero fails at once with ENOTSUP (as
 *   nbdkit's cache filter does).  Multi-conn is only what below offers:
 *   dirty blocks go below through whichever connection evicts them or
 *   disconnects, without a flush there, and blocks not in the cache are
 *   read through the reader's own context, so a flush on one connection
 *   covers everything only if below is itself multi-conn consistent.
 * unsafe: as writeback, but flush and FUA are accepted and ignored, and
 *   multi-conn is advertised: the user has given up durability, and all
 *   connections see one cache.
 */
static int
cache_can_flush (nbdkit_next *next, void *handle)
{
  struct cache_handle *h = handle;

  if (cache_mode != CACHE_MODE_WRITETHROUGH)
    return 1;
  return h->below_can_flush;
}

static int
cache_can_fua (nbdkit_next *next, void *handle)
{
  int r;

  if (cache_mode == CACHE_MODE_UNSAFE)
    return NBDKIT_FUA_NATIVE;   /* accepted and ignored */
  r = next->can_fua (next);
  if (r == NBDKIT_FUA_NONE && cache_mode == CACHE_MODE_WRITEBACK)
    return NBDKIT_FUA_EMULATE;  /* write, then our flush */
  return r;
}

static int
cache_can_multi_conn (nbdkit_next *next, void *handle)
{
  if (cache_mode == CACHE_MODE_UNSAFE)
    return 1;
  return next->can_multi_conn (next);
}

static int
cache_can_zero (nbdkit_next *next, void *handle)
{
  struct cache_handle *h = handle;

  /* Writethrough zeroes below, so it needs below's zero; if there is
   * none, this layer's writes of zeroes do it.
   */
  if (cache_mode == CACHE_MODE_WRITETHROUGH &&
      h->below_can_zero == NBDKIT_ZERO_NONE)
    return NBDKIT_ZERO_EMULATE;
  return NBDKIT_ZERO_NATIVE;
}

static int
cache_can_fast_zero (nbdkit_next *next, void *handle)
{
  struct cache_handle *h = handle;

  if (cache_mode == CACHE_MODE_WRITETHROUGH) {
    if (h->below_can_zero == NBDKIT_ZERO_NONE)
      return 0;
    return next->can_fast_zero (next);
  }
  /* Advertised so that a client asking for a fast zero learns at once
   * that there is none (see cache_zero_cb).
   */
  return 1;
}

static int
cache_can_cache (nbdkit_next *next, void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
cache_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  return cache_read (next, handle, buf, count, offset, err);
}

static int
cache_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  return cache_write (next, handle, buf, count, offset, flags, err);
}

static int
cache_zero_cb (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  /* Writeback zeroes in the cache: a write, so never fast.  Writethrough
   * passes the flag below with the zero.
   */
  if ((flags & NBDKIT_FLAG_FAST_ZERO) &&
      cache_mode != CACHE_MODE_WRITETHROUGH) {
    *err = ENOTSUP;
    return -1;
  }
  return cache_zero (next, handle, count, offset, flags, err);
}

static int
cache_trim_cb (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  return cache_trim (next, handle, count, offset, flags, err);
}

static int
cache_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  struct cache_handle *h = handle;

  switch (cache_mode) {
  case CACHE_MODE_UNSAFE:
    return 0;
  case CACHE_MODE_WRITEBACK:
    if (cache_writeback_all (next, err) == -1)
      return -1;
    break;
  case CACHE_MODE_WRITETHROUGH:
    break;
  }
  if (h->below_can_flush)
    return next->flush (next, flags, err);
  return 0;
}

static int
cache_extents (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags,
               struct nbdkit_extents *extents, int *err)
{
  /* Dirty blocks are data, whatever below still says about them. */
  static const int types[4] = {
    [CACHE_ABSENT] = BLKSTORE_ASK_BELOW,
    [CACHE_CLEAN] = BLKSTORE_ASK_BELOW,
    [CACHE_DIRTY] = 0,
    [3] = BLKSTORE_ASK_BELOW,
  };

  if (blkstore_count (cache_store, CACHE_DIRTY) == 0)
    return next->extents (next, count, offset, flags, extents, err);
  return blkstore_extents (cache_store, next, true, types, count, offset,
                           flags, extents, err);
}

static int
cache_cache (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  return cache_fill (next, handle, count, offset, err);
}

static struct nbdkit_filter filter = {
  .name = "cache",
  .longname = "blockkit cache filter",
  .description = "A local cache of the layer below (writeback, "
  "writethrough or unsafe), with an optional size limit.",
  .unload = cache_unload,
  .config = cache_config,
  .config_complete = cache_config_complete,
  .config_help = cache_config_help,
  .get_ready = cache_get_ready,
  .open = cache_open,
  .close = free,   /* the handle is one flat struct */
  .prepare = cache_prepare,
  .finalize = cache_finalize,
  .can_flush = cache_can_flush,
  .can_fua = cache_can_fua,
  .can_multi_conn = cache_can_multi_conn,
  .can_zero = cache_can_zero,
  .can_fast_zero = cache_can_fast_zero,
  .can_cache = cache_can_cache,
  .pread = cache_pread,
  .pwrite = cache_pwrite,
  .zero = cache_zero_cb,
  .trim = cache_trim_cb,
  .flush = cache_flush,
  .extents = cache_extents,
  .cache = cache_cache,
};

NBDKIT_REGISTER_FILTER (filter)
