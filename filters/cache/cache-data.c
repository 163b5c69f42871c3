/* blockkit: the cache filter's data paths.
 *
 * Every change to a cached block (its state or its bytes) is made holding
 * that block's lock, and so is every read of a cached block (eviction
 * could otherwise drop it in the middle).  Runs of blocks that are not in
 * the cache, when reads do not fill it, are read from below in one call
 * without locks: their truth is below, and a block only leaves the cache
 * after its dirty data has been written back there.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "blkstore.h"
#include "cache.h"
#include "cleanup.h"
#include "minmax.h"

/* A block-sized scratch buffer, allocated on first need. */
static char *
scratch (char **block, int *err)
{
  if (*block == NULL) {
    *block = malloc (cache_block_size);
    if (*block == NULL) {
      nbdkit_error ("cache: malloc: %m");
      *err = ENOMEM;
    }
  }
  return *block;
}

/* How many bytes of block BLK hold data (the export may end inside it). */
static uint32_t
data_in_block (uint64_t size, uint64_t blk)
{
  uint64_t start = blk * cache_block_size;

  if (start >= size)
    return 0;
  return MIN ((uint64_t) cache_block_size, size - start);
}

static int
read_below (nbdkit_next *next, const struct cache_handle *h, uint64_t blk,
            char *block, int *err)
{
  uint32_t n = data_in_block (h->size, blk);

  if (n > 0 && next->pread (next, block, n, blk * cache_block_size, 0,
                            err) == -1)
    return -1;
  memset (block + n, 0, cache_block_size - n);
  return 0;
}

int
cache_writeback_locked (nbdkit_next *next, uint64_t blk, uint32_t flags,
                        int *err)
{
  CLEANUP_FREE char *block = NULL;
  uint32_t n = data_in_block (blkstore_size (cache_store), blk);

  if (scratch (&block, err) == NULL)
    return -1;
  if (blkstore_read (cache_store, blk, block) == -1) {
    *err = errno;
    return -1;
  }
  if (n > 0 && next->pwrite (next, block, n, blk * cache_block_size, flags,
                             err) == -1)
    return -1;
  blkstore_set (cache_store, blk, CACHE_CLEAN);
  return 0;
}

/* With BLK's lock held, BLK absent: puts BLOCK into the cache in STATE.
 * Returns 1 if it did, 0 if there was no room (eviction failed: the
 * caller decides whether that matters), -1 on a store error.
 */
static int
add_locked (nbdkit_next *next, uint64_t blk, const char *block,
            unsigned state, int *err)
{
  int evict_err;

  if (cache_evict_make_room (next, blk, &evict_err) == -1) {
    nbdkit_debug ("cache: no room for block %" PRIu64 " (eviction "
                  "failed: %s)", blk, strerror (evict_err));
    *err = evict_err;
    return 0;
  }
  if (blkstore_write (cache_store, blk, block) == -1) {
    *err = errno;
    return -1;
  }
  blkstore_set (cache_store, blk, state);
  cache_evict_added (blk);
  return 1;
}

/* With BLK's lock held: copies the N bytes at BLKOFF of block BLK into P,
 * from the cache or from below, filling the cache if FILL.
 */
static int
read_block_locked (nbdkit_next *next, const struct cache_handle *h,
                   uint64_t blk, uint32_t blkoff, uint32_t n, char *p,
                   bool fill, char **block, int *err)
{
  if (blkstore_get (cache_store, blk) != CACHE_ABSENT) {
    if (blkstore_read_part (cache_store, blk, p, n, blkoff) == -1) {
      *err = errno;
      return -1;
    }
    cache_evict_touch (blk);
    return 0;
  }
  if (!fill)
    return next->pread (next, p, n, blk * cache_block_size + blkoff, 0,
                        err);
  if (scratch (block, err) == NULL ||
      read_below (next, h, blk, *block, err) == -1)
    return -1;
  memcpy (p, *block + blkoff, n);
  /* No room is no reason to fail a read: the data is right anyway. */
  return add_locked (next, blk, *block, CACHE_CLEAN, err) == -1 ? -1 : 0;
}

/* At most this much is read from below in one go to fill the cache, and
 * at most a quarter of the block locks are held meanwhile, so that other
 * requests mostly go on.
 */
#define MAX_RUN_BYTES (4 * 1024 * 1024)
#define MAX_RUN_BLOCKS (BLKSTORE_MAX_LOCK_RANGE / 4)

/* Fills the cache with the blocks from BLK on that are not in it (up to
 * LAST_BLK), with one read from below, and copies the COUNT bytes at
 * BLKOFF in that run into P (unless P is NULL).  The run's locks are held
 * throughout, so nothing can change below those blocks between the read
 * and the moment they enter the cache.  Sets *DONE to how many bytes from
 * BLKOFF on it dealt with.
 */
static int
fill_run (nbdkit_next *next, const struct cache_handle *h, uint64_t blk,
          uint64_t last_blk, uint32_t blkoff, uint32_t count, char *p,
          uint32_t *done, char **block, int *err)
{
  uint32_t max = MIN ((uint32_t) MAX_RUN_BLOCKS,
                      (uint32_t) (MAX_RUN_BYTES / cache_block_size));
  uint32_t nb;
  uint32_t k, i;
  uint32_t n = MIN (cache_block_size - blkoff, count);
  CLEANUP_FREE char *run = NULL;
  int r = 0;

  if (max == 0)
    max = 1;                    /* blocks larger than MAX_RUN_BYTES */
  nb = MIN (last_blk - blk + 1, (uint64_t) max);
  blkstore_lock_range (cache_store, blk, nb);
  for (k = 0; k < nb; ++k)
    if (blkstore_get (cache_store, blk + k) != CACHE_ABSENT)
      break;
  if (k == 0) {
    /* Someone cached it meanwhile. */
    if (p)
      r = read_block_locked (next, h, blk, blkoff, n, p, true, block, err);
    goto out;
  }

  run = malloc ((size_t) k * cache_block_size);
  if (run == NULL) {
    nbdkit_error ("cache: malloc: %m");
    *err = ENOMEM;
    r = -1;
    goto out;
  }
  {
    uint64_t start = blk * cache_block_size;
    uint64_t len = h->size > start ?
      MIN ((uint64_t) k * cache_block_size, h->size - start) : 0;

    if (len > 0 && next->pread (next, run, len, start, 0, err) == -1) {
      r = -1;
      goto out;
    }
    memset (run + len, 0, (size_t) k * cache_block_size - len);
  }
  for (i = 0; i < k; ++i) {
    /* No room is no reason to fail: the data is right anyway. */
    if (add_locked (next, blk + i, run + (size_t) i * cache_block_size,
                    CACHE_CLEAN, err) == -1) {
      r = -1;
      goto out;
    }
  }
  n = MIN ((uint64_t) k * cache_block_size - blkoff, (uint64_t) count);
  if (p)
    memcpy (p, run + blkoff, n);

 out:
  blkstore_unlock_range (cache_store, blk, nb);
  *done = n;
  return r;
}

int
cache_read (nbdkit_next *next, struct cache_handle *h, void *buf,
            uint32_t count, uint64_t offset, int *err)
{
  CLEANUP_FREE char *block = NULL;
  const bool fill = blk_trigger_active (&cache_on_read);
  const uint64_t last_blk = (offset + count - 1) / cache_block_size;
  char *p = buf;

  while (count > 0) {
    uint64_t blk = offset / cache_block_size;
    uint32_t blkoff = offset % cache_block_size;
    uint32_t n = MIN (cache_block_size - blkoff, count);
    int r = 0;

    if (blkstore_get (cache_store, blk) != CACHE_ABSENT) {
      blkstore_lock (cache_store, blk);
      r = read_block_locked (next, h, blk, blkoff, n, p, fill, &block, err);
      blkstore_unlock (cache_store, blk);
    }
    else if (fill)
      r = fill_run (next, h, blk, last_blk, blkoff, count, p, &n, &block,
                    err);
    else {
      /* A run of blocks not in the cache is one read below. */
      while (n < count &&
             blkstore_get (cache_store, (offset + n) / cache_block_size) ==
             CACHE_ABSENT)
        n += MIN (cache_block_size, count - n);
      r = next->pread (next, p, n, offset, 0, err);
    }
    if (r == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* With BLK's lock held, in writeback or unsafe mode: writes N bytes of P
 * (NULL: zeroes) at BLKOFF into block BLK, which becomes dirty.
 */
static int
write_back_block_locked (nbdkit_next *next, const struct cache_handle *h,
                         uint64_t blk, uint32_t blkoff, uint32_t n,
                         const char *p, uint32_t flags, char **block,
                         int *err)
{
  unsigned state = blkstore_get (cache_store, blk);
  bool whole = blkoff == 0 && n >= data_in_block (h->size, blk);
  int r;

  if (state != CACHE_ABSENT) {
    if (p == NULL && whole)
      r = blkstore_zero (cache_store, blk);
    else if (p == NULL) {
      if (scratch (block, err) == NULL)
        return -1;
      memset (*block, 0, n);
      r = blkstore_write_part (cache_store, blk, *block, n, blkoff);
    }
    else
      r = blkstore_write_part (cache_store, blk, p, n, blkoff);
    if (r == -1) {
      *err = errno;
      return -1;
    }
    blkstore_set (cache_store, blk, CACHE_DIRTY);
    cache_evict_touch (blk);
  }
  else {
    /* Build the whole block: the rest of it comes from below. */
    if (scratch (block, err) == NULL)
      return -1;
    if (whole)
      memset (*block, 0, cache_block_size);
    else if (read_below (next, h, blk, *block, err) == -1)
      return -1;
    if (p)
      memcpy (*block + blkoff, p, n);
    else
      memset (*block + blkoff, 0, n);
    r = add_locked (next, blk, *block, CACHE_DIRTY, err);
    if (r == 0) {
      /* No room, and eviction failed: write this block through rather
       * than fail the write.
       */
      uint32_t len = data_in_block (h->size, blk);

      return next->pwrite (next, *block, len, blk * cache_block_size,
                           flags, err);
    }
    if (r == -1)
      return -1;
  }
  if ((flags & NBDKIT_FLAG_FUA) && cache_mode == CACHE_MODE_WRITEBACK)
    return cache_writeback_locked (next, blk, NBDKIT_FLAG_FUA, err);
  return 0;
}

/* With BLK's lock held, in writethrough mode, after the data went below:
 * brings a cached copy up to date, or caches a block written whole.
 */
static int
write_through_block_locked (nbdkit_next *next, const struct cache_handle *h,
                            uint64_t blk, uint32_t blkoff, uint32_t n,
                            const char *p, char **block, int *err)
{
  bool whole = blkoff == 0 && n >= data_in_block (h->size, blk);
  int r;

  if (blkstore_get (cache_store, blk) != CACHE_ABSENT) {
    if (p == NULL && whole)
      r = blkstore_zero (cache_store, blk);
    else if (p == NULL) {
      if (scratch (block, err) == NULL)
        return -1;
      memset (*block, 0, n);
      r = blkstore_write_part (cache_store, blk, *block, n, blkoff);
    }
    else
      r = blkstore_write_part (cache_store, blk, p, n, blkoff);
    if (r == -1) {
      *err = errno;
      return -1;
    }
    cache_evict_touch (blk);
    return 0;
  }
  if (!whole || p == NULL)
    return 0;                   /* not worth a read from below */
  if (n == cache_block_size)
    return add_locked (next, blk, p, CACHE_CLEAN, err) == -1 ? -1 : 0;
  if (scratch (block, err) == NULL)
    return -1;
  memset (*block, 0, cache_block_size);
  memcpy (*block, p, n);
  return add_locked (next, blk, *block, CACHE_CLEAN, err) == -1 ? -1 : 0;
}

/* Writes BUF (NULL: zeroes) block by block in the cache. */
static int
write_blocks (nbdkit_next *next, struct cache_handle *h, const char *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  CLEANUP_FREE char *block = NULL;
  const bool through = cache_mode == CACHE_MODE_WRITETHROUGH;

  while (count > 0) {
    uint64_t blk = offset / cache_block_size;
    uint32_t blkoff = offset % cache_block_size;
    uint32_t n = MIN (cache_block_size - blkoff, count);
    int r;

    blkstore_lock (cache_store, blk);
    if (through)
      r = write_through_block_locked (next, h, blk, blkoff, n, buf,
                                      &block, err);
    else
      r = write_back_block_locked (next, h, blk, blkoff, n, buf, flags,
                                   &block, err);
    blkstore_unlock (cache_store, blk);
    if (r == -1)
      return -1;
    if (buf)
      buf += n;
    offset += n;
    count -= n;
  }
  return 0;
}

int
cache_write (nbdkit_next *next, struct cache_handle *h, const void *buf,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (cache_mode == CACHE_MODE_UNSAFE)
    flags &= ~NBDKIT_FLAG_FUA;  /* promised, never kept: see can_fua */
  /* Writethrough: below first, so the cache never holds what below
   * refused; the cache is updated after, block by block under locks.
   */
  if (cache_mode == CACHE_MODE_WRITETHROUGH &&
      next->pwrite (next, buf, count, offset, flags, err) == -1)
    return -1;
  return write_blocks (next, h, buf, count, offset, flags, err);
}

int
cache_zero (nbdkit_next *next, struct cache_handle *h, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  if (cache_mode == CACHE_MODE_UNSAFE)
    flags &= ~NBDKIT_FLAG_FUA;
  if (cache_mode == CACHE_MODE_WRITETHROUGH &&
      next->zero (next, count, offset, flags, err) == -1)
    return -1;
  return write_blocks (next, h, NULL, count, offset,
                       flags & NBDKIT_FLAG_FUA, err);
}

int
cache_trim (nbdkit_next *next, struct cache_handle *h, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  /* Only whole blocks are trimmed: a cached block then either has all
   * its old data or none, and reads of it stay stable.
   */
  uint64_t end = offset + count;
  uint64_t start = ROUND_UP (offset, (uint64_t) cache_block_size);
  uint64_t blk;

  if (cache_mode == CACHE_MODE_UNSAFE)
    flags &= ~NBDKIT_FLAG_FUA;
  if (end != h->size)
    end = ROUND_DOWN (end, (uint64_t) cache_block_size);
  if (end <= start)
    return 0;
  if (next->trim (next, end - start, start, flags, err) == -1)
    return -1;
  /* Then drop the cached copies, dirty ones too: trimmed data may read
   * as anything, and what below now says is as good as the old data.
   */
  for (blk = start / cache_block_size; blk * cache_block_size < end; ++blk) {
    blkstore_lock (cache_store, blk);
    if (blkstore_get (cache_store, blk) != CACHE_ABSENT) {
      blkstore_set (cache_store, blk, CACHE_ABSENT);
      blkstore_discard (cache_store, blk);
    }
    blkstore_unlock (cache_store, blk);
  }
  return 0;
}

int
cache_fill (nbdkit_next *next, struct cache_handle *h, uint32_t count,
            uint64_t offset, int *err)
{
  CLEANUP_FREE char *block = NULL;
  uint64_t last_blk;

  if (count == 0)
    return 0;
  last_blk = (offset + count - 1) / cache_block_size;
  while (count > 0) {
    uint64_t blk = offset / cache_block_size;
    uint32_t blkoff = offset % cache_block_size;
    uint32_t n = MIN (cache_block_size - blkoff, count);

    if (blkstore_get (cache_store, blk) == CACHE_ABSENT &&
        fill_run (next, h, blk, last_blk, blkoff, count, NULL, &n, &block,
                  err) == -1)
      return -1;
    offset += n;
    count -= n;
  }
  return 0;
}

int
cache_writeback_all (nbdkit_next *next, int *err)
{
  uint64_t blk, nblocks = blkstore_nblocks (cache_store);

  for (blk = 0; blk < nblocks; ++blk) {
    int r = 0;

    if (blkstore_count (cache_store, CACHE_DIRTY) == 0)
      break;
    if (blkstore_get (cache_store, blk) != CACHE_DIRTY)
      continue;
    blkstore_lock (cache_store, blk);
    if (blkstore_get (cache_store, blk) == CACHE_DIRTY)
      r = cache_writeback_locked (next, blk, 0, err);
    blkstore_unlock (cache_store, blk);
    if (r == -1)
      return -1;
  }
  return 0;
}
