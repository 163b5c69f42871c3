/* blockkit: a growable map of 2-bit block states.
 *
 * Each block of an export has one of four states (0..3); what they mean
 * is up to the user (the cow filter: absent/data/zero/trimmed; the cache
 * filter: absent/clean/dirty).  Blocks past the end of the map are in
 * state 0, so a map starts empty and only grows.  Not thread-safe by
 * itself: struct blkstore wraps it with a lock.
 */
#ifndef BLOCKKIT_BLKMAP_H
#define BLOCKKIT_BLKMAP_H

#include <stddef.h>
#include <stdint.h>

struct blkmap {
  uint8_t *bits;                /* 4 blocks per byte, 2 bits each */
  uint64_t nblocks;             /* blocks covered by bits */
  uint64_t count[4];            /* how many blocks are in each state */
};

/* Grows the map to cover at least NBLOCKS blocks (new ones in state 0).
 * Returns 0, or -1 with errno set.
 */
extern int blkmap_grow (struct blkmap *m, uint64_t nblocks);
extern unsigned blkmap_get (const struct blkmap *m, uint64_t blk);
/* BLK must be below m->nblocks. */
extern void blkmap_set (struct blkmap *m, uint64_t blk, unsigned state);
extern void blkmap_free (struct blkmap *m);

#endif /* BLOCKKIT_BLKMAP_H */
