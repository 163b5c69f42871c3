/* blockkit: the cow filter's data paths.
 *
 * Every change to a block of the overlay (its state or its bytes) is made
 * holding that block's lock, so a read-modify-write of a partial block
 * never races another change of the same block.  Plain reads take no
 * lock: a block's state only moves to DATA after its bytes are in the
 * store, and a read that overlaps a concurrent write may see either
 * version, as NBD allows.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "blkstore.h"
#include "cleanup.h"
#include "cow.h"
#include "minmax.h"

/* A block-sized scratch buffer, allocated on first need. */
static char *
scratch (char **block, int *err)
{
  if (*block == NULL) {
    *block = malloc (cow_block_size);
    if (*block == NULL) {
      nbdkit_error ("cow: malloc: %m");
      *err = ENOMEM;
    }
  }
  return *block;
}

/* Where block BLK's data ends: the block's end, or the export's. */
static uint64_t
block_data_end (const struct cow_handle *h, uint64_t blk)
{
  return MIN ((blk + 1) * cow_block_size, h->size);
}

/* Reads block BLK from the layer below into BLOCK; the part past the end
 * of the export reads as zeroes.
 */
static int
read_below (nbdkit_next *next, const struct cow_handle *h, uint64_t blk,
            char *block, int *err)
{
  uint64_t start = blk * cow_block_size;
  uint64_t end = block_data_end (h, blk);
  uint32_t n = end > start ? end - start : 0;

  if (n > 0 && next->pread (next, block, n, start, 0, err) == -1)
    return -1;
  memset (block + n, 0, cow_block_size - n);
  return 0;
}

/* With BLK's lock held: makes sure BLK belongs to the overlay, copying it
 * from below if it is absent, and leaves its contents in BLOCK.
 */
static int
copy_up_locked (nbdkit_next *next, const struct cow_handle *h, uint64_t blk,
                char *block, int *err)
{
  switch (blkstore_get (cow_store, blk)) {
  case COW_DATA:
    if (blkstore_read (cow_store, blk, block) == -1) {
      *err = errno;
      return -1;
    }
    return 0;
  case COW_ZERO:
  case COW_TRIMMED:
    memset (block, 0, cow_block_size);
    return 0;
  default:
    if (read_below (next, h, blk, block, err) == -1)
      return -1;
    if (blkstore_write (cow_store, blk, block) == -1) {
      *err = errno;
      return -1;
    }
    blkstore_set (cow_store, blk, COW_DATA);
    return 0;
  }
}

int
cow_read (nbdkit_next *next, struct cow_handle *h, void *buf,
          uint32_t count, uint64_t offset, int *err)
{
  CLEANUP_FREE char *block = NULL;
  /* Asked once per request, so a request is copied up all or nothing. */
  const bool copy = blk_trigger_active (&cow_on_read);
  char *p = buf;

  while (count > 0) {
    uint64_t blk = offset / cow_block_size;
    uint32_t blkoff = offset % cow_block_size;
    uint32_t n = MIN (cow_block_size - blkoff, count);
    unsigned state = blkstore_get (cow_store, blk);
    int r = 0;

    if (state == COW_DATA) {
      if (blkstore_read_part (cow_store, blk, p, n, blkoff) == -1) {
        *err = errno;
        return -1;
      }
    }
    else if (state == COW_ZERO || state == COW_TRIMMED)
      memset (p, 0, n);
    else if (copy) {
      if (scratch (&block, err) == NULL)
        return -1;
      blkstore_lock (cow_store, blk);
      r = copy_up_locked (next, h, blk, block, err);
      blkstore_unlock (cow_store, blk);
      if (r == -1)
        return -1;
      memcpy (p, block + blkoff, n);
    }
    else {
      /* A run of absent blocks is one read below. */
      while (n < count &&
             blkstore_get (cow_store, (offset + n) / cow_block_size) ==
             COW_ABSENT)
        n += MIN (cow_block_size, count - n);
      if (next->pread (next, p, n, offset, 0, err) == -1)
        return -1;
    }
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* Is [offset, offset+n) (within block BLK) all of the block's data? */
static bool
covers_block (const struct cow_handle *h, uint64_t blk, uint32_t blkoff,
              uint64_t offset, uint32_t n)
{
  return blkoff == 0 && offset + n >= block_data_end (h, blk);
}

/* With BLK's lock held: writes N bytes of BUF at BLKOFF into block BLK. */
static int
write_block_locked (nbdkit_next *next, const struct cow_handle *h,
                    uint64_t blk, uint32_t blkoff, uint64_t offset,
                    const char *buf, uint32_t n, char **block, int *err)
{
  unsigned state = blkstore_get (cow_store, blk);
  int r;

  if (n == cow_block_size)
    r = blkstore_write (cow_store, blk, buf);
  else if (state == COW_DATA)
    r = blkstore_write_part (cow_store, blk, buf, n, blkoff);
  else {
    /* Build the whole block: the rest comes from below, or is zero. */
    if (scratch (block, err) == NULL)
      return -1;
    if (state == COW_ABSENT && !covers_block (h, blk, blkoff, offset, n)) {
      if (read_below (next, h, blk, *block, err) == -1)
        return -1;
    }
    else
      memset (*block, 0, cow_block_size);
    memcpy (*block + blkoff, buf, n);
    r = blkstore_write (cow_store, blk, *block);
  }
  if (r == -1) {
    *err = errno;
    return -1;
  }
  blkstore_set (cow_store, blk, COW_DATA);
  return 0;
}

int
cow_write (nbdkit_next *next, struct cow_handle *h, const void *buf,
           uint32_t count, uint64_t offset, int *err)
{
  CLEANUP_FREE char *block = NULL;
  const char *p = buf;

  while (count > 0) {
    uint64_t blk = offset / cow_block_size;
    uint32_t blkoff = offset % cow_block_size;
    uint32_t n = MIN (cow_block_size - blkoff, count);
    int r;

    blkstore_lock (cow_store, blk);
    r = write_block_locked (next, h, blk, blkoff, offset, p, n, &block, err);
    blkstore_unlock (cow_store, blk);
    if (r == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* With BLK's lock held: zero or trim part or all of block BLK. */
static int
zero_block_locked (nbdkit_next *next, const struct cow_handle *h,
                   uint64_t blk, uint32_t blkoff, uint64_t offset,
                   uint32_t n, bool trim, char **zeroes, char **block,
                   int *err)
{
  unsigned state = blkstore_get (cow_store, blk);

  if (covers_block (h, blk, blkoff, offset, n)) {
    /* The whole block: only its state changes, and its space is freed. */
    blkstore_set (cow_store, blk, trim ? COW_TRIMMED : COW_ZERO);
    if (state == COW_DATA)
      blkstore_discard (cow_store, blk);
    return 0;
  }
  /* Part of a block.  Trim is advisory, and keeping the data is the
   * simplest valid answer; zeroes in a zero block are already there.
   */
  if (trim || state == COW_ZERO || state == COW_TRIMMED)
    return 0;
  if (*zeroes == NULL) {
    *zeroes = calloc (1, cow_block_size);
    if (*zeroes == NULL) {
      nbdkit_error ("cow: calloc: %m");
      *err = ENOMEM;
      return -1;
    }
  }
  return write_block_locked (next, h, blk, blkoff, offset, *zeroes, n,
                             block, err);
}

int
cow_zero (nbdkit_next *next, struct cow_handle *h, uint32_t count,
          uint64_t offset, bool trim, int *err)
{
  CLEANUP_FREE char *block = NULL;
  CLEANUP_FREE char *zeroes = NULL;

  while (count > 0) {
    uint64_t blk = offset / cow_block_size;
    uint32_t blkoff = offset % cow_block_size;
    uint32_t n = MIN (cow_block_size - blkoff, count);
    int r;

    blkstore_lock (cow_store, blk);
    r = zero_block_locked (next, h, blk, blkoff, offset, n, trim, &zeroes,
                           &block, err);
    blkstore_unlock (cow_store, blk);
    if (r == -1)
      return -1;
    offset += n;
    count -= n;
  }
  return 0;
}

int
cow_copy_up (nbdkit_next *next, struct cow_handle *h, uint32_t count,
             uint64_t offset, int *err)
{
  CLEANUP_FREE char *block = NULL;
  uint64_t blk = offset / cow_block_size;
  uint64_t last = (offset + count - 1) / cow_block_size;

  if (count == 0)
    return 0;
  for (; blk <= last; ++blk) {
    int r;

    if (blkstore_get (cow_store, blk) != COW_ABSENT)
      continue;
    if (scratch (&block, err) == NULL)
      return -1;
    blkstore_lock (cow_store, blk);
    r = copy_up_locked (next, h, blk, block, err);
    blkstore_unlock (cow_store, blk);
    if (r == -1)
      return -1;
  }
  return 0;
}
