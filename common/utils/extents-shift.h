/* blockkit: block status through a filter that shifts offsets. */
#ifndef BLOCKKIT_EXTENTS_SHIFT_H
#define BLOCKKIT_EXTENTS_SHIFT_H

#include <stdint.h>

#include <nbdkit-filter.h>

/* Asks NEXT for the extents of [offs+shift, offs+shift+count) and adds
 * them to EXTENTS (which covers [offs, offs+count)) shifted back down.
 * Returns 0, or -1 with *err set.
 */
extern int extents_shift (nbdkit_next *next, uint32_t count, uint64_t offs,
                          uint64_t shift, uint32_t flags,
                          struct nbdkit_extents *extents, int *err);

#endif /* BLOCKKIT_EXTENTS_SHIFT_H */
