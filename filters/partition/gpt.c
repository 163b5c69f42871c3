/* blockkit: the GPT partition table.
 *
 * The primary header is at LBA 1, the backup at the last LBA of the
 * disk.  A header is trusted only if its signature, its own CRC-32 and
 * the CRC-32 of its partition entry array are all right.  If the
 * primary is damaged the backup is used (that is what the backup is
 * for, and what partitioning tools do), with a message in the debug
 * log; if both are damaged the disk is refused.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "table.h"

/* Limits well above what tools create (128 entries of 128 bytes), that
 * keep a corrupt header from making us read megabytes.
 */
#define MAX_ENTRIES 4096
#define MAX_ENTRY_SIZE 4096
#define MAX_ARRAY (1024 * 1024)

static const char signature[8] = { 'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T' };

bool
gpt_signature_at (nbdkit_next *next, uint64_t disk_size, uint32_t ss)
{
  char sig[8];
  int err;

  if ((uint64_t) ss + 8 > disk_size)
    return false;
  if (next->pread (next, sig, 8, ss, 0, &err) == -1)
    return false;
  return memcmp (sig, signature, 8) == 0;
}

struct header {
  uint64_t entries_lba;
  uint32_t n_entries, entry_size;
};

/* Checks the header at LBA, and reads its entry array into *ARRAY.  On
 * failure writes why into WHY and returns -1 (without nbdkit_error: the
 * caller decides whether the other header saves the day).
 */
static int
read_header (nbdkit_next *next, uint64_t disk_size, uint32_t ss,
             uint64_t lba, struct header *h, uint8_t **array,
             char *why, size_t why_len)
{
  CLEANUP_FREE uint8_t *buf = malloc (ss);
  uint32_t hsize, crc, array_len;
  uint8_t *a;
  int err;

  *array = NULL;
  if (buf == NULL) {
    snprintf (why, why_len, "out of memory");
    return -1;
  }
  if ((lba + 1) * ss > disk_size ||
      next->pread (next, buf, ss, lba * ss, 0, &err) == -1) {
    snprintf (why, why_len, "cannot read LBA %" PRIu64, lba);
    return -1;
  }
  if (memcmp (buf, signature, 8) != 0) {
    snprintf (why, why_len, "no \"EFI PART\" signature at LBA %" PRIu64, lba);
    return -1;
  }
  hsize = le32 (buf + 12);
  if (hsize < 92 || hsize > ss) {
    snprintf (why, why_len, "header size %" PRIu32 " is invalid", hsize);
    return -1;
  }
  crc = le32 (buf + 16);
  memset (buf + 16, 0, 4);
  if (crc32_ieee (buf, hsize) != crc) {
    snprintf (why, why_len, "header CRC32 mismatch at LBA %" PRIu64, lba);
    return -1;
  }
  if (le64 (buf + 24) != lba) {
    snprintf (why, why_len, "header at LBA %" PRIu64 " says it is at LBA %"
              PRIu64, lba, le64 (buf + 24));
    return -1;
  }
  h->entries_lba = le64 (buf + 72);
  h->n_entries = le32 (buf + 80);
  h->entry_size = le32 (buf + 84);
  if (h->n_entries == 0 || h->n_entries > MAX_ENTRIES ||
      h->entry_size < 128 || h->entry_size > MAX_ENTRY_SIZE ||
      h->entry_size % 128 != 0 ||
      (uint64_t) h->n_entries * h->entry_size > MAX_ARRAY) {
    snprintf (why, why_len, "unreasonable partition array (%" PRIu32
              " entries of %" PRIu32 " bytes)", h->n_entries,
              h->entry_size);
    return -1;
  }
  array_len = h->n_entries * h->entry_size;
  if (h->entries_lba > disk_size / ss ||
      array_len > disk_size - h->entries_lba * ss) {
    snprintf (why, why_len, "partition array at LBA %" PRIu64 " is past "
              "the end of the disk", h->entries_lba);
    return -1;
  }
  a = malloc (array_len);
  if (a == NULL) {
    snprintf (why, why_len, "out of memory");
    return -1;
  }
  if (next->pread (next, a, array_len, h->entries_lba * ss, 0, &err) == -1) {
    snprintf (why, why_len, "cannot read the partition array");
    free (a);
    return -1;
  }
  if (crc32_ieee (a, array_len) != le32 (buf + 88)) {
    snprintf (why, why_len, "partition array CRC32 mismatch");
    free (a);
    return -1;
  }
  *array = a;
  return 0;
}

static bool
is_unused (const uint8_t *e)
{
  static const uint8_t zero[16];

  return memcmp (e, zero, 16) == 0;     /* the type GUID */
}

int
gpt_read (nbdkit_next *next, uint64_t disk_size, uint32_t ss,
          struct table *t)
{
  CLEANUP_FREE uint8_t *array = NULL;
  struct header h;
  char why1[128], why2[128];
  uint64_t last_lba = disk_size / ss - 1;
  uint32_t i;

  t->kind = "GPT";
  if (read_header (next, disk_size, ss, 1, &h, &array,
                   why1, sizeof why1) == -1) {
    if (disk_size / ss < 3 ||
        read_header (next, disk_size, ss, last_lba, &h, &array,
                     why2, sizeof why2) == -1) {
      nbdkit_error ("partition filter: corrupt GPT: primary header: %s; "
                    "backup header: %s", why1,
                    disk_size / ss < 3 ? "disk too small" : why2);
      return -1;
    }
    nbdkit_debug ("partition: primary GPT header is damaged (%s): using "
                  "the backup header at LBA %" PRIu64, why1, last_lba);
  }

  for (i = 0; i < h.n_entries; ++i) {
    const uint8_t *e = array + (size_t) i * h.entry_size;
    uint64_t first = le64 (e + 32), last = le64 (e + 40);

    if (is_unused (e))
      continue;
    if (last < first) {
      nbdkit_error ("partition filter: corrupt GPT: partition %" PRIu32
                    " ends (LBA %" PRIu64 ") before it starts (LBA %"
                    PRIu64 ")", i + 1, last, first);
      return -1;
    }
    if (last >= UINT64_MAX / ss) {
      nbdkit_error ("partition filter: corrupt GPT: partition %" PRIu32
                    " is impossibly large", i + 1);
      return -1;
    }
    if (table_add (t, i + 1, first * ss, (last - first + 1) * ss,
                   false) == -1)
      return -1;
  }
  return 0;
}
