/* blockkit: unit tests for server/extents.c. */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "internal.h"
#include "test-stubs.h"

#define HOLE NBDKIT_EXTENT_HOLE
#define ZERO NBDKIT_EXTENT_ZERO

#define ADD_OK(exts, off, len, type)                                    \
  do {                                                                  \
    test_reset_error ();                                                \
    if (nbdkit_add_extent ((exts), (off), (len), (type)) != 0) {        \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_add_extent (%s, %s, %s) " \
               "failed: %s\n", __FILE__, __LINE__, #off, #len, #type,   \
               test_last_error);                                        \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#define ADD_BAD(exts, off, len, type, needle)                           \
  do {                                                                  \
    test_reset_error ();                                                \
    if (nbdkit_add_extent ((exts), (off), (len), (type)) != -1) {       \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_add_extent (%s, %s, %s) " \
               "should fail\n", __FILE__, __LINE__, #off, #len, #type); \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_ERROR (needle);                                               \
  } while (0)

/* Check the whole list against an array of expected extents. */
static void
check_list (int line, const struct nbdkit_extents *exts,
            const struct nbdkit_extent *expected, size_t n)
{
  size_t i, count = nbdkit_extents_count (exts);

  if (count != n) {
    fprintf (stderr, "line %d: FAILED: %zu extents, expected %zu\n",
             line, count, n);
    test_failures++;
  }
  for (i = 0; i < n && i < count; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (exts, i);
    if (e.offset != expected[i].offset || e.length != expected[i].length ||
        e.type != expected[i].type) {
      fprintf (stderr, "line %d: FAILED: extent %zu is "
               "(%" PRIu64 ", %" PRIu64 ", %" PRIu32 "), expected "
               "(%" PRIu64 ", %" PRIu64 ", %" PRIu32 ")\n", line, i,
               e.offset, e.length, e.type, expected[i].offset,
               expected[i].length, expected[i].type);
      test_failures++;
    }
  }
}
#define CHECK_LIST(exts, ...)                                           \
  do {                                                                  \
    const struct nbdkit_extent exp_[] = { __VA_ARGS__ };                \
    check_list (__LINE__, (exts), exp_, sizeof exp_ / sizeof exp_[0]);  \
  } while (0)

static void
test_new (void)
{
  struct nbdkit_extents *exts;

  test_reset_error ();
  exts = nbdkit_extents_new (0, 0);
  CHECK (exts != NULL);
  CHECK (nbdkit_extents_count (exts) == 0);
  nbdkit_extents_free (exts);

  exts = nbdkit_extents_new (0, INT64_MAX);
  CHECK (exts != NULL);
  nbdkit_extents_free (exts);
  CHECK_NO_ERROR ();

  test_reset_error ();
  CHECK (nbdkit_extents_new (10, 5) == NULL);
  CHECK_ERROR ("nbdkit_extents_new");
  CHECK_ERROR ("10");

  test_reset_error ();
  CHECK (nbdkit_extents_new (0, (uint64_t) INT64_MAX + 1) == NULL);
  CHECK_ERROR ("9223372036854775808");

  test_reset_error ();
  CHECK (nbdkit_extents_new (UINT64_MAX, UINT64_MAX) == NULL);
  CHECK_ERROR ("nbdkit_extents_new");

  nbdkit_extents_free (NULL);   /* must be harmless */
}

static void
test_simple (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (0, 100);

  ADD_OK (exts, 0, 10, 0);
  ADD_OK (exts, 10, 20, HOLE);
  ADD_OK (exts, 30, 70, HOLE|ZERO);
  CHECK_LIST (exts,
              { 0, 10, 0 },
              { 10, 20, HOLE },
              { 30, 70, HOLE|ZERO });
  /* The list is complete; more extents past the end are accepted and
   * ignored, but must still be contiguous.
   */
  ADD_OK (exts, 100, 50, 0);
  ADD_OK (exts, 150, 1, HOLE);
  CHECK (nbdkit_extents_count (exts) == 3);
  ADD_BAD (exts, 152, 10, 0, "must be contiguous");
  ADD_BAD (exts, 0, 10, 0, "ascending order");
  CHECK (nbdkit_extents_count (exts) == 3);
  nbdkit_extents_free (exts);
}

static void
test_merge (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (0, 1000);

  ADD_OK (exts, 0, 10, HOLE);
  ADD_OK (exts, 10, 10, HOLE);
  ADD_OK (exts, 20, 5, HOLE);
  ADD_OK (exts, 25, 5, ZERO);
  ADD_OK (exts, 30, 5, ZERO);
  ADD_OK (exts, 35, 5, HOLE);
  ADD_OK (exts, 40, 0, ZERO);  /* zero length: ignored, no split */
  ADD_OK (exts, 40, 60, HOLE);
  CHECK_LIST (exts,
              { 0, 25, HOLE },
              { 25, 10, ZERO },
              { 35, 65, HOLE });
  nbdkit_extents_free (exts);
}

static void
test_clip_start (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (50, 100);

  /* Wholly before start: dropped, but starts the contiguity chain. */
  ADD_OK (exts, 0, 40, ZERO);
  CHECK (nbdkit_extents_count (exts) == 0);
  ADD_OK (exts, 40, 20, HOLE);     /* clipped to [50, 60) */
  ADD_OK (exts, 60, 100, 0);       /* clipped to [60, 100) */
  ADD_OK (exts, 160, 10, 0);       /* past the end: ignored */
  CHECK_LIST (exts,
              { 50, 10, HOLE },
              { 60, 40, 0 });
  ADD_BAD (exts, 171, 1, 0, "contiguous");
  nbdkit_extents_free (exts);

  /* An extent ending exactly at start is wholly before it. */
  exts = nbdkit_extents_new (50, 100);
  ADD_OK (exts, 0, 50, ZERO);
  ADD_OK (exts, 50, 10, ZERO);
  CHECK_LIST (exts, { 50, 10, ZERO });
  nbdkit_extents_free (exts);

  /* The first extent may not begin after start. */
  exts = nbdkit_extents_new (50, 100);
  ADD_BAD (exts, 60, 10, 0, "first extent");
  ADD_BAD (exts, 51, 10, 0, "51");
  CHECK (nbdkit_extents_count (exts) == 0);
  /* ... and a failed call doesn't start the chain. */
  ADD_OK (exts, 50, 10, 0);
  CHECK_LIST (exts, { 50, 10, 0 });
  nbdkit_extents_free (exts);

  /* Zero-length extents anywhere are ignored and don't start the chain. */
  exts = nbdkit_extents_new (50, 100);
  ADD_OK (exts, 70, 0, 0);
  ADD_OK (exts, 0, 0, 0);
  ADD_OK (exts, 50, 50, HOLE);
  CHECK_LIST (exts, { 50, 50, HOLE });
  nbdkit_extents_free (exts);
}

static void
test_clip_end (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (0, 100);

  ADD_OK (exts, 0, 1000, HOLE);
  CHECK_LIST (exts, { 0, 100, HOLE });
  ADD_OK (exts, 1000, 5, HOLE);
  CHECK_LIST (exts, { 0, 100, HOLE });
  nbdkit_extents_free (exts);

  /* A single extent covering the range from both sides. */
  exts = nbdkit_extents_new (4096, 8192);
  ADD_OK (exts, 0, 1 << 20, ZERO);
  CHECK_LIST (exts, { 4096, 4096, ZERO });
  nbdkit_extents_free (exts);

  /* Empty range: everything is ignored. */
  exts = nbdkit_extents_new (10, 10);
  ADD_OK (exts, 0, 100, 0);
  ADD_OK (exts, 100, 100, HOLE);
  CHECK (nbdkit_extents_count (exts) == 0);
  nbdkit_extents_free (exts);
}

static void
test_errors (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (0, 100);

  ADD_OK (exts, 0, 10, 0);
  /* gap */
  ADD_BAD (exts, 20, 10, 0,
           "nbdkit_add_extent: extents must be added in ascending order "
           "and must be contiguous");
  CHECK_ERROR ("20");
  /* overlap */
  ADD_BAD (exts, 5, 10, HOLE, "contiguous");
  /* descending */
  ADD_BAD (exts, 0, 5, HOLE, "ascending");
  /* The failures changed nothing; the chain continues from 10. */
  ADD_OK (exts, 10, 90, HOLE);
  CHECK_LIST (exts, { 0, 10, 0 }, { 10, 90, HOLE });
  nbdkit_extents_free (exts);

  /* Offsets beyond the largest export size. */
  exts = nbdkit_extents_new (0, 100);
  ADD_BAD (exts, 0, (uint64_t) INT64_MAX + 1, 0, "maximum");
  ADD_BAD (exts, 0, UINT64_MAX, 0, "maximum");
  ADD_OK (exts, 0, INT64_MAX, HOLE);
  ADD_BAD (exts, INT64_MAX, 1, HOLE, "maximum");
  CHECK_LIST (exts, { 0, 100, HOLE });
  nbdkit_extents_free (exts);
}

/* Many extents: the vector must grow, and every entry must be kept. */
static void
test_many (void)
{
  const uint64_t n = 100000;
  struct nbdkit_extents *exts = nbdkit_extents_new (0, n);
  uint64_t i;
  size_t bad = 0;

  for (i = 0; i < n; ++i) {
    if (nbdkit_add_extent (exts, i, 1, i & 1 ? HOLE : 0) == -1)
      bad++;
  }
  CHECK (bad == 0);
  CHECK (nbdkit_extents_count (exts) == n);
  for (i = 0; i < n; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (exts, i);
    if (e.offset != i || e.length != 1 || e.type != (i & 1 ? HOLE : 0))
      bad++;
  }
  CHECK (bad == 0);
  nbdkit_extents_free (exts);
}

/* The list stops growing at a fixed cap (1M extents) without leaving a
 * hole: once an extent has been dropped, nothing later may be merged
 * into the last stored one.
 */
static void
test_cap (void)
{
  const uint64_t n = 3 * 1024 * 1024;
  struct nbdkit_extents *exts = nbdkit_extents_new (0, n);
  uint64_t i, sum = 0;
  size_t count, bad = 0;
  struct nbdkit_extent last;

  for (i = 0; i < n; ++i) {
    if (nbdkit_add_extent (exts, i, 1, i & 1 ? ZERO : HOLE) == -1)
      bad++;
  }
  CHECK (bad == 0);
  count = nbdkit_extents_count (exts);
  CHECK (count == 1024 * 1024);
  for (i = 0; i < count; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (exts, i);
    if (e.offset != sum)
      bad++;
    sum += e.length;
  }
  CHECK (bad == 0);
  last = nbdkit_get_extent (exts, count - 1);
  CHECK (last.offset + last.length == count);
  nbdkit_extents_free (exts);
}

int
main (void)
{
  test_new ();
  test_simple ();
  test_merge ();
  test_clip_start ();
  test_clip_end ();
  test_errors ();
  test_many ();
  test_cap ();

  if (test_failures) {
    fprintf (stderr, "test-extents: %u check(s) FAILED\n", test_failures);
    return 1;
  }
  printf ("test-extents: all checks passed\n");
  return 0;
}
