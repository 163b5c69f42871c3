/* blockkit: a block store shared by the cow and cache filters.
 *
 * Fixed-size blocks live in a temporary file (made with mkstemp in
 * $TMPDIR, or /var/tmp when that is unset, and unlinked at once, so it
 * vanishes with the process), and an in-memory map records the state of
 * every block (2 bits: see blkmap.h).  The map grows as the export is
 * seen to be larger; it never shrinks.
 *
 * Thread safety: the map is guarded by the store's own mutex, so
 * blkstore_get/set/count may be called from any thread.  Reading and
 * writing block contents use pread/pwrite on the file and need no lock.
 * On top of that the store offers block locks (a fixed table of mutexes
 * chosen by block number) which the filters hold around every
 * read-modify-write or state change of a block, so that two requests on
 * the same block never interleave.  A thread holds either one block lock
 * or one range of them (blkstore_lock_range, which takes its locks in a
 * fixed order), and takes any other only with blkstore_trylock, so no two
 * threads can wait for each other.
 */
#ifndef BLOCKKIT_BLKSTORE_H
#define BLOCKKIT_BLKSTORE_H

#include <stdbool.h>
#include <stdint.h>

struct blkstore;

#define BLKSTORE_MIN_BLOCK_SIZE 4096
#define BLKSTORE_MAX_BLOCK_SIZE (32 * 1024 * 1024)

/* Parses a block size for KEY (power of 2, 4K..32M) into *SIZE.
 * Returns 0, or -1 after nbdkit_error naming the key and the value.
 */
extern int blkstore_parse_block_size (const char *key, const char *value,
                                      uint32_t *size);

/* Creates a store of BLKSIZE-byte blocks.  WHO (the filter's name)
 * appears in the temporary file's name and in error messages.  Returns
 * NULL after nbdkit_error.
 */
extern struct blkstore *blkstore_new (const char *who, uint32_t blksize);
extern void blkstore_free (struct blkstore *bs);

extern uint32_t blkstore_block_size (const struct blkstore *bs);

/* Records that the export is at least SIZE bytes and grows the map to
 * cover it.  Returns 0, or -1 after nbdkit_error.
 */
extern int blkstore_set_size (struct blkstore *bs, uint64_t size);
/* The largest size seen (the data of the last block may end before the
 * block does).
 */
extern uint64_t blkstore_size (struct blkstore *bs);
extern uint64_t blkstore_nblocks (struct blkstore *bs);

extern unsigned blkstore_get (struct blkstore *bs, uint64_t blk);
extern void blkstore_set (struct blkstore *bs, uint64_t blk, unsigned state);
/* How many blocks are in STATE. */
extern uint64_t blkstore_count (struct blkstore *bs, unsigned state);

/* Reads or writes the whole of block BLK in the file.  Return 0, or -1
 * with errno set (and nbdkit_error called).
 */
extern int blkstore_read (struct blkstore *bs, uint64_t blk, void *buf);
extern int blkstore_write (struct blkstore *bs, uint64_t blk,
                           const void *buf);
/* The same for COUNT bytes at BLKOFF within the block. */
extern int blkstore_read_part (struct blkstore *bs, uint64_t blk, void *buf,
                               uint32_t count, uint32_t blkoff);
extern int blkstore_write_part (struct blkstore *bs, uint64_t blk,
                                const void *buf, uint32_t count,
                                uint32_t blkoff);
/* Gives the file space of BLK back to the filesystem, leaving zeroes.
 * Returns -1 where the filesystem cannot punch holes: then the space, and
 * the old bytes, stay (which is harmless for a block whose state says it
 * is not in the store).
 */
extern int blkstore_discard (struct blkstore *bs, uint64_t blk);
/* Makes block BLK read as zeroes: a hole if possible, else written
 * zeroes.  Returns 0, or -1 with errno set (and nbdkit_error called).
 */
extern int blkstore_zero (struct blkstore *bs, uint64_t blk);
/* Bytes the temporary file really occupies on disk. */
extern uint64_t blkstore_allocated (struct blkstore *bs);

/* Block locks (see above). */
extern void blkstore_lock (struct blkstore *bs, uint64_t blk);
/* The locks of N consecutive blocks from BLK, taken in an order that
 * cannot deadlock with another range; N at most BLKSTORE_MAX_LOCK_RANGE
 * (then no two of the blocks share a lock).
 */
#define BLKSTORE_MAX_LOCK_RANGE 256
extern void blkstore_lock_range (struct blkstore *bs, uint64_t blk,
                                 uint32_t n);
extern void blkstore_unlock_range (struct blkstore *bs, uint64_t blk,
                                   uint32_t n);
extern bool blkstore_trylock (struct blkstore *bs, uint64_t blk);
extern void blkstore_unlock (struct blkstore *bs, uint64_t blk);
/* True if BLK and OTHER share one lock. */
extern bool blkstore_same_lock (struct blkstore *bs,
                                uint64_t blk, uint64_t other);

#endif /* BLOCKKIT_BLKSTORE_H */
