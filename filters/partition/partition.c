/* blockkit: the partition filter.
 *
 * Serves one partition of a partitioned disk (MBR, including logical
 * partitions, or GPT), chosen by number.  The table is read from the
 * layer below when a client connects (.prepare), so every connection
 * sees the table as it is then; after that the filter is an offset
 * filter with the partition's start and length.
 *
 * As with the offset filter, fallbacks below never re-enter this layer
 * (can_zero, can_fua and can_cache pass through), so the shift is
 * applied exactly once (seed 000).
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "extents-shift.h"
#include "table.h"
#include "filter-handle.h"

static unsigned partnum;            /* partition=, 0 = not given */
static uint32_t sector_size;        /* partition-sectorsize=, 0 = detect */

struct handle {
  uint64_t start, length;
};

static int
partition_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                  const char *key, const char *value)
{
  if (strcmp (key, "partition") == 0) {
    if (nbdkit_parse_unsigned ("partition", value, &partnum) == -1)
      return -1;
    if (partnum == 0) {
      nbdkit_error ("partition filter: partition=%s: partitions are "
                    "numbered from 1", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "partition-sectorsize") == 0) {
    int64_t r = nbdkit_parse_size (value);

    if (r != 512 && r != 4096) {
      nbdkit_error ("partition filter: partition-sectorsize=%s: must be "
                    "512 or 4k", value);
      return -1;
    }
    sector_size = r;
    return 0;
  }
  return next (nxdata, key, value);
}

static int
partition_config_complete (nbdkit_next_config_complete *next,
                           nbdkit_backend *nxdata)
{
  if (partnum == 0) {
    nbdkit_error ("partition filter: the partition=N parameter is required");
    return -1;
  }
  return next (nxdata);
}

#define partition_config_help \
  "partition=<N>            (required) The partition number (from 1).\n" \
  "partition-sectorsize=512|4k  The table's sector size (default: detect)."

static void *
partition_open (nbdkit_next_open *next, nbdkit_context *nxdata,
                int readonly, const char *exportname, int is_tls)
{
  return filter_handle_open (next, nxdata, readonly, exportname,
                             sizeof (struct handle));
}

/* Picks partition PARTNUM from T and checks it against the disk and the
 * other partitions.
 */
static int
choose (const struct table *t, uint64_t disk_size, struct handle *h)
{
  const struct part *p = NULL;
  size_t i;

  for (i = 0; i < t->len; ++i)
    if (t->ptr[i].number == partnum)
      p = &t->ptr[i];
  if (p == NULL) {
    nbdkit_error ("partition filter: partition %u does not exist in this "
                  "%s partition table (it has %zu partition%s)",
                  partnum, t->kind, t->len, t->len == 1 ? "" : "s");
    return -1;
  }
  if (p->container) {
    nbdkit_error ("partition filter: partition %u is an extended partition "
                  "(a container for logical partitions 5 and up), not a "
                  "partition with data", partnum);
    return -1;
  }
  if (p->start > disk_size || p->length > disk_size - p->start) {
    nbdkit_error ("partition filter: partition %u (bytes %" PRIu64 "-%"
                  PRIu64 ") extends past the end of the disk (size %"
                  PRIu64 ")", partnum, p->start, p->start + p->length - 1,
                  disk_size);
    return -1;
  }
  /* A partition sharing bytes with another means a corrupt table, and
   * writing to either would damage the other.  A logical partition (5
   * and up) lies inside its container, which is not an overlap.
   */
  for (i = 0; i < t->len; ++i) {
    const struct part *q = &t->ptr[i];

    if (q == p || (q->container && p->number >= 5))
      continue;
    if (q->start < p->start + p->length && p->start < q->start + q->length) {
      nbdkit_error ("partition filter: partition %u overlaps partition %u "
                    "(corrupt partition table)", partnum, q->number);
      return -1;
    }
  }
  h->start = p->start;
  h->length = p->length;
  return 0;
}

static int
partition_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  CLEANUP_FREE uint8_t *sector0 = malloc (512);
  struct table t = { .ptr = NULL };
  int64_t size = next->get_size (next);
  uint32_t ss = sector_size;
  int r;

  if (size == -1 || sector0 == NULL)
    return -1;
  if (size < 512) {
    nbdkit_error ("partition filter: no partition table: the disk is only "
                  "%" PRIi64 " bytes", size);
    return -1;
  }
  if (read_disk (next, size, sector0, 512, 0, "first sector") == -1)
    return -1;

  if (mbr_is_protective (sector0)) {
    /* GPT says where its header is only in sectors: look at both sizes
     * unless told.
     */
    if (ss == 0)
      ss = !gpt_signature_at (next, size, 512) &&
        gpt_signature_at (next, size, 4096) ? 4096 : 512;
    r = gpt_read (next, size, ss, &t);
  }
  else
    r = mbr_read (next, size, ss ? ss : 512, sector0, &t);
  if (r == 0)
    r = choose (&t, size, h);
  if (r == 0)
    nbdkit_debug ("partition: %s partition %u: offset %" PRIu64
                  ", length %" PRIu64, t.kind, partnum, h->start, h->length);
  table_free (&t);
  return r;
}

static int64_t
partition_get_size (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  return h->length;
}

static int
partition_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
                 uint64_t offs, uint32_t flags, int *err)
{
  struct handle *h = handle;

  return next->pread (next, buf, count, offs + h->start, flags, err);
}

static int
partition_pwrite (nbdkit_next *next, void *handle, const void *buf,
                  uint32_t count, uint64_t offs, uint32_t flags, int *err)
{
  struct handle *h = handle;

  return next->pwrite (next, buf, count, offs + h->start, flags, err);
}

static int
partition_trim (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offs, uint32_t flags, int *err)
{
  struct handle *h = handle;

  return next->trim (next, count, offs + h->start, flags, err);
}

static int
partition_zero (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offs, uint32_t flags, int *err)
{
  struct handle *h = handle;

  return next->zero (next, count, offs + h->start, flags, err);
}

static int
partition_can_fast_zero (nbdkit_next *next, void *handle)
{
  /* Our zero is the zero below, shifted: exactly as fast. */
  return next->can_fast_zero (next);
}

static int
partition_cache (nbdkit_next *next, void *handle, uint32_t count,
                 uint64_t offs, uint32_t flags, int *err)
{
  struct handle *h = handle;

  return next->cache (next, count, offs + h->start, flags, err);
}

static int
partition_extents (nbdkit_next *next, void *handle, uint32_t count,
                   uint64_t offs, uint32_t flags,
                   struct nbdkit_extents *extents, int *err)
{
  struct handle *h = handle;

  return extents_shift (next, count, offs, h->start, flags, extents, err);
}

static struct nbdkit_filter filter = {
  .name              = "partition",
  .longname          = "blockkit partition filter",
  .description       = "Serve one partition of an MBR or GPT disk.",
  .config            = partition_config,
  .config_complete   = partition_config_complete,
  .config_help       = partition_config_help,
  .open              = partition_open,
  .close             = free,   /* the handle is one flat struct */
  .prepare           = partition_prepare,
  .get_size          = partition_get_size,
  .pread             = partition_pread,
  .pwrite            = partition_pwrite,
  .trim              = partition_trim,
  .zero              = partition_zero,
  .can_fast_zero     = partition_can_fast_zero,
  .cache             = partition_cache,
  .extents           = partition_extents,
};

NBDKIT_REGISTER_FILTER (filter)
