/* blockkit: the protect filter's set of byte ranges. */
#ifndef BLOCKKIT_PROTECT_RANGES_H
#define BLOCKKIT_PROTECT_RANGES_H

#include <stddef.h>
#include <stdint.h>

/* An inclusive byte range [first, last]. */
struct range {
  uint64_t first, last;
};

struct ranges {
  struct range *ptr;
  size_t len;
};

/* Parses "START-END", "START-" (to the end of the disk) or "~START-END"
 * (everything except START..END) and adds the range(s) it names.
 * Returns 0, or -1 after nbdkit_error.
 */
extern int ranges_add_spec (struct ranges *rs, const char *spec);

/* Sorts and merges overlapping or touching ranges. */
extern void ranges_normalize (struct ranges *rs);

extern void ranges_free (struct ranges *rs);

#endif /* BLOCKKIT_PROTECT_RANGES_H */
