/* blockkit: the cow filter's shared state (see cow.c). */
#ifndef BLOCKKIT_COW_H
#define BLOCKKIT_COW_H

#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#include "blkstore.h"
#include "trigger.h"

/* What a block of the overlay holds. */
enum {
  COW_ABSENT = 0,               /* nothing: read the layer below */
  COW_DATA = 1,                 /* the block's data is in the store */
  COW_ZERO = 2,                 /* zeroed in the overlay: reads zeroes */
  COW_TRIMMED = 3,              /* trimmed in the overlay: reads zeroes */
};

/* Configuration, and the one overlay all connections share. */
extern uint32_t cow_block_size;
extern bool cow_on_cache;
extern struct blk_trigger cow_on_read;
extern struct blkstore *cow_store;

/* Per connection: what the layer below told us in .prepare. */
struct cow_handle {
  uint64_t size;
  int below_can_cache;
  bool below_can_extents;
};

/* The data paths (cow-data.c).  Each returns 0, or -1 with *err set. */
extern int cow_read (nbdkit_next *next, struct cow_handle *h, void *buf,
                     uint32_t count, uint64_t offset, int *err);
extern int cow_write (nbdkit_next *next, struct cow_handle *h,
                      const void *buf, uint32_t count, uint64_t offset,
                      int *err);
/* Zero (TRIM false) or trim (TRIM true) in the overlay. */
extern int cow_zero (nbdkit_next *next, struct cow_handle *h,
                     uint32_t count, uint64_t offset, bool trim, int *err);
/* Copies the blocks of the range into the overlay. */
extern int cow_copy_up (nbdkit_next *next, struct cow_handle *h,
                        uint32_t count, uint64_t offset, int *err);

#endif /* BLOCKKIT_COW_H */
