/* blockkit: the xz filter's internal interfaces.
 *
 * The filter is split by job: xzindex.c reads the index of an .xz file
 * (where every block starts, compressed and uncompressed), xzdec.c
 * decompresses one block from the layer below, blkcache.c keeps recently
 * decompressed blocks for all connections, xzseq.c serves files with a
 * single block by decoding forward from the start, and xz.c is the glue
 * to the filter API.  This header is what they share.
 */
#ifndef BLOCKKIT_XZ_H
#define BLOCKKIT_XZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lzma.h>

#include <nbdkit-filter.h>

/* One block of the file, as the index describes it.  Offsets are file
 * offsets: "u" in the uncompressed image served to clients, "c" in the
 * compressed file below.
 */
struct xz_block {
  uint64_t uoff;          /* first uncompressed byte */
  uint64_t usize;         /* uncompressed size */
  uint64_t coff;          /* block header, in the compressed file */
  uint64_t unpadded;      /* header + data + check, without padding */
  uint64_t total;         /* unpadded rounded up to a multiple of 4 */
  lzma_check check;       /* the check type of the block's stream */
};

struct xz_index {
  struct xz_block *blocks;
  size_t nblocks;
  size_t nstreams;
  uint64_t size;          /* uncompressed size of the whole file */
  uint64_t max_usize;     /* largest uncompressed block */
};

/* xzindex.c.  Reads the index of the file below (every stream's, for
 * concatenated files).  Errors are reported with nbdkit_error.
 */
extern int xz_index_read (nbdkit_next *next, struct xz_index *idx);
extern void xz_index_free (struct xz_index *idx);
/* The block holding uncompressed OFFSET (OFFSET < idx->size). */
extern size_t xz_index_find (const struct xz_index *idx, uint64_t offset);

/* xzdec.c.  A decoder positioned inside one block.  It must not move in
 * memory between xz_dec_start and xz_dec_end (liblzma keeps pointers to
 * the lzma_block in it).
 */
struct xz_dec {
  const struct xz_block *b;
  lzma_stream strm;
  lzma_block block;
  lzma_filter filters[LZMA_FILTERS_MAX + 1];
  bool started;           /* the filters array holds options to free */
  bool finished;          /* the end of the block and its check seen */
  uint8_t *in;            /* compressed bytes read from below */
  size_t in_size;         /* capacity of in */
  uint64_t cread;         /* compressed bytes of the block read so far */
  uint64_t upos;          /* uncompressed bytes of the block produced */
};

/* Memory a block decoder may use (the dictionary, mostly): a header
 * asking for more is refused rather than trusted.
 */
#define XZ_DEC_MEMLIMIT (UINT64_C (1) << 30)

extern int xz_dec_start (struct xz_dec *d, nbdkit_next *next,
                         const struct xz_block *b, int *err);
/* Produces exactly N more uncompressed bytes into OUT.  When the end of
 * the block is reached, its check is verified as well.
 */
extern int xz_dec_read (struct xz_dec *d, nbdkit_next *next,
                        uint8_t *out, size_t n, int *err);
extern void xz_dec_end (struct xz_dec *d);
/* Decompresses all of block B into a new buffer (malloc'd). */
extern uint8_t *xz_dec_block (nbdkit_next *next, const struct xz_block *b,
                              int *err);

/* blkcache.c.  Decompressed blocks, shared by every connection, at most
 * MAX of them in memory (being loaded and being read included).
 * Different blocks are decompressed in parallel; a block being
 * decompressed is waited for, never decompressed twice at the same time.
 */
struct blkcache;
struct blkcache_entry;
typedef uint8_t *blkcache_loader (void *arg, size_t blockno, int *err);

extern struct blkcache *blkcache_new (size_t max);
extern void blkcache_free (struct blkcache *c);
/* The data of block BLOCKNO, loaded with LOADER if absent.  Returns an
 * entry to release with blkcache_put once the data has been copied.
 */
extern struct blkcache_entry *blkcache_get (struct blkcache *c,
                                            size_t blockno,
                                            blkcache_loader *loader,
                                            void *arg,
                                            const uint8_t **data, int *err);
extern void blkcache_put (struct blkcache *c, struct blkcache_entry *e);
/* Hits and misses, for the debug message at exit. */
extern void blkcache_stats (struct blkcache *c, uint64_t *hits,
                            uint64_t *misses);

/* xzseq.c.  A single-block file served by decoders moving forwards,
 * each keeping the last XZSEQ_WINDOW bytes it produced.
 */
#define XZSEQ_WINDOW (8 * 1024 * 1024)
struct xzseq;
extern struct xzseq *xzseq_new (const struct xz_block *b);
extern void xzseq_free (struct xzseq *s);
extern int xzseq_read (struct xzseq *s, nbdkit_next *next,
                       uint8_t *buf, uint32_t count, uint64_t offset,
                       int *err);

#endif /* BLOCKKIT_XZ_H */
