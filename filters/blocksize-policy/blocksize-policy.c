/* blockkit: the blocksize-policy filter.
 *
 * Changes the block size constraints advertised to the client
 * (blocksize-minimum, -preferred, -maximum), and with
 * blocksize-error-policy=error refuses with EINVAL, before they go any
 * further down, the requests that break them, as the NBD spec says a
 * server should.  With the default policy (allow) requests pass
 * unchecked.
 *
 * The server itself holds client requests to what the top of the chain
 * advertises, so the checks here matter most when this filter sits
 * below another (an offset or partition filter whose shift turns aligned
 * client requests into misaligned ones here).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "minmax.h"
#include "filter-handle.h"

/* The keys; 0 means "not given". */
static uint32_t cfg_min, cfg_pref, cfg_max;
static bool error_policy;

struct handle {
  uint32_t min, pref, max;
};

static int
parse_key (const char *key, const char *value, uint32_t *r)
{
  int64_t v = nbdkit_parse_size (value);

  if (v == -1)
    return -1;
  if (v < 1 || v > UINT32_MAX) {
    nbdkit_error ("blocksize-policy filter: %s=%s is out of range",
                  key, value);
    return -1;
  }
  *r = v;
  return 0;
}

static int
policy_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  if (strcmp (key, "blocksize-minimum") == 0)
    return parse_key (key, value, &cfg_min);
  if (strcmp (key, "blocksize-preferred") == 0)
    return parse_key (key, value, &cfg_pref);
  if (strcmp (key, "blocksize-maximum") == 0)
    return parse_key (key, value, &cfg_max);
  if (strcmp (key, "blocksize-error-policy") == 0) {
    if (strcmp (value, "allow") == 0)
      error_policy = false;
    else if (strcmp (value, "error") == 0)
      error_policy = true;
    else {
      nbdkit_error ("blocksize-policy filter: blocksize-error-policy=%s: "
                    "expected allow or error", value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

/* The spec's rules for each value, checked for what was given. */
static int
policy_config_complete (nbdkit_next_config_complete *next,
                        nbdkit_backend *nxdata)
{
  if (cfg_min && (!is_power_of_2 (cfg_min) || cfg_min > 65536)) {
    nbdkit_error ("blocksize-policy filter: blocksize-minimum=%" PRIu32
                  " must be a power of 2 between 1 and 64k", cfg_min);
    return -1;
  }
  if (cfg_pref && (!is_power_of_2 (cfg_pref) || cfg_pref < 512 ||
                   cfg_pref > 32 * 1024 * 1024)) {
    nbdkit_error ("blocksize-policy filter: blocksize-preferred=%" PRIu32
                  " must be a power of 2 between 512 and 32M", cfg_pref);
    return -1;
  }
  if (cfg_min && cfg_pref && cfg_pref < cfg_min) {
    nbdkit_error ("blocksize-policy filter: blocksize-preferred=%" PRIu32
                  " is smaller than blocksize-minimum=%" PRIu32,
                  cfg_pref, cfg_min);
    return -1;
  }
  if (cfg_max && cfg_max != UINT32_MAX &&
      ((cfg_min && cfg_max % cfg_min) || (cfg_pref && cfg_max < cfg_pref) ||
       cfg_max < 512)) {
    nbdkit_error ("blocksize-policy filter: blocksize-maximum=%" PRIu32
                  " must be at least 512, at least blocksize-preferred and "
                  "a multiple of blocksize-minimum", cfg_max);
    return -1;
  }
  return next (nxdata);
}

#define policy_config_help \
  "blocksize-minimum=<SIZE>      Advertise this minimum block size.\n" \
  "blocksize-preferred=<SIZE>    Advertise this preferred block size.\n" \
  "blocksize-maximum=<SIZE>      Advertise this maximum payload size.\n" \
  "blocksize-error-policy=allow|error  Refuse requests breaking them?"

static void *
policy_open (nbdkit_next_open *next, nbdkit_context *nxdata,
             int readonly, const char *exportname, int is_tls)
{
  return filter_handle_open (next, nxdata, readonly, exportname,
                             sizeof (struct handle));
}

/* The values for this connection: the layer below's, with the keys
 * laid over them and made consistent again.
 */
static int
policy_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  uint32_t min, pref, max;

  if (next->block_size (next, &min, &pref, &max) == -1)
    return -1;
  if (min == 0) {               /* no constraints below: the defaults */
    min = 1;
    pref = 4096;
    max = UINT32_MAX;
  }
  if (cfg_min)
    min = cfg_min;
  if (cfg_pref)
    pref = cfg_pref;
  else
    pref = MAX (pref, min);
  if (cfg_max)
    max = cfg_max;
  else if (max != UINT32_MAX)
    max = ROUND_DOWN (max, min);
  if (pref < 512)
    pref = 512;
  if (max < pref) {
    nbdkit_error ("blocksize-policy filter: the preferred block size %"
                  PRIu32 " is larger than the maximum %" PRIu32
                  " (from the layer below or the keys)", pref, max);
    return -1;
  }
  h->min = min;
  h->pref = pref;
  h->max = max;
  return 0;
}

static int
policy_block_size (nbdkit_next *next, void *handle, uint32_t *minimum,
                   uint32_t *preferred, uint32_t *maximum)
{
  struct handle *h = handle;

  *minimum = h->min;
  *preferred = h->pref;
  *maximum = h->max;
  return 0;
}

/* With the error policy: the spec's EINVAL for a request not aligned to
 * the minimum (a short request ending at the end of the disk is fine,
 * as the server allows too) or, when it carries a payload, larger than
 * the maximum.
 */
static bool
refused (nbdkit_next *next, struct handle *h, const char *what,
         bool payload, uint32_t count, uint64_t offset, int *err)
{
  if (!error_policy)
    return false;
  if (payload && count > h->max) {
    nbdkit_debug ("blocksize-policy: %s of %" PRIu32 " bytes is larger "
                  "than the maximum %" PRIu32, what, count, h->max);
    *err = EINVAL;
    return true;
  }
  if (offset % h->min ||
      (count % h->min &&
       offset + count != (uint64_t) next->get_size (next))) {
    nbdkit_debug ("blocksize-policy: %s at %" PRIu64 " of %" PRIu32
                  " bytes is not aligned to %" PRIu32,
                  what, offset, count, h->min);
    *err = EINVAL;
    return true;
  }
  return false;
}

static int
policy_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  if (refused (next, handle, "read", true, count, offset, err))
    return -1;
  return next->pread (next, buf, count, offset, flags, err);
}

static int
policy_pwrite (nbdkit_next *next, void *handle, const void *buf,
               uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (refused (next, handle, "write", true, count, offset, err))
    return -1;
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
policy_trim (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if (refused (next, handle, "trim", false, count, offset, err))
    return -1;
  return next->trim (next, count, offset, flags, err);
}

static int
policy_zero (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if (refused (next, handle, "zero", false, count, offset, err))
    return -1;
  return next->zero (next, count, offset, flags, err);
}

static int
policy_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

static int
policy_cache (nbdkit_next *next, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  if (refused (next, handle, "cache", false, count, offset, err))
    return -1;
  return next->cache (next, count, offset, flags, err);
}

static int
policy_extents (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags,
                struct nbdkit_extents *extents, int *err)
{
  if (refused (next, handle, "block status", false, count, offset, err))
    return -1;
  return next->extents (next, count, offset, flags, extents, err);
}

static struct nbdkit_filter filter = {
  .name              = "blocksize-policy",
  .longname          = "blockkit blocksize-policy filter",
  .description       = "Set and enforce the advertised block sizes.",
  .config            = policy_config,
  .config_complete   = policy_config_complete,
  .config_help       = policy_config_help,
  .open              = policy_open,
  .close             = free,   /* the handle is one flat struct */
  .prepare           = policy_prepare,
  .block_size        = policy_block_size,
  .pread             = policy_pread,
  .pwrite            = policy_pwrite,
  .trim              = policy_trim,
  .zero              = policy_zero,
  .can_fast_zero     = policy_can_fast_zero,
  .cache             = policy_cache,
  .extents           = policy_extents,
};

NBDKIT_REGISTER_FILTER (filter)
