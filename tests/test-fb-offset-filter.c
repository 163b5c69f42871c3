/* An offset-transforming filter for test-filter-fallbacks.sh: the export
 * is the layer below minus its first OFFSET bytes, so every data call
 * adds OFFSET on its way down.  If a fallback ever re-entered this layer
 * with an already transformed request, the offset would be applied twice
 * and the plugin's log (test-layers-plugin.c) would show it.  Layer
 * "offset" in the call log (test-layer-log.h); it logs each data call it
 * receives, with the client's offset.
 *
 *   fboffset.offset=N          the offset (default 64K)
 *
 * Built twice: test-fb-offset-filter.la has no .can_zero, so a zero goes
 * through this filter's .zero to the layer below, which emulates it if
 * it must; test-fb-offset-emu-filter.la (-DEMULATE_ZERO) declares
 * can_zero NBDKIT_ZERO_EMULATE, so that the server turns a zero into
 * this layer's own pwrite.
 */
#include <config.h>

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

static uint64_t offset = 65536;

static void
fboffset_load (void)
{
  layer_log_name ("offset");
}

static void
fboffset_unload (void)
{
  layer_log_close ();
}

static int
fboffset_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                 const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  if (strcmp (key, "fboffset.offset") == 0)
    return nbdkit_parse_uint64_t (key, value, &offset);
  return next (nxdata, key, value);
}

static int64_t
fboffset_get_size (nbdkit_next *next, void *handle)
{
  int64_t size = next->get_size (next);

  if (size == -1)
    return -1;
  if ((uint64_t) size < offset) {
    nbdkit_error ("fboffset.offset=%" PRIu64 " is beyond the end of the "
                  "disk (%" PRIi64 " bytes)", offset, size);
    return -1;
  }
  return size - offset;
}

#ifdef EMULATE_ZERO
static int
fboffset_can_zero (nbdkit_next *next, void *handle)
{
  return NBDKIT_ZERO_EMULATE;
}
#endif

/* Extents would need their offsets shifted back: not worth it here. */
static int
fboffset_can_extents (nbdkit_next *next, void *handle)
{
  return 0;
}

#define FUA(flags) (!!((flags) & NBDKIT_FLAG_FUA))

static int
fboffset_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
                uint64_t offs, uint32_t flags, int *err)
{
  layer_log ("pread %" PRIu32 " %" PRIu64, count, offs);
  return next->pread (next, buf, count, offs + offset, flags, err);
}

static int
fboffset_pwrite (nbdkit_next *next, void *handle, const void *buf,
                 uint32_t count, uint64_t offs, uint32_t flags, int *err)
{
  layer_log ("pwrite %" PRIu32 " %" PRIu64 " fua=%d",
             count, offs, FUA (flags));
  return next->pwrite (next, buf, count, offs + offset, flags, err);
}

static int
fboffset_zero (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offs, uint32_t flags, int *err)
{
  layer_log ("zero %" PRIu32 " %" PRIu64 " fua=%d", count, offs, FUA (flags));
  return next->zero (next, count, offs + offset, flags, err);
}

static int
fboffset_trim (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offs, uint32_t flags, int *err)
{
  layer_log ("trim %" PRIu32 " %" PRIu64 " fua=%d", count, offs, FUA (flags));
  return next->trim (next, count, offs + offset, flags, err);
}

static int
fboffset_cache (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offs, uint32_t flags, int *err)
{
  layer_log ("cache %" PRIu32 " %" PRIu64, count, offs);
  return next->cache (next, count, offs + offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "fboffset",
  .longname          = "offset test filter",
  .load              = fboffset_load,
  .unload            = fboffset_unload,
  .config            = fboffset_config,
  .config_help       = "fboffset.offset=N",
  .get_size          = fboffset_get_size,
#ifdef EMULATE_ZERO
  .can_zero          = fboffset_can_zero,
#endif
  .can_extents       = fboffset_can_extents,
  .pread             = fboffset_pread,
  .pwrite            = fboffset_pwrite,
  .zero              = fboffset_zero,
  .trim              = fboffset_trim,
  .cache             = fboffset_cache,
};

NBDKIT_REGISTER_FILTER (filter)
