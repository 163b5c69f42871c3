/* A filter that appends every callback it receives to the call log
 * (test-layer-log.h) and otherwise passes everything on, for
 * test-filter-order.sh.  The same source is built once per layer with
 * -DLAYER_NAME=\"a\", \"b\", ...: the filter is then called "order-a",
 * logs as layer "a", and claims only the keys that start with "a.":
 *
 *   a.tag=ANY          claimed and ignored (proves config chaining)
 *   a.serialize=BOOL   .thread_model says serialize_requests
 *   a.failprepare=BOOL .prepare fails
 *
 * Every other key is logged and passed down, including orderlog=PATH,
 * which the filter also reads to find the log on the way.  Each callback
 * logs on entry, before it calls the layer below, so the log shows the
 * order in which the server and the layers above call in.  The queries
 * (get_size, can_*) are left NULL and so pass through unlogged.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

#ifndef LAYER_NAME
#error "build with -DLAYER_NAME=\"...\""
#endif

static bool serialize;
static bool failprepare;

static void
order_load (void)
{
  layer_log_name (LAYER_NAME);
  layer_log ("load");
}

static void
order_unload (void)
{
  layer_log ("unload");
  layer_log_close ();
}

static int
order_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  const size_t plen = strlen (LAYER_NAME);

  layer_log ("config %s", key);
  if (layer_log_config (key, value) == -1)
    return -1;
  if (strncmp (key, LAYER_NAME, plen) != 0 || key[plen] != '.')
    return next (nxdata, key, value);

  if (strcmp (key + plen, ".tag") == 0)
    return 0;
  if (strcmp (key + plen, ".serialize") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    serialize = r;
    return 0;
  }
  if (strcmp (key + plen, ".failprepare") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    failprepare = r;
    return 0;
  }
  nbdkit_error ("order-%s: unknown parameter %s=%s", LAYER_NAME, key, value);
  return -1;
}

static int
order_config_complete (nbdkit_next_config_complete *next,
                       nbdkit_backend *nxdata)
{
  layer_log ("config_complete");
  return next (nxdata);
}

static int
order_thread_model (void)
{
  layer_log ("thread_model");
  return serialize ? NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS
    : NBDKIT_THREAD_MODEL_PARALLEL;
}

static int
order_get_ready (int thread_model)
{
  layer_log ("get_ready thread_model=%d", thread_model);
  return 0;
}

static int
order_after_fork (nbdkit_backend *backend)
{
  layer_log ("after_fork");
  return 0;
}

static void
order_cleanup (nbdkit_backend *backend)
{
  layer_log ("cleanup");
}

static int
order_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                  int readonly)
{
  layer_log ("preconnect");
  return next (nxdata, readonly);
}

static int
order_list_exports (nbdkit_next_list_exports *next, nbdkit_backend *nxdata,
                    int readonly, int is_tls,
                    struct nbdkit_exports *exports)
{
  layer_log ("list_exports");
  return next (nxdata, readonly, exports);
}

static const char *
order_default_export (nbdkit_next_default_export *next,
                      nbdkit_backend *nxdata, int readonly, int is_tls)
{
  layer_log ("default_export");
  return next (nxdata, readonly);
}

static int handle;

static void *
order_open (nbdkit_next_open *next, nbdkit_context *context,
            int readonly, const char *exportname, int is_tls)
{
  layer_log ("open readonly=%d", readonly);
  if (next (context, readonly, exportname) == -1)
    return NULL;
  return &handle;
}

static void
order_close (void *h)
{
  layer_log ("close");
}

static int
order_prepare (nbdkit_next *next, void *h, int readonly)
{
  layer_log ("prepare readonly=%d", readonly);
  if (failprepare) {
    nbdkit_error ("order-%s: prepare fails, as asked", LAYER_NAME);
    return -1;
  }
  return 0;
}

static int
order_finalize (nbdkit_next *next, void *h)
{
  layer_log ("finalize");
  return 0;
}

#define FUA(flags) (!!((flags) & NBDKIT_FLAG_FUA))

static int
order_pread (nbdkit_next *next, void *h, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("pread %" PRIu32 " %" PRIu64, count, offset);
  return next->pread (next, buf, count, offset, flags, err);
}

static int
order_pwrite (nbdkit_next *next, void *h, const void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("pwrite %" PRIu32 " %" PRIu64 " fua=%d",
             count, offset, FUA (flags));
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
order_flush (nbdkit_next *next, void *h, uint32_t flags, int *err)
{
  layer_log ("flush");
  return next->flush (next, flags, err);
}

static int
order_trim (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  layer_log ("trim %" PRIu32 " %" PRIu64 " fua=%d",
             count, offset, FUA (flags));
  return next->trim (next, count, offset, flags, err);
}

static int
order_zero (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  layer_log ("zero %" PRIu32 " %" PRIu64 " fua=%d",
             count, offset, FUA (flags));
  return next->zero (next, count, offset, flags, err);
}

static int
order_cache (nbdkit_next *next, void *h, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  layer_log ("cache %" PRIu32 " %" PRIu64, count, offset);
  return next->cache (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "order-" LAYER_NAME,
  .longname          = "callback order test filter " LAYER_NAME,
  .load              = order_load,
  .unload            = order_unload,
  .config            = order_config,
  .config_complete   = order_config_complete,
  .config_help       = LAYER_NAME ".tag=ANY  " LAYER_NAME ".serialize=BOOL  "
                       LAYER_NAME ".failprepare=BOOL",
  .thread_model      = order_thread_model,
  .get_ready         = order_get_ready,
  .after_fork        = order_after_fork,
  .cleanup           = order_cleanup,
  .preconnect        = order_preconnect,
  .list_exports      = order_list_exports,
  .default_export    = order_default_export,
  .open              = order_open,
  .close             = order_close,
  .prepare           = order_prepare,
  .finalize          = order_finalize,
  .pread             = order_pread,
  .pwrite            = order_pwrite,
  .flush             = order_flush,
  .trim              = order_trim,
  .zero              = order_zero,
  .cache             = order_cache,
};

NBDKIT_REGISTER_FILTER (filter)
