/* blockkit: block status over a block store.
 *
 * A filter that keeps some blocks itself (cow: the overlay; cache: dirty
 * blocks) answers block status by walking its map: each state maps to an
 * extent type, or to BLKSTORE_ASK_BELOW for blocks whose truth is the
 * layer below.
 */
#ifndef BLOCKKIT_BLKEXTENTS_H
#define BLOCKKIT_BLKEXTENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "blkstore.h"

#define BLKSTORE_ASK_BELOW (-1)

/* Fills EXTENTS for [OFFSET, OFFSET+COUNT).  TYPES[state] is the extent
 * type to report for a block in that state, or BLKSTORE_ASK_BELOW: then
 * NEXT is asked (or, when BELOW_HAS_EXTENTS is false, the block is
 * reported as data).  Honours NBDKIT_FLAG_REQ_ONE.  Returns 0, or -1
 * with *ERR set.
 */
extern int blkstore_extents (struct blkstore *bs, nbdkit_next *next,
                             bool below_has_extents, const int types[4],
                             uint32_t count, uint64_t offset, uint32_t flags,
                             struct nbdkit_extents *extents, int *err);

#endif /* BLOCKKIT_BLKEXTENTS_H */
