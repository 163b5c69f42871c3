/* blockkit: the cache filter's shared state (see cache.c). */
#ifndef BLOCKKIT_CACHE_H
#define BLOCKKIT_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "blkstore.h"
#include "trigger.h"

/* What the cache holds of a block. */
enum {
  CACHE_ABSENT = 0,             /* nothing: the block is only below */
  CACHE_CLEAN = 1,              /* a copy of what is below */
  CACHE_DIRTY = 2,              /* newer than below: must be written back */
};

enum cache_mode {
  CACHE_MODE_WRITEBACK,         /* writes wait in the cache until flush */
  CACHE_MODE_WRITETHROUGH,      /* writes go below at once */
  CACHE_MODE_UNSAFE,            /* as writeback, but flush and FUA ignored */
};

/* Configuration, and the one cache all connections share. */
extern enum cache_mode cache_mode;
extern uint32_t cache_block_size;
extern uint64_t cache_max_blocks;       /* 0: no limit */
extern struct blk_trigger cache_on_read;
extern struct blkstore *cache_store;

/* Per connection: what the layer below told us in .prepare. */
struct cache_handle {
  uint64_t size;
  int below_can_flush;
  int below_can_zero;
};

/* The data paths (cache-data.c).  Each returns 0, or -1 with *err set. */
extern int cache_read (nbdkit_next *next, struct cache_handle *h, void *buf,
                       uint32_t count, uint64_t offset, int *err);
extern int cache_write (nbdkit_next *next, struct cache_handle *h,
                        const void *buf, uint32_t count, uint64_t offset,
                        uint32_t flags, int *err);
extern int cache_zero (nbdkit_next *next, struct cache_handle *h,
                       uint32_t count, uint64_t offset, uint32_t flags,
                       int *err);
extern int cache_trim (nbdkit_next *next, struct cache_handle *h,
                       uint32_t count, uint64_t offset, uint32_t flags,
                       int *err);
/* Reads the blocks of the range into the cache (a CACHE request). */
extern int cache_fill (nbdkit_next *next, struct cache_handle *h,
                       uint32_t count, uint64_t offset, int *err);
/* Writes every dirty block back below. */
extern int cache_writeback_all (nbdkit_next *next, int *err);
/* With BLK's lock held: writes dirty block BLK below (with FLAGS) and
 * marks it clean.
 */
extern int cache_writeback_locked (nbdkit_next *next, uint64_t blk,
                                   uint32_t flags, int *err);

/* Eviction (cache-evict.c): a clock over the blocks in the cache, which
 * gives recently used blocks a second chance.  All do nothing when there
 * is no cache-max-size.
 */
extern int cache_evict_grow (uint64_t nblocks);
extern void cache_evict_free (void);
/* BLK was used, or has just entered the cache. */
extern void cache_evict_touch (uint64_t blk);
extern void cache_evict_added (uint64_t blk);
/* Called holding HELD's lock, before a block enters the cache: evicts
 * blocks (writing dirty ones back through NEXT) until there is room.
 * The limit is soft: blocks whose locks are busy are passed over, and
 * when nothing can be evicted the cache grows past the limit for a
 * while.  Returns -1 with *err set if writing a dirty block back failed.
 */
extern int cache_evict_make_room (nbdkit_next *next, uint64_t held,
                                  int *err);

#endif /* BLOCKKIT_CACHE_H */
