/* A filter that breaks seed 000's rule on purpose: its .zero fails with
 * EOPNOTSUPP without calling the layer below.  A filter may not do that
 * (a fallback pushed to another layer could apply a transformation
 * twice), so the server must answer EIO to the client, say why in its
 * log, and run no fallback.  Layer "eopnotsupp" in the call log
 * (test-layer-log.h); for test-filter-fallbacks.sh.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

static void
fbeop_load (void)
{
  layer_log_name ("eopnotsupp");
}

static void
fbeop_unload (void)
{
  layer_log_close ();
}

static int
fbeop_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  return next (nxdata, key, value);
}

static int
fbeop_zero (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("zero %" PRIu32 " %" PRIu64, count, offset);
  *err = EOPNOTSUPP;
  return -1;
}

static struct nbdkit_filter filter = {
  .name              = "fbeopnotsupp",
  .longname          = "EOPNOTSUPP from zero test filter",
  .load              = fbeop_load,
  .unload            = fbeop_unload,
  .config            = fbeop_config,
  .zero              = fbeop_zero,
};

NBDKIT_REGISTER_FILTER (filter)
