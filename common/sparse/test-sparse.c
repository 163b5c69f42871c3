/* blockkit: unit test for the sparse array.
 *
 * 1. Random reads, writes, fills and zeroes on a small array, checked
 *    against a flat reference buffer, with extents checked against it.
 * 2. Writes and zeroes at the far end of a 2^63-1 byte array.
 * 3. Several threads writing and reading disjoint regions at once.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <pthread.h>

#include "sparse.h"

#define FAIL(...) do {                                          \
    fprintf (stderr, "test-sparse: " __VA_ARGS__);              \
    fprintf (stderr, " (line %d)\n", __LINE__);                 \
    exit (EXIT_FAILURE);                                        \
  } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15;

static uint64_t
rnd (void)
{
  /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dULL;
}

/* Extents check: every run must agree with the reference's pages. */
struct ext_check {
  const unsigned char *ref;
  uint64_t expect_offset;
};

static int
check_extent (void *opaque, uint64_t offset, uint64_t length, bool allocated)
{
  struct ext_check *c = opaque;

  if (offset != c->expect_offset)
    FAIL ("extent at %" PRIu64 " expected %" PRIu64, offset, c->expect_offset);
  if (length == 0)
    FAIL ("zero-length extent");
  /* A hole must read as zero. */
  if (!allocated && !sparse_is_zero (c->ref + offset, length))
    FAIL ("hole at %" PRIu64 "+%" PRIu64 " is not zero", offset, length);
  c->expect_offset = offset + length;
  return 0;
}

static void
test_random (void)
{
  const uint64_t size = 64 * SPARSE_PAGE_SIZE + 1234;
  unsigned char *ref = calloc (1, size);
  unsigned char *buf = malloc (size);
  struct sparse_array *sa = sparse_array_new (size);
  int i;

  if (!ref || !buf || !sa)
    FAIL ("allocation");

  for (i = 0; i < 20000; ++i) {
    uint64_t off = rnd () % size;
    uint64_t len = rnd () % (i & 1 ? 300 : 3 * SPARSE_PAGE_SIZE);
    uint64_t j;

    if (off + len > size)
      len = size - off;
    switch (rnd () % 5) {
    case 0:                     /* write random data */
      for (j = 0; j < len; ++j)
        buf[j] = rnd ();
      if (sparse_array_write (sa, buf, len, off) == -1)
        FAIL ("write");
      memcpy (ref + off, buf, len);
      break;
    case 1:                     /* write zeroes */
      memset (buf, 0, len);
      if (sparse_array_write (sa, buf, len, off) == -1)
        FAIL ("write");
      memset (ref + off, 0, len);
      break;
    case 2:                     /* zero */
      sparse_array_zero (sa, len, off);
      memset (ref + off, 0, len);
      break;
    case 3: {                   /* fill */
      int c = rnd () & 0xff;
      if (sparse_array_fill (sa, c, len, off) == -1)
        FAIL ("fill");
      memset (ref + off, c, len);
      break;
    }
    case 4: {                   /* extents */
      struct ext_check c = { .ref = ref, .expect_offset = off };
      if (sparse_array_extents (sa, len, off, check_extent, &c) == -1)
        FAIL ("extents");
      if (c.expect_offset != off + len)
        FAIL ("extents ended at %" PRIu64, c.expect_offset);
      break;
    }
    }
    sparse_array_read (sa, buf, len, off);
    if (memcmp (buf, ref + off, len) != 0)
      FAIL ("read mismatch at %" PRIu64 "+%" PRIu64, off, len);
  }

  sparse_array_read (sa, buf, size, 0);
  if (memcmp (buf, ref, size) != 0)
    FAIL ("final read mismatch");

  /* Zeroing everything frees every page. */
  sparse_array_zero (sa, size, 0);
  if (sparse_array_pages (sa) != 0)
    FAIL ("%" PRIu64 " pages left after zeroing all", sparse_array_pages (sa));

  sparse_array_free (sa);
  free (ref);
  free (buf);
}

static int
count_extent (void *opaque, uint64_t offset, uint64_t length, bool allocated)
{
  int *n = opaque;
  (*n)++;
  return 0;
}

static void
test_huge (void)
{
  const uint64_t size = INT64_MAX;
  struct sparse_array *sa = sparse_array_new (size);
  char buf[100];
  int n = 0;

  if (!sa)
    FAIL ("allocation");

  if (sparse_array_write (sa, "hello", 5, size - 5) == -1)
    FAIL ("write");
  if (sparse_array_write (sa, "world", 5, 0) == -1)
    FAIL ("write");
  if (sparse_array_write (sa, "middle", 6, (size / 2) & ~UINT64_C (4095)) == -1)
    FAIL ("write");
  sparse_array_read (sa, buf, 5, size - 5);
  if (memcmp (buf, "hello", 5) != 0)
    FAIL ("read at end");
  sparse_array_read (sa, buf, 6, (size / 2) & ~UINT64_C (4095));
  if (memcmp (buf, "middle", 6) != 0)
    FAIL ("read in middle");
  if (sparse_array_pages (sa) != 3)
    FAIL ("expected 3 pages");

  /* A 4 GiB extents query over a hole is quick. */
  if (sparse_array_extents (sa, UINT32_MAX, size / 4, count_extent, &n) == -1
      || n != 1)
    FAIL ("extents of hole: %d", n);

  sparse_array_zero (sa, size, 0);
  if (sparse_array_pages (sa) != 0)
    FAIL ("pages left");
  sparse_array_read (sa, buf, 5, size - 5);
  if (!sparse_is_zero (buf, 5))
    FAIL ("not zero after zeroing");
  sparse_array_free (sa);
}

#define NTHREADS 4
#define PER_THREAD (8 * SPARSE_PAGE_SIZE)

static struct sparse_array *shared;

static void *
worker (void *arg)
{
  uintptr_t t = (uintptr_t) arg;
  unsigned char buf[4096], out[4096];
  int i;

  for (i = 0; i < 20000; ++i) {
    uint64_t off = t * PER_THREAD + (i * 4096 % PER_THREAD);
    memset (buf, (int) (t + i) | 1, sizeof buf);
    if (sparse_array_write (shared, buf, sizeof buf, off) == -1)
      FAIL ("write");
    sparse_array_read (shared, out, sizeof out, off);
    if (memcmp (buf, out, sizeof buf) != 0)
      FAIL ("thread %u mismatch", (unsigned) t);
    if (i % 97 == 0)
      sparse_array_zero (shared, 4096, off);
  }
  return NULL;
}

static void
test_threads (void)
{
  pthread_t th[NTHREADS];
  uintptr_t i;

  shared = sparse_array_new (NTHREADS * PER_THREAD);
  if (!shared)
    FAIL ("allocation");
  for (i = 0; i < NTHREADS; ++i)
    if (pthread_create (&th[i], NULL, worker, (void *) i) != 0)
      FAIL ("pthread_create");
  for (i = 0; i < NTHREADS; ++i)
    pthread_join (th[i], NULL);
  sparse_array_free (shared);
}

int
main (void)
{
  test_random ();
  test_huge ();
  test_threads ();
  printf ("test-sparse: ok\n");
  return 0;
}
