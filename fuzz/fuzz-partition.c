/* blockkit fuzzing: the partition filter's MBR and GPT readers.
 *
 * The fuzz input is a whole disk image (the seeds are real images made
 * by sfdisk).  Each iteration reads its partition table exactly as the
 * filter's .prepare does when a client connects, with the sector size
 * detected, then forced to 512 and to 4096 bytes, and then asks the
 * filter to choose every partition the table lists (plus a few that do
 * not exist), which checks each one against the disk and the others.
 *
 * partition.c is included rather than linked so that its static state
 * (the partition= and partition-sectorsize= settings) and its choose()
 * can be driven directly; the table readers (table.c, mbr.c, gpt.c,
 * crc32.c) are linked as they are.  The layer below is a fake next_ops
 * whose only callbacks, get_size and pread, read the input.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../filters/partition/partition.c"

struct disk {
  struct nbdkit_next_ops ops;   /* first: the filter sees only this */
  const uint8_t *data;
  size_t size;
};

static int64_t
disk_get_size (nbdkit_next *next)
{
  struct disk *d = (struct disk *) next;

  return d->size;
}

static int
disk_pread (nbdkit_next *next, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  struct disk *d = (struct disk *) next;

  /* The filter must never read past the size it was told. */
  if (offset > d->size || count > d->size - offset)
    abort ();
  memcpy (buf, d->data + offset, count);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Reads the table with sector size SS (0: detect, as the filter does),
 * then chooses each partition in it.
 */
static void
read_and_choose (struct disk *d, uint32_t ss)
{
  struct handle h;
  struct table t = { .ptr = NULL };
  unsigned numbers[] = { 1, 2, 4, 5, 6, 128, 129 };
  size_t i;
  int r;

  /* The whole of .prepare, for one partition number. */
  sector_size = ss;
  partnum = 1;
  (void) partition_prepare (&d->ops, &h, 0);

  /* Then every partition of the table. */
  if (d->size < 512)
    return;
  if (mbr_is_protective (d->data)) {
    if (ss == 0)
      ss = !gpt_signature_at (&d->ops, d->size, 512) &&
        gpt_signature_at (&d->ops, d->size, 4096) ? 4096 : 512;
    r = gpt_read (&d->ops, d->size, ss, &t);
  }
  else
    r = mbr_read (&d->ops, d->size, ss ? ss : 512, d->data, &t);
  if (r == 0) {
    for (i = 0; i < t.len; ++i) {
      partnum = t.ptr[i].number;
      if (choose (&t, d->size, &h) == 0 &&
          (h.start > d->size || h.length > d->size - h.start))
        abort ();               /* choose let a partition past the end */
    }
    for (i = 0; i < sizeof numbers / sizeof numbers[0]; ++i) {
      partnum = numbers[i];
      (void) choose (&t, d->size, &h);
    }
  }
  table_free (&t);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct disk d = {
    .ops = { .get_size = disk_get_size, .pread = disk_pread },
    .data = data,
    .size = size,
  };

  read_and_choose (&d, 0);
  read_and_choose (&d, 512);
  read_and_choose (&d, 4096);
  return 0;
}
