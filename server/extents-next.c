/* blockkit: extents helpers for filters (nbdkit_extents_full and
 * nbdkit_extents_aligned), built only on the public extents API and the
 * next context's operations.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "minmax.h"

/* Appends every extent of FROM to TO.  Returns the end of the last one. */
static int
append_all (struct nbdkit_extents *to, const struct nbdkit_extents *from,
            uint64_t *end, int *err)
{
  size_t i, n = nbdkit_extents_count (from);

  for (i = 0; i < n; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (from, i);

    if (nbdkit_add_extent (to, e.offset, e.length, e.type) == -1) {
      *err = errno ? errno : EINVAL;
      return -1;
    }
    *end = e.offset + e.length;
  }
  return 0;
}

int
nbdkit_extents_full (nbdkit_next *next, uint32_t count, uint64_t offset,
                     uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  uint64_t end = offset + count;
  uint64_t pos = offset;

  flags &= ~NBDKIT_FLAG_REQ_ONE;
  while (pos < end) {
    struct nbdkit_extents *part = nbdkit_extents_new (pos, end);
    uint64_t reached = pos;

    if (part == NULL) {
      *err = errno ? errno : ENOMEM;
      return -1;
    }
    if (next->extents (next, end - pos, pos, flags, part, err) == -1 ||
        append_all (extents, part, &reached, err) == -1) {
      nbdkit_extents_free (part);
      return -1;
    }
    nbdkit_extents_free (part);
    /* A layer that made no progress would loop forever. */
    if (reached <= pos) {
      nbdkit_error ("nbdkit_extents_full: the layer below returned no "
                    "extent at offset %" PRIu64, pos);
      *err = EIO;
      return -1;
    }
    pos = reached;
  }
  return 0;
}

int
nbdkit_extents_aligned (nbdkit_next *next, uint32_t count, uint64_t offset,
                        uint32_t flags, uint32_t align,
                        struct nbdkit_extents *extents, int *err)
{
  uint64_t start, end, pos;
  int64_t size;
  struct nbdkit_extents *all;
  size_t i, n;
  uint32_t block_type = 0;
  uint64_t block_start = 0;
  bool in_block = false;

  if (align == 0 || !is_power_of_2 (align)) {
    nbdkit_error ("nbdkit_extents_aligned: alignment %" PRIu32
                  " is not a power of 2", align);
    *err = EINVAL;
    return -1;
  }
  size = next->get_size (next);
  if (size == -1) {
    *err = EIO;
    return -1;
  }
  start = ROUND_DOWN (offset, (uint64_t) align);
  end = ROUND_UP (offset + count, (uint64_t) align);
  /* An export whose size is not a multiple of ALIGN ends in a partial
   * block: never ask beyond it.
   */
  if (end > (uint64_t) size)
    end = size;
  if (end - start > UINT32_MAX)
    end = start + ROUND_DOWN ((uint64_t) UINT32_MAX, (uint64_t) align);

  all = nbdkit_extents_new (start, end);
  if (all == NULL) {
    *err = errno ? errno : ENOMEM;
    return -1;
  }
  if (nbdkit_extents_full (next, end - start, start, flags, all, err) == -1) {
    nbdkit_extents_free (all);
    return -1;
  }

  /* Whole aligned stretches pass through; an aligned block made of
   * several extents becomes one extent whose type is what all its parts
   * share (so any data in it makes it data).
   */
  n = nbdkit_extents_count (all);
  for (i = 0; i < n; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (all, i);
    uint64_t e_end = e.offset + e.length;

    pos = e.offset;
    while (pos < e_end) {
      if (!in_block && IS_ALIGNED (pos, align) && e_end - pos >= align) {
        uint64_t len = ROUND_DOWN (e_end - pos, (uint64_t) align);
        if (nbdkit_add_extent (extents, pos, len, e.type) == -1)
          goto fail;
        pos += len;
        continue;
      }
      if (!in_block) {
        in_block = true;
        block_start = ROUND_DOWN (pos, (uint64_t) align);
        block_type = e.type;
      }
      else
        block_type &= e.type;
      {
        uint64_t block_end = block_start + align;
        uint64_t upto = MIN (e_end, block_end);
        pos = upto;
        if (upto == block_end) {
          if (nbdkit_add_extent (extents, block_start, align,
                                 block_type) == -1)
            goto fail;
          in_block = false;
        }
      }
    }
  }
  /* The end is aligned (or the export ends here): flush a partial block. */
  if (in_block &&
      nbdkit_add_extent (extents, block_start, pos - block_start,
                         block_type) == -1)
    goto fail;
  nbdkit_extents_free (all);
  return 0;

 fail:
  *err = errno ? errno : EINVAL;
  nbdkit_extents_free (all);
  return -1;
}
