/* A filter that declares can_fua NBDKIT_FUA_EMULATE: the server then runs
 * each FUA write, zero or trim at this layer as the same call without
 * FUA followed by this layer's own flush, even though the plugin below
 * could do FUA natively.  It logs the data calls and flushes it receives.
 * Layer "fua" in the call log (test-layer-log.h); for
 * test-filter-fallbacks.sh.
 */
#include <config.h>

#include <inttypes.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

static void
fbfua_load (void)
{
  layer_log_name ("fua");
}

static void
fbfua_unload (void)
{
  layer_log_close ();
}

static int
fbfua_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  return next (nxdata, key, value);
}

static int
fbfua_can_fua (nbdkit_next *next, void *handle)
{
  return NBDKIT_FUA_EMULATE;
}

#define FUA(flags) (!!((flags) & NBDKIT_FLAG_FUA))

static int
fbfua_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("pwrite %" PRIu32 " %" PRIu64 " fua=%d",
             count, offset, FUA (flags));
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
fbfua_zero (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("zero %" PRIu32 " %" PRIu64 " fua=%d",
             count, offset, FUA (flags));
  return next->zero (next, count, offset, flags, err);
}

static int
fbfua_trim (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("trim %" PRIu32 " %" PRIu64 " fua=%d",
             count, offset, FUA (flags));
  return next->trim (next, count, offset, flags, err);
}

static int
fbfua_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  layer_log ("flush");
  return next->flush (next, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "fbfua",
  .longname          = "FUA emulating test filter",
  .load              = fbfua_load,
  .unload            = fbfua_unload,
  .config            = fbfua_config,
  .can_fua           = fbfua_can_fua,
  .pwrite            = fbfua_pwrite,
  .zero              = fbfua_zero,
  .trim              = fbfua_trim,
  .flush             = fbfua_flush,
};

NBDKIT_REGISTER_FILTER (filter)
