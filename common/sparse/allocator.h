/* blockkit: allocators, the ways the memory and data plugins keep a
 * disk in RAM, chosen with allocator= as in nbdkit:
 *
 *   sparse                 the sparse array (sparse.h): pages of 32 KiB
 *                          allocated on write, up to 2^63-1 bytes;
 *   malloc[,mlock=true]    one flat region of anonymous memory, grown as
 *                          writes reach further, optionally locked in RAM;
 *   zstd                   pages of 32 KiB like sparse, each one kept
 *                          compressed with zstd (only if built with
 *                          libzstd).
 *
 * The plugins only see this interface.  Each behaves as nbdkit's
 * allocator of the same name does, as far as a client can see: reads
 * of never written bytes return zeroes; zeroing a range frees the
 * pages it covers whole, and sparse also frees a partly zeroed page
 * that becomes all zero (zstd keeps it, as nbdkit's does); block
 * status reports pages that are allocated but all zero as "zero" (not
 * a hole), missing pages as "hole, zero" and the rest as data; malloc
 * reports everything as data.
 *
 * Every function returns 0 or -1 after calling nbdkit_error (and
 * setting errno).
 */
#ifndef BLOCKKIT_ALLOCATOR_H
#define BLOCKKIT_ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/uio.h>

struct allocator;
struct nbdkit_extents;

/* Called for each run of one type, in order; returns 0 to go on, 1 to
 * stop early (not an error) or -1 to fail.  TYPE is a combination of
 * NBDKIT_EXTENT_HOLE and NBDKIT_EXTENT_ZERO.
 */
typedef int (*allocator_extent_fn) (void *opaque, uint64_t offset,
                                    uint64_t length, uint32_t type);

struct allocator_functions {
  const char *name;
  /* When the data plugin copies a group (or name, repeat...) into
   * this allocator, zero pages are written as data rather than zeroed:
   * nbdkit's zstd allocator does this, its sparse one zeroes.
   */
  bool copy_zeroes_as_data;
  void (*free) (struct allocator *a);
  /* The disk will be SIZE bytes: malloc allocates (and locks) it now,
   * so that running out of memory is a startup error, not a write
   * error later.  The page-based allocators ignore it.
   */
  int (*set_size_hint) (struct allocator *a, uint64_t size);
  int (*read) (struct allocator *a, void *buf, uint64_t count,
               uint64_t offset);
  /* Store bytes.  With KEEP_HOLES, zeroes written where nothing is
   * allocated yet stay unallocated (the memory plugin's writes, which
   * keep a disk that a client fills with zeroes sparse); without it,
   * every byte written is allocated, as nbdkit's allocators do (the
   * data plugin's explicitly written bytes).
   */
  int (*write) (struct allocator *a, const void *buf, uint64_t count,
                uint64_t offset, bool keep_holes);
  /* Set COUNT bytes to C; C == 0 is zero. */
  int (*fill) (struct allocator *a, int c, uint64_t count, uint64_t offset);
  /* Make the range read as zeroes, freeing what becomes all zero. */
  int (*zero) (struct allocator *a, uint64_t count, uint64_t offset);
  int (*extents) (struct allocator *a, uint64_t count, uint64_t offset,
                  allocator_extent_fn fn, void *opaque);
  /* Optional (NULL where the allocator cannot): direct access to the
   * stored bytes, as sparse_array_map and sparse_array_unmap (sparse.h)
   * describe; MODE is one of SPARSE_MAP_*.  No nbdkit_error: -1 only
   * tells the caller to take the ordinary path.
   */
  int64_t (*map) (struct allocator *a, uint64_t offset, uint64_t count,
                  int mode, struct iovec *iov, int *iovcnt);
  void (*unmap) (struct allocator *a);
};

struct allocator {
  const struct allocator_functions *f;
};

/* Make an allocator from the value of allocator=, e.g. "sparse",
 * "malloc,mlock=true" or "zstd".  NULL after an error (an unknown name
 * or parameter, zstd when built without libzstd, out of memory).
 */
extern struct allocator *allocator_create (const char *spec);

/* True if this build has the zstd allocator. */
extern bool allocator_have_zstd (void);

/* Internal constructors, called by allocator_create. */
extern struct allocator *allocator_sparse_new (void);
extern struct allocator *allocator_malloc_new (bool mlock);
extern struct allocator *allocator_zstd_new (void);

/* A plugin's .extents callback over an allocator (honours REQ_ONE). */
extern int allocator_plugin_extents (struct allocator *a, uint32_t count,
                                     uint64_t offset, uint32_t flags,
                                     struct nbdkit_extents *extents);

/* For the page-based allocators: collects runs of pages of one type
 * into maximal runs before passing them to FN.
 */
struct extent_merger {
  allocator_extent_fn fn;
  void *opaque;
  uint64_t offset, length;
  uint32_t type;
  int result;                   /* 0 go on, 1 stop, -1 error */
};
extern void extent_merger_add (struct extent_merger *m, uint64_t offset,
                               uint64_t length, uint32_t type);
extern int extent_merger_finish (struct extent_merger *m);

#endif /* BLOCKKIT_ALLOCATOR_H */
