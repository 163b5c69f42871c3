/* blockkit: the stats filter.
 *
 * Counts the requests of each kind that pass through it, the bytes they
 * cover and the time the layers below took, and prints a summary when
 * the server exits (and, with statsdisconnect=true, each time a client
 * disconnects).  Counters are updated with atomic additions, so parallel
 * requests cost no lock.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "stats-print.h"

static char *statsfile;         /* NULL: stderr */
static bool statsappend;
static double statsthreshold;   /* percent of all requests */
static bool statsdisconnect;

struct op_stats op_stats[NR_STAT_OPS] = {
  [STAT_READ] = { .name = "read" },
  [STAT_WRITE] = { .name = "write" },
  [STAT_TRIM] = { .name = "trim" },
  [STAT_ZERO] = { .name = "zero" },
  [STAT_EXTENTS] = { .name = "extents" },
  [STAT_CACHE] = { .name = "cache" },
  [STAT_FLUSH] = { .name = "flush" },
};

static struct timespec start_time;

static int
stats_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  int r;

  if (strcmp (key, "statsfile") == 0) {
    free (statsfile);
    statsfile = nbdkit_absolute_path (value);
    return statsfile ? 0 : -1;
  }
  if (strcmp (key, "statsappend") == 0 ||
      strcmp (key, "statsdisconnect") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1) {
      nbdkit_error ("%s: expected a boolean, got \"%s\"", key, value);
      return -1;
    }
    if (strcmp (key, "statsappend") == 0)
      statsappend = r;
    else
      statsdisconnect = r;
    return 0;
  }
  if (strcmp (key, "statsthreshold") == 0) {
    char *end;
    errno = 0;
    statsthreshold = strtod (value, &end);
    if (errno || end == value || (*end != '\0' && strcmp (end, "%") != 0) ||
        !(statsthreshold >= 0 && statsthreshold <= 100)) {
      nbdkit_error ("statsthreshold: expected a percentage between 0 and "
                    "100, got \"%s\"", value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

#define stats_config_help \
  "statsfile=PATH         Where to write the statistics (default stderr).\n" \
  "statsappend=BOOL       Append to statsfile instead of replacing it.\n" \
  "statsthreshold=PERCENT Omit operations with fewer than PERCENT of all\n" \
  "                       requests.\n" \
  "statsdisconnect=BOOL   Also print the totals when a client disconnects."

/* The clock starts once the server is about to serve (after any fork),
 * so the overall rates cover the time clients could be served.
 */
static int
stats_after_fork (nbdkit_backend *backend)
{
  clock_gettime (CLOCK_MONOTONIC, &start_time);
  return 0;
}

/* Serializes printing: two clients may disconnect at once. */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static bool printed_at_exit;

static void
print_now (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&print_lock);
  struct timespec now;
  FILE *fp;

  clock_gettime (CLOCK_MONOTONIC, &now);
  if (statsfile) {
    fp = fopen (statsfile, statsappend ? "ae" : "we");
    if (fp == NULL) {
      nbdkit_error ("statsfile: %s: %m", statsfile);
      return;
    }
  }
  else
    fp = stderr;
  stats_print (fp, op_stats, NR_STAT_OPS,
               (now.tv_sec - start_time.tv_sec) +
               (now.tv_nsec - start_time.tv_nsec) / 1e9,
               statsthreshold);
  if (fp != stderr)
    fclose (fp);
  else
    fflush (fp);
}

/* The final summary, when the server exits: .cleanup runs once the
 * clients are gone; .unload is the fallback for a server that stops
 * without cleanup.  Nothing is printed if the server never got ready to
 * serve (for example --dump-plugin).
 */
static void
print_at_exit (void)
{
  if (printed_at_exit || (start_time.tv_sec == 0 && start_time.tv_nsec == 0))
    return;
  printed_at_exit = true;
  print_now ();
}

static void
stats_cleanup (nbdkit_backend *backend)
{
  print_at_exit ();
}

static void
stats_unload (void)
{
  print_at_exit ();
  free (statsfile);
}

static void
stats_close (void *handle)
{
  if (statsdisconnect)
    print_now ();
}

static int handle;

static void *
stats_open (nbdkit_next_open *next, nbdkit_context *context,
            int readonly, const char *exportname, int is_tls)
{
  return next (context, readonly, exportname) == -1 ? NULL : &handle;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Records one request that started at T0 and returned R. */
static int
record (enum stat_op op, uint64_t bytes, uint64_t t0, int r)
{
  struct op_stats *s = &op_stats[op];

  __atomic_add_fetch (&s->ops, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch (&s->bytes, bytes, __ATOMIC_RELAXED);
  __atomic_add_fetch (&s->ns, now_ns () - t0, __ATOMIC_RELAXED);
  if (r == -1)
    __atomic_add_fetch (&s->errors, 1, __ATOMIC_RELAXED);
  return r;
}

static int
stats_pread (nbdkit_next *next, void *h, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_READ, count, t0,
                 next->pread (next, buf, count, offset, flags, err));
}

static int
stats_pwrite (nbdkit_next *next, void *h, const void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_WRITE, count, t0,
                 next->pwrite (next, buf, count, offset, flags, err));
}

static int
stats_trim (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_TRIM, count, t0,
                 next->trim (next, count, offset, flags, err));
}

static int
stats_zero (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_ZERO, count, t0,
                 next->zero (next, count, offset, flags, err));
}

/* Passes zero straight on, so it is exactly as fast as the layer below. */
static int
stats_can_fast_zero (nbdkit_next *next, void *h)
{
  return next->can_fast_zero (next);
}

static int
stats_extents (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
               uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_EXTENTS, count, t0,
                 next->extents (next, count, offset, flags, extents, err));
}

static int
stats_cache (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_CACHE, count, t0,
                 next->cache (next, count, offset, flags, err));
}

static int
stats_flush (nbdkit_next *next, void *h, uint32_t flags, int *err)
{
  uint64_t t0 = now_ns ();
  return record (STAT_FLUSH, 0, t0, next->flush (next, flags, err));
}

static struct nbdkit_filter filter = {
  .name              = "stats",
  .longname          = "blockkit statistics filter",
  .unload            = stats_unload,
  .config            = stats_config,
  .config_help       = stats_config_help,
  .after_fork        = stats_after_fork,
  .cleanup           = stats_cleanup,
  .open              = stats_open,
  .close             = stats_close,
  .can_fast_zero     = stats_can_fast_zero,
  .pread             = stats_pread,
  .pwrite            = stats_pwrite,
  .trim              = stats_trim,
  .zero              = stats_zero,
  .extents           = stats_extents,
  .cache             = stats_cache,
  .flush             = stats_flush,
};

NBDKIT_REGISTER_FILTER (filter)
