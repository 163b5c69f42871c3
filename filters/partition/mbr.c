/* blockkit: the MBR (DOS) partition table.
 *
 * Sector 0 holds four primary entries (16 bytes each from byte 446) and
 * the signature 0x55 0xAA at bytes 510-511.  An extended partition holds
 * a chain of EBRs: each EBR's first entry is one logical partition (its
 * start relative to that EBR), its second entry points to the next EBR
 * (relative to the start of the extended partition).  Logical partitions
 * are numbered from 5 in chain order, as Linux does.
 */
#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "table.h"

/* More than any real table; stops a loop in a corrupt chain. */
#define MAX_LOGICAL 1024

struct entry {
  uint8_t type;
  uint32_t start, count;        /* in sectors */
};

static struct entry
entry (const uint8_t *sector, int i)
{
  const uint8_t *p = sector + 446 + 16 * i;

  return (struct entry) { .type = p[4], .start = le32 (p + 8),
                          .count = le32 (p + 12) };
}

static bool
has_signature (const uint8_t *sector)
{
  return sector[510] == 0x55 && sector[511] == 0xaa;
}

static bool
is_extended (uint8_t type)
{
  return type == 0x05 || type == 0x0f || type == 0x85;
}

bool
mbr_is_protective (const uint8_t *sector0)
{
  int i;

  if (!has_signature (sector0))
    return false;
  for (i = 0; i < 4; ++i)
    if (entry (sector0, i).type == 0xee)
      return true;
  return false;
}

static int
read_logical (nbdkit_next *next, uint64_t disk_size, uint32_t ss,
              const struct entry *ext, struct table *t)
{
  CLEANUP_FREE uint8_t *ebr = malloc (512);
  uint64_t ebr_lba = ext->start;
  unsigned number = 5;

  if (ebr == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  for (;;) {
    struct entry logical, link;

    if (number - 5 >= MAX_LOGICAL) {
      nbdkit_error ("partition filter: more than %d logical partitions: "
                    "the extended partition's chain of EBRs loops",
                    MAX_LOGICAL);
      return -1;
    }
    if (read_disk (next, disk_size, ebr, 512, ebr_lba * ss,
                   "extended boot record") == -1)
      return -1;
    if (!has_signature (ebr)) {
      nbdkit_error ("partition filter: the extended boot record at sector "
                    "%" PRIu64 " has no 0x55AA signature (corrupt chain)",
                    ebr_lba);
      return -1;
    }
    logical = entry (ebr, 0);
    link = entry (ebr, 1);
    /* An empty first EBR means an extended partition without logicals. */
    if (logical.type != 0 && logical.count != 0) {
      if (table_add (t, number, (ebr_lba + logical.start) * ss,
                     (uint64_t) logical.count * ss, false) == -1)
        return -1;
      number++;
    }
    if (link.type == 0 || link.count == 0)
      return 0;
    if (link.start == 0 || link.start >= ext->count) {
      nbdkit_error ("partition filter: an extended boot record points "
                    "outside the extended partition (corrupt chain)");
      return -1;
    }
    ebr_lba = (uint64_t) ext->start + link.start;
  }
}

int
mbr_read (nbdkit_next *next, uint64_t disk_size, uint32_t ss,
          const uint8_t *sector0, struct table *t)
{
  const struct entry *ext = NULL;
  struct entry e[4];
  int i;

  t->kind = "MBR";
  if (!has_signature (sector0)) {
    nbdkit_error ("partition filter: no partition table: sector 0 has no "
                  "MBR signature (0x55AA at byte 510) and no GPT");
    return -1;
  }
  for (i = 0; i < 4; ++i) {
    e[i] = entry (sector0, i);
    if (e[i].type == 0 || e[i].count == 0)
      continue;
    if (table_add (t, i + 1, (uint64_t) e[i].start * ss,
                   (uint64_t) e[i].count * ss,
                   is_extended (e[i].type)) == -1)
      return -1;
    if (is_extended (e[i].type) && ext == NULL)
      ext = &e[i];
  }
  if (ext)
    return read_logical (next, disk_size, ss, ext, t);
  return 0;
}
