/* blockkit: the offset filter.
 *
 * Serves the window [offset, offset+range) of the layer below as a whole
 * disk.  Every request is shifted by OFFSET on its way down; the server
 * has already checked it against the window's size (our .get_size), so a
 * shifted request always stays inside the window.
 *
 * Fallbacks (seed 000) never run the shift twice: this filter passes
 * can_zero, can_fua and can_cache through, so any emulation happens in
 * the layer that lacks the feature, below us, on already-shifted
 * parameters, and never re-enters this layer.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "extents-shift.h"

static uint64_t offset;         /* offset= (default 0) */
static uint64_t range;          /* range=, valid when have_range */
static bool have_range;

static int
offset_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  int64_t r;

  if (strcmp (key, "offset") == 0 || strcmp (key, "range") == 0) {
    r = nbdkit_parse_size (value);
    if (r == -1) {
      nbdkit_error ("offset filter: could not parse %s=%s", key, value);
      return -1;
    }
    if (key[0] == 'o')
      offset = r;
    else {
      range = r;
      have_range = true;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

#define offset_config_help \
  "offset=<OFFSET>     The start of the window in the layer below (default 0).\n" \
  "range=<LENGTH>      The length of the window (default: to the end)."

/* The window is checked against the real size below on every connection,
 * since the layer below (a file, say) may have changed size.
 */
static int64_t
offset_get_size (nbdkit_next *next, void *handle)
{
  int64_t real_size = next->get_size (next);

  if (real_size == -1)
    return -1;
  if (offset > (uint64_t) real_size) {
    nbdkit_error ("offset filter: offset=%" PRIu64 " is beyond the end of "
                  "the layer below (size %" PRIi64 ")", offset, real_size);
    return -1;
  }
  if (have_range) {
    if (range > (uint64_t) real_size - offset) {
      nbdkit_error ("offset filter: offset=%" PRIu64 " + range=%" PRIu64
                    " is beyond the end of the layer below (size %" PRIi64
                    ")", offset, range, real_size);
      return -1;
    }
    return range;
  }
  return real_size - offset;
}

static int
offset_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
              uint64_t offs, uint32_t flags, int *err)
{
  return next->pread (next, buf, count, offs + offset, flags, err);
}

static int
offset_pwrite (nbdkit_next *next, void *handle, const void *buf,
               uint32_t count, uint64_t offs, uint32_t flags, int *err)
{
  return next->pwrite (next, buf, count, offs + offset, flags, err);
}

static int
offset_trim (nbdkit_next *next, void *handle, uint32_t count, uint64_t offs,
             uint32_t flags, int *err)
{
  return next->trim (next, count, offs + offset, flags, err);
}

static int
offset_zero (nbdkit_next *next, void *handle, uint32_t count, uint64_t offs,
             uint32_t flags, int *err)
{
  return next->zero (next, count, offs + offset, flags, err);
}

static int
offset_cache (nbdkit_next *next, void *handle, uint32_t count, uint64_t offs,
              uint32_t flags, int *err)
{
  return next->cache (next, count, offs + offset, flags, err);
}

static int
offset_extents (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offs, uint32_t flags,
                struct nbdkit_extents *extents, int *err)
{
  return extents_shift (next, count, offs, offset, flags, extents, err);
}

static int
offset_can_fast_zero (nbdkit_next *next, void *handle)
{
  /* Our zero is the zero below, shifted: exactly as fast. */
  return next->can_fast_zero (next);
}

static struct nbdkit_filter filter = {
  .name              = "offset",
  .longname          = "blockkit offset filter",
  .description       = "Serve a window of the layer below.",
  .config            = offset_config,
  .config_help       = offset_config_help,
  .get_size          = offset_get_size,
  .pread             = offset_pread,
  .pwrite            = offset_pwrite,
  .trim              = offset_trim,
  .zero              = offset_zero,
  .can_fast_zero     = offset_can_fast_zero,
  .cache             = offset_cache,
  .extents           = offset_extents,
};

NBDKIT_REGISTER_FILTER (filter)
