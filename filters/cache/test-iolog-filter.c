/* blockkit: a test filter that logs (and may slow down) what reaches it.
 *
 * Used by the cache and readahead tests, stacked below the filter under
 * test, to count the requests that really go down the chain.
 *
 *   iolog=FILE         append one line per data call: "pread OFFSET COUNT",
 *                      "pwrite ...", "zero ...", "trim ...", "cache ...",
 *                      "flush"
 *   iolog-rdelay=MS    sleep this long in every pread
 *   iolog-cache=none   say the layer cannot cache (default: as below)
 */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-filter.h>

static int log_fd = -1;
static unsigned rdelay_ms;
static int no_cache;

static void
iolog_unload (void)
{
  if (log_fd >= 0)
    close (log_fd);
}

static int
iolog_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "iolog") == 0) {
    log_fd = open (value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd == -1) {
      nbdkit_error ("iolog=%s: %m", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "iolog-rdelay") == 0)
    return nbdkit_parse_unsigned (key, value, &rdelay_ms);
  if (strcmp (key, "iolog-cache") == 0) {
    if (strcmp (value, "none") != 0) {
      nbdkit_error ("iolog-cache=%s: only \"none\" is known", value);
      return -1;
    }
    no_cache = 1;
    return 0;
  }
  return next (nxdata, key, value);
}

/* One write per line: O_APPEND keeps lines whole across threads. */
static void
log_line (const char *op, uint64_t offset, uint32_t count)
{
  char line[128];
  int n;

  if (log_fd < 0)
    return;
  n = snprintf (line, sizeof line, "%s %" PRIu64 " %" PRIu32 "\n",
                op, offset, count);
  if (write (log_fd, line, n) != n)
    nbdkit_debug ("iolog: short write to the log");
}

static int
iolog_can_cache (nbdkit_next *next, void *handle)
{
  return no_cache ? NBDKIT_CACHE_NONE : next->can_cache (next);
}

static int
iolog_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  log_line ("pread", offset, count);
  if (rdelay_ms)
    nbdkit_nanosleep (rdelay_ms / 1000, (rdelay_ms % 1000) * 1000000);
  return next->pread (next, buf, count, offset, flags, err);
}

static int
iolog_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  log_line ("pwrite", offset, count);
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
iolog_zero (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  log_line ("zero", offset, count);
  return next->zero (next, count, offset, flags, err);
}

static int
iolog_trim (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  log_line ("trim", offset, count);
  return next->trim (next, count, offset, flags, err);
}

static int
iolog_cache (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  log_line ("cache", offset, count);
  return next->cache (next, count, offset, flags, err);
}

static int
iolog_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  log_line ("flush", 0, 0);
  return next->flush (next, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "iolog",
  .longname = "blockkit test filter: logs and delays requests",
  .unload = iolog_unload,
  .config = iolog_config,
  .can_cache = iolog_can_cache,
  .pread = iolog_pread,
  .pwrite = iolog_pwrite,
  .zero = iolog_zero,
  .trim = iolog_trim,
  .cache = iolog_cache,
  .flush = iolog_flush,
};

NBDKIT_REGISTER_FILTER (filter)
