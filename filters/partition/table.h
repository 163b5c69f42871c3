/* blockkit: what the partition filter's table readers share. */
#ifndef BLOCKKIT_PARTITION_TABLE_H
#define BLOCKKIT_PARTITION_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-filter.h>

/* One partition, in bytes. */
struct part {
  unsigned number;              /* 1-based, as Linux numbers them */
  uint64_t start, length;
  bool container;               /* an MBR extended partition */
};

/* The partitions found in a table. */
struct table {
  struct part *ptr;
  size_t len;
  const char *kind;             /* "MBR" or "GPT" */
};

extern int table_add (struct table *t, unsigned number,
                      uint64_t start, uint64_t length, bool container);
extern void table_free (struct table *t);

/* Reads COUNT bytes at OFFSET from NEXT, refusing (with an error that
 * says WHAT was being read) anything past DISK_SIZE.  Returns 0 or -1.
 */
extern int read_disk (nbdkit_next *next, uint64_t disk_size,
                      void *buf, uint32_t count, uint64_t offset,
                      const char *what);

/* Little-endian fields of on-disk structures. */
static inline uint32_t
le32 (const uint8_t *p)
{
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t) p[3] << 24);
}

static inline uint64_t
le64 (const uint8_t *p)
{
  return le32 (p) | ((uint64_t) le32 (p + 4) << 32);
}

/* The readers: fill T with every partition the table describes.
 * SECTOR0 is the first 512 bytes of the disk.  Return 0 or -1 after
 * nbdkit_error.
 */
extern int mbr_read (nbdkit_next *next, uint64_t disk_size,
                     uint32_t sector_size, const uint8_t *sector0,
                     struct table *t);
extern int gpt_read (nbdkit_next *next, uint64_t disk_size,
                     uint32_t sector_size, struct table *t);

/* True if sector 0 is a protective MBR (a GPT disk). */
extern bool mbr_is_protective (const uint8_t *sector0);
/* True if the GPT header signature is at SECTOR_SIZE. */
extern bool gpt_signature_at (nbdkit_next *next, uint64_t disk_size,
                              uint32_t sector_size);

extern uint32_t crc32_ieee (const void *buf, size_t len);

#endif /* BLOCKKIT_PARTITION_TABLE_H */
