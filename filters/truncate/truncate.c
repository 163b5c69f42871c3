/* blockkit: the truncate filter.
 *
 * Changes the size of the layer below: truncate=SIZE sets it, and
 * round-up=N / round-down=N round it to a multiple of N.  Bytes past the
 * real end (when the disk grows) read as zeroes; writing zeroes there is
 * accepted and does nothing, writing anything else fails with ENOSPC,
 * just as it would past the end of a real disk.  Bytes past the new end
 * (when the disk shrinks) are simply out of reach.
 *
 * The sizes are per connection (the layer below may change size between
 * connections), computed in .prepare and kept in the handle.
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

static int64_t truncate_size = -1;   /* truncate= or -1 */
static uint64_t round_up;            /* round-up= or 0 */
static uint64_t round_down;          /* round-down= or 0 */

struct handle {
  uint64_t real_size;                /* size of the layer below */
  uint64_t size;                     /* size we serve */
};

static int
parse_round (const char *key, const char *value, uint64_t *r)
{
  int64_t v = nbdkit_parse_size (value);

  if (v == -1)
    return -1;
  /* A limit keeps ROUND_UP of any sane size from overflowing. */
  if (v < 1 || !is_power_of_2 (v) || v > (INT64_C (1) << 40)) {
    nbdkit_error ("truncate filter: %s=%s must be a power of 2 between 1 "
                  "and 1T", key, value);
    return -1;
  }
  *r = v;
  return 0;
}

static int
truncate_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                 const char *key, const char *value)
{
  if (strcmp (key, "truncate") == 0) {
    truncate_size = nbdkit_parse_size (value);
    if (truncate_size == -1) {
      nbdkit_error ("truncate filter: could not parse truncate=%s", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "round-up") == 0)
    return parse_round (key, value, &round_up);
  if (strcmp (key, "round-down") == 0)
    return parse_round (key, value, &round_down);
  return next (nxdata, key, value);
}

static int
truncate_config_complete (nbdkit_next_config_complete *next,
                          nbdkit_backend *nxdata)
{
  if (round_up && round_down) {
    nbdkit_error ("truncate filter: round-up and round-down cannot be "
                  "used together");
    return -1;
  }
  return next (nxdata);
}

#define truncate_config_help \
  "truncate=<SIZE>     Make the disk exactly SIZE bytes.\n" \
  "round-up=<N>        Round the size up to a multiple of N (power of 2).\n" \
  "round-down=<N>      Round the size down to a multiple of N (power of 2)."

static void *
truncate_open (nbdkit_next_open *next, nbdkit_context *nxdata,
               int readonly, const char *exportname, int is_tls)
{
  return filter_handle_open (next, nxdata, readonly, exportname,
                             sizeof (struct handle));
}

static int
truncate_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  int64_t r = next->get_size (next);
  uint64_t size;

  if (r == -1)
    return -1;
  h->real_size = r;
  size = truncate_size >= 0 ? (uint64_t) truncate_size : h->real_size;
  if (round_up) {
    if (size > (uint64_t) INT64_MAX - round_up) {
      nbdkit_error ("truncate filter: size %" PRIu64 " rounded up to a "
                    "multiple of %" PRIu64 " is too large", size, round_up);
      return -1;
    }
    size = ROUND_UP (size, round_up);
  }
  if (round_down)
    size = ROUND_DOWN (size, round_down);
  h->size = size;
  nbdkit_debug ("truncate: real size %" PRIu64 ", serving %" PRIu64,
                h->real_size, h->size);
  return 0;
}

static int64_t
truncate_get_size (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  return h->size;
}

/* How much of [offset, offset+count) lies inside the real disk. */
static uint32_t
real_part (struct handle *h, uint32_t count, uint64_t offset)
{
  if (offset >= h->real_size)
    return 0;
  return MIN ((uint64_t) count, h->real_size - offset);
}

static bool
is_zero (const char *buf, size_t len)
{
  /* Compare the buffer with itself shifted by one: all bytes equal the
   * first, and the first is zero.
   */
  return len == 0 || (buf[0] == 0 && memcmp (buf, buf + 1, len - 1) == 0);
}

static int
truncate_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  uint32_t n = real_part (handle, count, offset);

  if (n > 0 && next->pread (next, buf, n, offset, flags, err) == -1)
    return -1;
  memset ((char *) buf + n, 0, count - n);
  return 0;
}

static int
truncate_pwrite (nbdkit_next *next, void *handle, const void *buf,
                 uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  uint32_t n = real_part (handle, count, offset);

  /* Check the part past the real end first, so a refused write changes
   * nothing at all.
   */
  if (!is_zero ((const char *) buf + n, count - n)) {
    nbdkit_error ("truncate filter: write of non-zero data past the end "
                  "of the layer below (size %" PRIu64 ")",
                  ((struct handle *) handle)->real_size);
    *err = ENOSPC;
    return -1;
  }
  if (n > 0)
    return next->pwrite (next, buf, n, offset, flags, err);
  return 0;
}

static int
truncate_trim (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  uint32_t n = real_part (handle, count, offset);

  if (n > 0)
    return next->trim (next, n, offset, flags, err);
  return 0;
}

static int
truncate_zero (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  uint32_t n = real_part (handle, count, offset);

  /* Past the real end everything reads as zero already. */
  if (n > 0)
    return next->zero (next, n, offset, flags, err);
  return 0;
}

static int
truncate_cache (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  uint32_t n = real_part (handle, count, offset);

  if (n > 0)
    return next->cache (next, n, offset, flags, err);
  return 0;
}

static int
truncate_extents (nbdkit_next *next, void *handle, uint32_t count,
                  uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents, int *err)
{
  struct handle *h = handle;
  uint32_t n = real_part (h, count, offset);

  if (n > 0) {
    /* The layer below may stop short of n: the client asks again. */
    if (next->extents (next, n, offset, flags, extents, err) == -1)
      return -1;
    if (n < count &&
        nbdkit_extents_count (extents) > 0) {
      struct nbdkit_extent last =
        nbdkit_get_extent (extents, nbdkit_extents_count (extents) - 1);
      if (last.offset + last.length < h->real_size)
        return 0;
    }
  }
  if (n < count &&
      nbdkit_add_extent (extents, offset + n, count - n,
                         NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1) {
    *err = errno ? errno : EIO;
    return -1;
  }
  return 0;
}

static int
truncate_can_fast_zero (nbdkit_next *next, void *handle)
{
  /* Our zero is the zero below, clipped: exactly as fast. */
  return next->can_fast_zero (next);
}

static struct nbdkit_filter filter = {
  .name              = "truncate",
  .longname          = "blockkit truncate filter",
  .description       = "Change the size of the layer below.",
  .config            = truncate_config,
  .config_complete   = truncate_config_complete,
  .config_help       = truncate_config_help,
  .open              = truncate_open,
  .close             = free,   /* the handle is one flat struct */
  .prepare           = truncate_prepare,
  .get_size          = truncate_get_size,
  .pread             = truncate_pread,
  .pwrite            = truncate_pwrite,
  .trim              = truncate_trim,
  .zero              = truncate_zero,
  .can_fast_zero     = truncate_can_fast_zero,
  .cache             = truncate_cache,
  .extents           = truncate_extents,
};

NBDKIT_REGISTER_FILTER (filter)
