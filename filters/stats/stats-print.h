/* blockkit stats filter: the counters and how they are printed. */
#ifndef BLOCKKIT_STATS_PRINT_H
#define BLOCKKIT_STATS_PRINT_H

#include <stdint.h>
#include <stdio.h>

enum stat_op { STAT_READ, STAT_WRITE, STAT_TRIM, STAT_ZERO, STAT_EXTENTS,
               STAT_CACHE, STAT_FLUSH, NR_STAT_OPS };

struct op_stats {
  const char *name;
  uint64_t ops;                 /* requests, failed ones included */
  uint64_t errors;              /* requests that failed */
  uint64_t bytes;               /* bytes the requests covered */
  uint64_t ns;                  /* time spent in the layers below */
};

/* Prints the summary: the elapsed time, then one line per operation that
 * was used and has at least THRESHOLD percent of all requests.
 */
extern void stats_print (FILE *fp, const struct op_stats *stats, size_t n,
                         double elapsed, double threshold);

#endif /* BLOCKKIT_STATS_PRINT_H */
