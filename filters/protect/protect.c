/* blockkit: the protect filter.
 *
 * Makes byte ranges of the disk read-only.  A write, trim or zero that
 * would change a byte inside a protected range fails with EPERM and
 * changes nothing.  To know whether a write would change anything, the
 * protected part of it is compared with what the layer below holds: a
 * write of identical bytes (a client rewriting a whole block that
 * happens to contain a protected boot sector, say) is allowed.
 *
 * No lock is needed around the compare and the write: protected bytes
 * can never change through this filter, so what was compared is still
 * what is there when the write goes down.
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
#include "ranges.h"

static struct ranges protected;

/* Compare at most this much at a time, to bound the memory used. */
#define CHUNK (1024 * 1024)

static void
protect_unload (void)
{
  ranges_free (&protected);
}

static int
protect_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                const char *key, const char *value)
{
  if (strcmp (key, "protect") == 0)
    return ranges_add_spec (&protected, value);
  return next (nxdata, key, value);
}

static int
protect_config_complete (nbdkit_next_config_complete *next,
                         nbdkit_backend *nxdata)
{
  size_t i;

  ranges_normalize (&protected);
  for (i = 0; i < protected.len; ++i)
    nbdkit_debug ("protect: bytes %" PRIu64 "-%" PRIu64 " are protected",
                  protected.ptr[i].first, protected.ptr[i].last);
  return next (nxdata);
}

#define protect_config_help \
  "protect=<START>-<END>  Protect bytes START to END (inclusive); repeatable.\n" \
  "protect=~<START>-<END> Protect everything except START to END."

/* Calls FN for each protected part of [offset, offset+count), with the
 * part's offset and length.  Stops at the first FN that fails.
 */
typedef int (*check_fn) (nbdkit_next *next, const void *buf,
                         uint64_t base, uint64_t offset, uint32_t count,
                         int *err);

static int
for_each_protected (nbdkit_next *next, const void *buf, uint32_t count,
                    uint64_t offset, check_fn fn, int *err)
{
  uint64_t last = offset + count - 1;
  size_t i;

  for (i = 0; i < protected.len; ++i) {
    const struct range *r = &protected.ptr[i];
    uint64_t a, b;

    if (r->first > last)
      break;                    /* sorted: nothing further overlaps */
    if (r->last < offset)
      continue;
    a = MAX (r->first, offset);
    b = MIN (r->last, last);
    if (fn (next, buf, offset, a, b - a + 1, err) == -1)
      return -1;
  }
  return 0;
}

static int
refuse (uint64_t offset, uint32_t count, int *err)
{
  nbdkit_error ("protect filter: request would change protected bytes "
                "%" PRIu64 "-%" PRIu64, offset, offset + count - 1);
  *err = EPERM;
  return -1;
}

/* The protected part [offset, offset+count) must hold exactly what BUF
 * (which starts at BASE) holds, or, with BUF NULL, zeroes.
 */
static int
check_unchanged (nbdkit_next *next, const void *buf, uint64_t base,
                 uint64_t offset, uint32_t count, int *err)
{
  char *cur = malloc (MIN (count, (uint32_t) CHUNK));
  int r = 0;

  if (cur == NULL) {
    *err = ENOMEM;
    return -1;
  }
  while (count > 0) {
    uint32_t n = MIN (count, (uint32_t) CHUNK);
    bool same;

    if (next->pread (next, cur, n, offset, 0, err) == -1) {
      r = -1;
      break;
    }
    if (buf)
      same = memcmp (cur, (const char *) buf + (offset - base), n) == 0;
    else
      same = cur[0] == 0 && memcmp (cur, cur + 1, n - 1) == 0;
    if (!same) {
      r = refuse (offset, n, err);
      break;
    }
    count -= n;
    offset += n;
  }
  free (cur);
  return r;
}

static int
check_none (nbdkit_next *next, const void *buf, uint64_t base,
            uint64_t offset, uint32_t count, int *err)
{
  return refuse (offset, count, err);
}

static int
protect_pwrite (nbdkit_next *next, void *handle, const void *buf,
                uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (for_each_protected (next, buf, count, offset, check_unchanged,
                          err) == -1)
    return -1;
  return next->pwrite (next, buf, count, offset, flags, err);
}

/* Zeroing protected bytes that already read as zero changes nothing. */
static int
protect_zero (nbdkit_next *next, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  if (for_each_protected (next, NULL, count, offset, check_unchanged,
                          err) == -1)
    return -1;
  return next->zero (next, count, offset, flags, err);
}

/* After a trim the bytes may read as anything, so any trim touching a
 * protected range is refused.
 */
static int
protect_trim (nbdkit_next *next, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  if (for_each_protected (next, NULL, count, offset, check_none,
                          err) == -1)
    return -1;
  return next->trim (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "protect",
  .longname          = "blockkit protect filter",
  .description       = "Make ranges of the disk read-only.",
  .unload            = protect_unload,
  .config            = protect_config,
  .config_complete   = protect_config_complete,
  .config_help       = protect_config_help,
  .pwrite            = protect_pwrite,
  .zero              = protect_zero,
  .trim              = protect_trim,
};

NBDKIT_REGISTER_FILTER (filter)
