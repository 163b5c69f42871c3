/* blockkit stats filter: printing the summary.
 *
 *   elapsed time: 2.503 s, 15 requests
 *   read: 10 ops, 0 errors, 40960 bytes (40.0 KiB), 0.000052 s,
 *         751.2 MiB/s while busy, 16.0 KiB/s overall
 *
 * (one line per operation; wrapped here).  Exact counts come first so
 * scripts can read them; rates are for people.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>

#include "stats-print.h"

/* A human-readable size or rate: "40.0 KiB", "1.5 GiB". */
static void
human (char *buf, size_t len, double v)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
                                       "PiB", "EiB" };
  size_t i = 0;

  while (v >= 1024 && i < sizeof units / sizeof units[0] - 1) {
    v /= 1024;
    i++;
  }
  if (i == 0)
    snprintf (buf, len, "%.0f %s", v, units[i]);
  else
    snprintf (buf, len, "%.1f %s", v, units[i]);
}

void
stats_print (FILE *fp, const struct op_stats *stats, size_t n,
             double elapsed, double threshold)
{
  uint64_t total = 0;
  size_t i;

  for (i = 0; i < n; ++i)
    total += __atomic_load_n (&stats[i].ops, __ATOMIC_RELAXED);

  fprintf (fp, "elapsed time: %.3f s, %" PRIu64 " requests\n",
           elapsed, total);
  for (i = 0; i < n; ++i) {
    uint64_t ops = __atomic_load_n (&stats[i].ops, __ATOMIC_RELAXED);
    uint64_t errors = __atomic_load_n (&stats[i].errors, __ATOMIC_RELAXED);
    uint64_t bytes = __atomic_load_n (&stats[i].bytes, __ATOMIC_RELAXED);
    double secs = __atomic_load_n (&stats[i].ns, __ATOMIC_RELAXED) / 1e9;
    char size[32], busy[32], overall[32];

    if (ops == 0 || 100.0 * ops / total < threshold)
      continue;
    fprintf (fp, "%s: %" PRIu64 " ops, %" PRIu64 " errors, %" PRIu64
             " bytes", stats[i].name, ops, errors, bytes);
    if (bytes) {
      human (size, sizeof size, bytes);
      human (busy, sizeof busy, secs > 0 ? bytes / secs : 0);
      human (overall, sizeof overall, elapsed > 0 ? bytes / elapsed : 0);
      fprintf (fp, " (%s), %.6f s, %s/s while busy, %s/s overall\n",
               size, secs, busy, overall);
    }
    else
      fprintf (fp, ", %.6f s\n", secs);
  }
}
