/* blockkit: block status through a filter that shifts offsets.
 *
 * The layer below fills a list in its own coordinates; the client's list
 * is in ours.  A separate list is needed because extents lists only
 * accept ascending, contiguous extents inside their own range.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "extents-shift.h"

int
extents_shift (nbdkit_next *next, uint32_t count, uint64_t offs,
               uint64_t shift, uint32_t flags,
               struct nbdkit_extents *extents, int *err)
{
  struct nbdkit_extents *below;
  size_t i, n;
  int r = 0;

  below = nbdkit_extents_new (offs + shift, offs + shift + count);
  if (below == NULL) {
    *err = errno ? errno : ENOMEM;
    return -1;
  }
  if (next->extents (next, count, offs + shift, flags, below, err) == -1) {
    nbdkit_extents_free (below);
    return -1;
  }
  n = nbdkit_extents_count (below);
  for (i = 0; i < n; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (below, i);

    if (nbdkit_add_extent (extents, e.offset - shift, e.length,
                           e.type) == -1) {
      *err = errno ? errno : EIO;
      r = -1;
      break;
    }
  }
  nbdkit_extents_free (below);
  return r;
}
