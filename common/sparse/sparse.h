/* blockkit: a thread-safe sparse byte array.
 *
 * The array is a virtual run of bytes, all zero at the start, up to
 * 2^63-1 bytes long.  Memory is only spent on pages that hold data:
 *
 *   - The address space is cut into pages of SPARSE_PAGE_SIZE bytes,
 *     each allocated on first write.  A read of a missing page returns
 *     zeroes.
 *   - Pages hang off a radix tree whose interior nodes have 4096 slots
 *     (12 bits of page number each).  Its height depends on the size
 *     the array was created for, so small disks need one or two
 *     levels and a 2^63 byte disk needs four.  Interior nodes are
 *     allocated on demand too, so the metadata is proportional to the
 *     data written, never to the size.
 *   - Zeroing (and trimming) frees pages that become all zero, and any
 *     interior node that becomes empty.
 *
 * Concurrency: a read/write lock, sharded so that threads on different
 * CPUs do not bounce one cache line.  Reads and writes (even writes
 * that allocate) take their thread's shard shared; new pages and nodes
 * are published with an atomic compare-and-swap so that racing writers
 * agree on one page.  Only zeroing, which may free memory, takes every
 * shard exclusively.  New pages are written to before use, so the
 * kernel never maps the shared zero page under them (which would cost
 * a TLB shootdown on the first write).  As with any block device,
 * concurrent overlapping writes (or a read overlapping a write) may
 * see either old or new data byte by byte; the NBD protocol leaves
 * that unspecified.
 *
 * The library does not depend on the server: extents are reported
 * through a callback.
 */
#ifndef BLOCKKIT_SPARSE_H
#define BLOCKKIT_SPARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/uio.h>

#define SPARSE_PAGE_BITS 15
#define SPARSE_PAGE_SIZE (UINT64_C (1) << SPARSE_PAGE_BITS) /* 32 KiB */

/* Largest size an array can be created for. */
#define SPARSE_MAX_SIZE INT64_MAX

struct sparse_array;

/* Create an array able to hold SIZE bytes (offsets 0 .. SIZE-1).  SIZE
 * only decides the height of the tree; it can be SPARSE_MAX_SIZE.
 * Returns NULL with errno set on failure.
 */
extern struct sparse_array *sparse_array_new (uint64_t size);

/* Free the array and all its pages.  NULL is allowed. */
extern void sparse_array_free (struct sparse_array *sa);

/* Copy COUNT bytes at OFFSET into BUF.  Cannot fail. */
extern void sparse_array_read (struct sparse_array *sa,
                               void *buf, size_t count, uint64_t offset);

/* Copy COUNT bytes from BUF to OFFSET, allocating pages as needed.
 * Returns 0, or -1 with errno = ENOMEM (the data may have been
 * partly written).
 */
extern int sparse_array_write (struct sparse_array *sa,
                               const void *buf, size_t count,
                               uint64_t offset);

/* The same, but every page written is allocated even if the data is
 * all zero (nbdkit's allocators do this: explicitly written zeroes are
 * data, not a hole, in block status).
 */
extern int sparse_array_write_alloc (struct sparse_array *sa,
                                     const void *buf, size_t count,
                                     uint64_t offset);

/* Direct access to the stored bytes, for a server that moves payloads
 * straight between a socket and the pages (nbdkit_set_direct_ops in
 * nbdkit-common.h).  Points IOV[0 .. *IOVCNT) at [OFFSET, OFFSET+COUNT),
 * one entry per page, at most the *IOVCNT entries given; sets *IOVCNT
 * to the entries used and returns the bytes they cover (fewer than
 * COUNT when the vector ran out).  The pages stay in place (the lock is
 * held shared) until sparse_array_unmap, which the same thread must
 * call soon: never hold a mapping across a wait, since zeroing waits
 * for it.  Mappings nest (each map needs its unmap).  READ maps missing
 * pages to a page of zeroes (never write there); WRITE fails (-1, errno ENOENT, nothing held) if a page is
 * missing, so that the caller can keep zeroes over holes sparse by the
 * ordinary path; WRITE_ALLOC allocates missing pages (-1 with ENOMEM).
 */
#define SPARSE_MAP_READ        0
#define SPARSE_MAP_WRITE       1
#define SPARSE_MAP_WRITE_ALLOC 2
extern int64_t sparse_array_map (struct sparse_array *sa, uint64_t offset,
                                 uint64_t count, int mode,
                                 struct iovec *iov, int *iovcnt);
extern void sparse_array_unmap (struct sparse_array *sa);

/* Set COUNT bytes at OFFSET to the byte C.  C == 0 is the same as
 * sparse_array_zero.  Returns 0, or -1 with errno = ENOMEM.
 */
extern int sparse_array_fill (struct sparse_array *sa, int c,
                              uint64_t count, uint64_t offset);

/* Make COUNT bytes at OFFSET read as zero, freeing every page (and
 * interior node) that ends up all zero.  Cannot fail.
 */
extern void sparse_array_zero (struct sparse_array *sa,
                               uint64_t count, uint64_t offset);

/* Describe [OFFSET, OFFSET+COUNT) as a sequence of maximal runs of
 * allocated (data) and missing (hole, reads as zero) pages, clipped to
 * the range.  For each run, FN (OPAQUE, run_offset, run_length,
 * allocated) is called in order.  FN returns 0 to go on, 1 to stop
 * early (not an error), or -1 to fail; sparse_array_extents returns
 * -1 if FN did, else 0.
 */
typedef int (*sparse_extent_fn) (void *opaque, uint64_t offset,
                                 uint64_t length, bool allocated);
extern int sparse_array_extents (struct sparse_array *sa,
                                 uint64_t count, uint64_t offset,
                                 sparse_extent_fn fn, void *opaque);

/* True if the page holding OFFSET is missing or all zero. */
extern bool sparse_array_page_is_zero (struct sparse_array *sa,
                                       uint64_t offset);

/* Number of pages currently allocated (for tests and debugging). */
extern uint64_t sparse_array_pages (struct sparse_array *sa);

/* sparse-extents.c: a plugin's .extents callback over the array
 * (missing pages are reported as holes that read as zeroes).
 */
struct nbdkit_extents;
extern int sparse_array_plugin_extents (struct sparse_array *sa,
                                        uint32_t count, uint64_t offset,
                                        uint32_t flags,
                                        struct nbdkit_extents *extents);

/* True if the COUNT bytes at BUF are all zero (fast). */
extern bool sparse_is_zero (const void *buf, size_t count);

#endif /* BLOCKKIT_SPARSE_H */
