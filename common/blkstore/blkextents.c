/* blockkit: block status over a block store (see blkextents.h). */
#include <config.h>

#include <errno.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "blkextents.h"
#include "blkstore.h"
#include "minmax.h"

int
blkstore_extents (struct blkstore *bs, nbdkit_next *next,
                  bool below_has_extents, const int types[4],
                  uint32_t count, uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents, int *err)
{
  const uint64_t blksize = blkstore_block_size (bs);
  const uint64_t end = offset + count;
  uint64_t pos = offset;

  while (pos < end) {
    int type = types[blkstore_get (bs, pos / blksize)];
    uint64_t run_end = MIN (ROUND_DOWN (pos, blksize) + blksize, end);

    /* Extend the run over following blocks of the same kind, so the layer
     * below is asked once per run, not once per block.
     */
    while (run_end < end && types[blkstore_get (bs, run_end / blksize)] == type)
      run_end = MIN (run_end + blksize, end);

    if (type == BLKSTORE_ASK_BELOW && below_has_extents) {
      if (nbdkit_extents_full (next, run_end - pos, pos, flags, extents,
                               err) == -1)
        return -1;
    }
    else {
      if (type == BLKSTORE_ASK_BELOW)
        type = 0;               /* the layer below cannot say: data */
      if (nbdkit_add_extent (extents, pos, run_end - pos, type) == -1) {
        *err = errno ? errno : EINVAL;
        return -1;
      }
    }
    if (flags & NBDKIT_FLAG_REQ_ONE)
      break;
    pos = run_end;
  }
  return 0;
}
