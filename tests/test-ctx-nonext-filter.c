/* A filter that has no context below it: .open calls next and then takes
 * the context away again with nbdkit_context_set_next (context, NULL)
 * and closes it, so every callback of this filter gets next == NULL.  It
 * answers reads itself (every byte 0x5a) and every query the handshake
 * makes.  Whatever it leaves unanswered falls through to a layer that is
 * not there: the server must fail that call cleanly, never crash.  Built
 * twice: test-ctx-nonext-filter.la answers every query; with -DSIZE_ONLY
 * (test-ctx-nonext-size-filter.la) it answers only get_size and leaves
 * the other query callbacks NULL, so the handshake itself falls through.
 * Layer "nonext" in the call log (test-layer-log.h); for
 * test-filter-contexts.sh.
 */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

#define SIZE (1024 * 1024)

static void
nonext_load (void)
{
  layer_log_name ("nonext");
}

static void
nonext_unload (void)
{
  layer_log_close ();
}

static int
nonext_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  return next (nxdata, key, value);
}

static int handle;

static void *
nonext_open (nbdkit_next_open *next, nbdkit_context *context,
             int readonly, const char *exportname, int is_tls)
{
  nbdkit_next *below;

  layer_log ("open");
  if (next (context, readonly, exportname) == -1)
    return NULL;
  below = nbdkit_context_set_next (context, NULL);
  nbdkit_next_context_close (below);
  layer_log ("open: next context closed, none associated");
  return &handle;
}

static void
nonext_close (void *h)
{
  layer_log ("close");
}

static int
nonext_prepare (nbdkit_next *next, void *h, int readonly)
{
  layer_log ("prepare next=%s", next ? "set" : "NULL");
  return 0;
}

static int
nonext_finalize (nbdkit_next *next, void *h)
{
  layer_log ("finalize next=%s", next ? "set" : "NULL");
  return 0;
}

static int64_t
nonext_get_size (nbdkit_next *next, void *h)
{
  return SIZE;
}

#ifndef SIZE_ONLY
/* The handshake's queries: read-only, no flush, trim, zero, FUA, cache
 * or multi-conn, but extents claimed without an .extents callback, so
 * that a block status request falls through to the missing layer.
 */
#define ANSWER(name, value)                                     \
  static int                                                    \
  nonext_##name (nbdkit_next *next, void *h)                    \
  {                                                             \
    return value;                                               \
  }
ANSWER (can_write, 0)
ANSWER (can_flush, 0)
ANSWER (is_rotational, 0)
ANSWER (can_trim, 0)
ANSWER (can_zero, NBDKIT_ZERO_NONE)
ANSWER (can_fast_zero, 0)
ANSWER (can_extents, 1)
ANSWER (can_fua, NBDKIT_FUA_NONE)
ANSWER (can_multi_conn, 0)
ANSWER (can_cache, NBDKIT_CACHE_NONE)

static int
nonext_block_size (nbdkit_next *next, void *h,
                   uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  *minimum = *preferred = *maximum = 0;
  return 0;
}

static const char *
nonext_export_description (nbdkit_next *next, void *h)
{
  return "answered without a next context";
}
#endif /* !SIZE_ONLY */

static int
nonext_pread (nbdkit_next *next, void *h, void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  memset (buf, 0x5a, count);
  return 0;
}

static struct nbdkit_filter filter = {
  .name               = "ctxnonext",
  .longname           = "no next context test filter",
  .load               = nonext_load,
  .unload             = nonext_unload,
  .config             = nonext_config,
  .open               = nonext_open,
  .close              = nonext_close,
  .prepare            = nonext_prepare,
  .finalize           = nonext_finalize,
  .get_size           = nonext_get_size,
#ifndef SIZE_ONLY
  .export_description = nonext_export_description,
  .block_size         = nonext_block_size,
  .can_write          = nonext_can_write,
  .can_flush          = nonext_can_flush,
  .is_rotational      = nonext_is_rotational,
  .can_trim           = nonext_can_trim,
  .can_zero           = nonext_can_zero,
  .can_fast_zero      = nonext_can_fast_zero,
  .can_extents        = nonext_can_extents,
  .can_fua            = nonext_can_fua,
  .can_multi_conn     = nonext_can_multi_conn,
  .can_cache          = nonext_can_cache,
#endif
  .pread              = nonext_pread,
};

NBDKIT_REGISTER_FILTER (filter)
