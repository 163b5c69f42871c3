/* blockkit: the nocache filter.
 *
 * Changes how NBD_CMD_CACHE (a client's hint to prefetch a range) is
 * handled:
 *
 *   cachemode=none         cache is not advertised (default)
 *   cachemode=emulate      cache is advertised and the server answers it
 *                          at this layer by reading the range through
 *                          this filter (and discarding the data)
 *   cachemode=passthrough  the layer below decides, unchanged
 */
#include <config.h>

#include <string.h>

#include <nbdkit-filter.h>

enum cachemode { CACHE_NONE, CACHE_EMULATE, CACHE_PASSTHROUGH };
static enum cachemode cachemode = CACHE_NONE;

static int
nocache_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                const char *key, const char *value)
{
  if (strcmp (key, "cachemode") == 0) {
    if (strcmp (value, "none") == 0)
      cachemode = CACHE_NONE;
    else if (strcmp (value, "emulate") == 0)
      cachemode = CACHE_EMULATE;
    else if (strcmp (value, "passthrough") == 0)
      cachemode = CACHE_PASSTHROUGH;
    else {
      nbdkit_error ("cachemode=%s: unknown mode (expected none, emulate "
                    "or passthrough)", value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

#define nocache_config_help \
  "cachemode=<MODE>     none (default), emulate or passthrough."

static int
nocache_can_cache (nbdkit_next *next, void *handle)
{
  switch (cachemode) {
  case CACHE_NONE:
    return NBDKIT_CACHE_NONE;
  case CACHE_EMULATE:
    /* The server then reads through this layer's pread instead. */
    return NBDKIT_CACHE_EMULATE;
  case CACHE_PASSTHROUGH:
    break;
  }
  return next->can_cache (next);
}

static struct nbdkit_filter filter = {
  .name = "nocache",
  .longname = "blockkit nocache filter",
  .config = nocache_config,
  .config_help = nocache_config_help,
  .can_cache = nocache_can_cache,
};

NBDKIT_REGISTER_FILTER (filter)
