/* blockkit: a growable map of 2-bit block states (see blkmap.h). */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blkmap.h"

#define PER_BYTE 4

int
blkmap_grow (struct blkmap *m, uint64_t nblocks)
{
  uint64_t old_bytes = (m->nblocks + PER_BYTE - 1) / PER_BYTE;
  uint64_t new_bytes = (nblocks + PER_BYTE - 1) / PER_BYTE;
  uint8_t *p;

  if (nblocks <= m->nblocks)
    return 0;
  if (new_bytes > SIZE_MAX) {
    errno = ENOMEM;
    return -1;
  }
  if (new_bytes > old_bytes) {
    p = realloc (m->bits, new_bytes);
    if (p == NULL)
      return -1;
    memset (p + old_bytes, 0, new_bytes - old_bytes);
    m->bits = p;
  }
  /* Blocks beyond the old end were counted nowhere; they start in 0.
   * (Spare bits in the old last byte are always 0.)
   */
  m->count[0] += nblocks - m->nblocks;
  m->nblocks = nblocks;
  return 0;
}

unsigned
blkmap_get (const struct blkmap *m, uint64_t blk)
{
  if (blk >= m->nblocks)
    return 0;
  return (m->bits[blk / PER_BYTE] >> (2 * (blk % PER_BYTE))) & 3;
}

void
blkmap_set (struct blkmap *m, uint64_t blk, unsigned state)
{
  unsigned shift = 2 * (blk % PER_BYTE);
  uint8_t *byte;
  unsigned old;

  assert (blk < m->nblocks);
  assert (state < 4);
  byte = &m->bits[blk / PER_BYTE];
  old = (*byte >> shift) & 3;
  *byte = (uint8_t) ((*byte & ~(3u << shift)) | (state << shift));
  m->count[old]--;
  m->count[state]++;
}

void
blkmap_free (struct blkmap *m)
{
  free (m->bits);
  memset (m, 0, sizeof *m);
}
