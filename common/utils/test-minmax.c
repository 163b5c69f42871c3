/* blockkit: unit tests for common/utils/minmax.h. */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <inttypes.h>

#include "minmax.h"

static unsigned failures;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

static int calls;

static int
counted (int v)
{
  calls++;
  return v;
}

static void
test_min_max (void)
{
  int i;
  int64_t big = INT64_C (1) << 40;
  uint64_t u;

  CHECK (MIN (1, 2) == 1);
  CHECK (MIN (2, 1) == 1);
  CHECK (MAX (1, 2) == 2);
  CHECK (MAX (2, 1) == 2);
  CHECK (MIN (-5, 3) == -5);
  CHECK (MAX (-5, 3) == 3);
  CHECK (MIN (7, 7) == 7);
  CHECK (MAX (big, 5) == big);
  CHECK (MIN (big, INT64_C (5)) == 5);
  CHECK (MIN (UINT64_MAX, UINT64_C (3)) == 3);
  CHECK (MAX (UINT64_MAX, UINT64_C (3)) == UINT64_MAX);
  CHECK (MIN (1.5, 2.5) == 1.5);

  /* Each argument is evaluated exactly once. */
  calls = 0;
  CHECK (MIN (counted (3), counted (4)) == 3);
  CHECK (calls == 2);
  calls = 0;
  CHECK (MAX (counted (3), counted (4)) == 4);
  CHECK (calls == 2);

  i = 5;
  CHECK (MIN (i++, 100) == 5);
  CHECK (i == 6);
  CHECK (MAX (i++, 0) == 6);
  CHECK (i == 7);

  /* Combining results through temporaries.  (Direct nesting, such as
   * MIN (MIN (a, b), c), currently trips -Wshadow=local because both
   * expansions declare a_ and b_.)
   */
  {
    int m = MIN (4, 2), n = MIN (3, 9);
    CHECK (MIN (m, n) == 2);
    CHECK (MAX (m, n) == 3);
  }

  u = 10;
  CHECK (MIN (u, (uint64_t) 20) == 10);
}

static void
test_rounding (void)
{
  uint64_t u;
  uint32_t w;

  CHECK (ROUND_UP (0, 512) == 0);
  CHECK (ROUND_UP (1, 512) == 512);
  CHECK (ROUND_UP (511, 512) == 512);
  CHECK (ROUND_UP (512, 512) == 512);
  CHECK (ROUND_UP (513, 512) == 1024);
  CHECK (ROUND_UP (5, 1) == 5);
  CHECK (ROUND_UP (7, 8) == 8);

  CHECK (ROUND_DOWN (0, 512) == 0);
  CHECK (ROUND_DOWN (1, 512) == 0);
  CHECK (ROUND_DOWN (511, 512) == 0);
  CHECK (ROUND_DOWN (512, 512) == 512);
  CHECK (ROUND_DOWN (1023, 512) == 512);
  CHECK (ROUND_DOWN (5, 1) == 5);

  /* 64-bit values with an int alignment: the mask must be widened to
   * the type of N, not truncated to 32 bits.
   */
  u = (UINT64_C (1) << 40) + 1;
  CHECK (ROUND_UP (u, 4096) == (UINT64_C (1) << 40) + 4096);
  CHECK (ROUND_DOWN (u, 4096) == UINT64_C (1) << 40);
  u = UINT64_C (0x123456789abcdef0);
  CHECK (ROUND_DOWN (u, 65536) == UINT64_C (0x123456789abc0000));
  CHECK (ROUND_UP (u, 65536) == UINT64_C (0x123456789abd0000));
  u = UINT64_MAX;
  CHECK (ROUND_DOWN (u, 4096) == UINT64_MAX - 4095);
  u = (UINT64_C (1) << 63) - 1;
  CHECK (ROUND_UP (u, UINT64_C (1) << 32) == UINT64_C (1) << 63);

  w = 4095;
  CHECK (ROUND_UP (w, 4096) == 4096);
  CHECK (ROUND_DOWN (w, 4096) == 0);

  CHECK (IS_ALIGNED (0, 512));
  CHECK (IS_ALIGNED (512, 512));
  CHECK (IS_ALIGNED (1024, 512));
  CHECK (!IS_ALIGNED (1, 512));
  CHECK (!IS_ALIGNED (513, 512));
  CHECK (!IS_ALIGNED (256, 512));
  CHECK (IS_ALIGNED (7, 1));
  u = UINT64_C (1) << 40;
  CHECK (IS_ALIGNED (u, 4096));
  CHECK (!IS_ALIGNED (u + 1, 4096));
  CHECK (IS_ALIGNED (u, UINT64_C (1) << 40));
  CHECK (!IS_ALIGNED (u, UINT64_C (1) << 41));

  /* Every value rounds consistently. */
  for (u = 0; u < 5000; ++u) {
    uint64_t up = ROUND_UP (u, 512), down = ROUND_DOWN (u, 512);
    if (!(IS_ALIGNED (up, 512) && IS_ALIGNED (down, 512) &&
          down <= u && u <= up && up - down <= 512 &&
          (IS_ALIGNED (u, 512) ? up == u && down == u : up - down == 512))) {
      fprintf (stderr, "FAILED: rounding %" PRIu64 " to 512\n", u);
      failures++;
      break;
    }
  }
}

static void
test_power_of_2 (void)
{
  unsigned i;

  CHECK (!is_power_of_2 (0));
  CHECK (is_power_of_2 (1));
  CHECK (is_power_of_2 (2));
  CHECK (!is_power_of_2 (3));
  CHECK (is_power_of_2 (4));
  CHECK (!is_power_of_2 (6));
  CHECK (!is_power_of_2 (4095));
  CHECK (is_power_of_2 (4096));
  CHECK (!is_power_of_2 (4097));
  CHECK (!is_power_of_2 (UINT64_MAX));
  CHECK (is_power_of_2 (UINT64_C (1) << 63));
  CHECK (!is_power_of_2 ((UINT64_C (1) << 63) + 1));
  CHECK (!is_power_of_2 ((UINT64_C (1) << 63) | (UINT64_C (1) << 62)));
  for (i = 0; i < 64; ++i) {
    CHECK (is_power_of_2 (UINT64_C (1) << i));
    if (i > 1)
      CHECK (!is_power_of_2 ((UINT64_C (1) << i) - 1));
  }
}

int
main (void)
{
  test_min_max ();
  test_rounding ();
  test_power_of_2 ();

  if (failures) {
    fprintf (stderr, "test-minmax: %u check(s) FAILED\n", failures);
    return 1;
  }
  printf ("test-minmax: all checks passed\n");
  return 0;
}
