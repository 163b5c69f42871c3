/* blockkit: the extent list a plugin fills in to answer block status.
 *
 * The server creates a list for a requested range [start, end) and the
 * plugin calls nbdkit_add_extent with extents in ascending order, each
 * one starting exactly where the previous one ended.  The list stored
 * here is exactly what the NBD reply needs:
 *
 * - The first extent added may start at or before `start'.  Extents (or
 *   the parts of them) before `start' are dropped, so a plugin can
 *   simply walk its map from offset 0.  The first extent added must not
 *   start after `start' (that would leave a hole in the answer).
 * - Extents, or parts of extents, at or past `end' are accepted and
 *   dropped: the last stored extent is clipped so that it ends at
 *   `end'.  (The established server keeps the overhang; clipping means
 *   the reply code never has to.)  Once the list reaches `end' it is
 *   complete, but later calls are still checked for contiguity.
 * - Zero-length extents are ignored.
 * - Adjacent extents of the same type are merged.
 * - At most MAX_EXTENTS are stored; later ones are silently dropped.
 *   The protocol allows a short block status reply (the client asks
 *   again for the rest), and this bounds the memory a plugin reporting
 *   millions of tiny extents can make the server use.
 *
 * On error these functions call nbdkit_error and also set errno
 * (EINVAL for bad arguments, ENOMEM for allocation failures), so a
 * caller can turn the failure into an NBD error code.
 */

#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <errno.h>
#include <assert.h>

#include "internal.h"

#define MAX_EXTENTS (1024 * 1024)

struct nbdkit_extents {
  struct nbdkit_extent *ptr;    /* stored extents, within [start, end) */
  size_t len, cap;

  uint64_t start, end;          /* the requested range */

  /* Where the next nbdkit_add_extent call must begin.  Meaningless
   * until the first extent has been added (have_next).
   */
  uint64_t next;
  bool have_next;

  /* Set once an extent was dropped because of MAX_EXTENTS: nothing
   * more may be stored, or the list would have a hole in it.
   */
  bool truncated;
};

NBDKIT_DLL_PUBLIC struct nbdkit_extents *
nbdkit_extents_new (uint64_t start, uint64_t end)
{
  struct nbdkit_extents *exts;

  if (start > INT64_MAX || end > INT64_MAX) {
    nbdkit_error ("nbdkit_extents_new: range [%" PRIu64 ", %" PRIu64 ") "
                  "is beyond the maximum offset %" PRIi64,
                  start, end, INT64_MAX);
    errno = EINVAL;
    return NULL;
  }
  if (start > end) {
    nbdkit_error ("nbdkit_extents_new: start (%" PRIu64 ") "
                  "is greater than end (%" PRIu64 ")", start, end);
    errno = EINVAL;
    return NULL;
  }

  exts = calloc (1, sizeof *exts);
  if (exts == NULL) {
    nbdkit_error ("calloc: %s", strerror (errno));
    errno = ENOMEM;
    return NULL;
  }
  exts->start = start;
  exts->end = end;
  return exts;
}

NBDKIT_DLL_PUBLIC void
nbdkit_extents_free (struct nbdkit_extents *exts)
{
  if (exts) {
    free (exts->ptr);
    free (exts);
  }
}

NBDKIT_DLL_PUBLIC size_t
nbdkit_extents_count (const struct nbdkit_extents *exts)
{
  return exts->len;
}

NBDKIT_DLL_PUBLIC struct nbdkit_extent
nbdkit_get_extent (const struct nbdkit_extents *exts, size_t i)
{
  assert (i < exts->len);
  return exts->ptr[i];
}

/* Amortized growth: capacity doubles. */
static int
append (struct nbdkit_extents *exts, const struct nbdkit_extent *e)
{
  if (exts->len == exts->cap) {
    size_t ncap = exts->cap ? exts->cap * 2 : 16;
    struct nbdkit_extent *p;

    if (ncap > MAX_EXTENTS)
      ncap = MAX_EXTENTS;
    p = realloc (exts->ptr, ncap * sizeof *p);
    if (p == NULL) {
      nbdkit_error ("nbdkit_add_extent: realloc: %s", strerror (errno));
      errno = ENOMEM;
      return -1;
    }
    exts->ptr = p;
    exts->cap = ncap;
  }
  exts->ptr[exts->len++] = *e;
  return 0;
}

NBDKIT_DLL_PUBLIC int
nbdkit_add_extent (struct nbdkit_extents *exts,
                   uint64_t offset, uint64_t length, uint32_t type)
{
  struct nbdkit_extent e;
  uint64_t last;

  if (length == 0)
    return 0;

  if (offset > INT64_MAX || length > INT64_MAX - offset) {
    nbdkit_error ("nbdkit_add_extent: extent at offset %" PRIu64
                  " with length %" PRIu64 " is beyond the maximum offset %"
                  PRIi64, offset, length, INT64_MAX);
    errno = EINVAL;
    return -1;
  }

  if (exts->have_next) {
    if (offset != exts->next) {
      nbdkit_error ("nbdkit_add_extent: "
                    "extents must be added in ascending order and "
                    "must be contiguous (expected offset %" PRIu64
                    ", got offset %" PRIu64 ")", exts->next, offset);
      errno = EINVAL;
      return -1;
    }
  }
  else if (offset > exts->start) {
    nbdkit_error ("nbdkit_add_extent: the first extent must start at or "
                  "before the start of the requested range "
                  "(start %" PRIu64 ", got offset %" PRIu64 ")",
                  exts->start, offset);
    errno = EINVAL;
    return -1;
  }
  exts->next = offset + length;
  exts->have_next = true;

  /* Clip to [start, end), dropping what falls outside. */
  last = offset + length;
  if (last <= exts->start || offset >= exts->end || exts->truncated)
    return 0;
  if (offset < exts->start)
    offset = exts->start;
  if (last > exts->end)
    last = exts->end;
  if (offset >= last)
    return 0;                   /* only possible for an empty range */

  /* Merge with the previous extent if the type is the same (they are
   * necessarily adjacent here).
   */
  if (exts->len > 0 && exts->ptr[exts->len - 1].type == type) {
    assert (exts->ptr[exts->len - 1].offset +
            exts->ptr[exts->len - 1].length == offset);
    exts->ptr[exts->len - 1].length += last - offset;
    return 0;
  }

  if (exts->len >= MAX_EXTENTS) {
    exts->truncated = true;
    return 0;
  }

  e.offset = offset;
  e.length = last - offset;
  e.type = type;
  return append (exts, &e);
}
