/* blockkit: allocator=zstd, a sparse disk whose pages are kept
 * compressed with zstd (see allocator.h).  Built only with libzstd;
 * without it allocator_create reports a clear error.
 *
 * Layout: pages of SPARSE_PAGE_SIZE bytes, as in the sparse allocator,
 * so that block status has the same granularity whichever page-based
 * allocator is used.  Pages are grouped in chunks of CHUNK_PAGES
 * (128 MiB of disk); the chunks that hold any page are kept in an
 * array sorted by their first page and found by binary search, so a
 * 2^63 byte disk costs nothing until written and block status skips
 * unwritten chunks in one step.  Each page remembers whether it is all
 * zero, so block status never decompresses.
 *
 * One mutex guards everything, including the single compression and
 * decompression contexts and the scratch page: compressing dominates
 * the cost anyway, and the contexts are expensive to create per call.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"
#include "sparse.h"
#include "minmax.h"

#ifdef HAVE_LIBZSTD

#include <zstd.h>

#define PAGE SPARSE_PAGE_SIZE
#define CHUNK_BITS 12
#define CHUNK_PAGES (UINT64_C (1) << CHUNK_BITS)

/* The default level of the zstd tool: a fair ratio at speed. */
#define LEVEL 3

struct zpage {
  void *data;                   /* compressed; NULL = not allocated */
  uint32_t len;
  bool zero;                    /* the page is all zero */
};

struct chunk {
  uint64_t first;               /* page number, a multiple of CHUNK_PAGES */
  struct zpage page[CHUNK_PAGES];
};

struct zstd_allocator {
  struct allocator a;
  pthread_mutex_t lock;
  struct chunk **chunks;        /* sorted by first */
  size_t nchunks, alloc;
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  unsigned char page[PAGE];     /* scratch: one page uncompressed */
  size_t cbound;
  unsigned char *cbuf;          /* scratch: one page compressed */
};

static void
z_free (struct allocator *a)
{
  struct zstd_allocator *z = (struct zstd_allocator *) a;
  size_t i;
  uint64_t j;

  for (i = 0; i < z->nchunks; ++i) {
    for (j = 0; j < CHUNK_PAGES; ++j)
      free (z->chunks[i]->page[j].data);
    free (z->chunks[i]);
  }
  free (z->chunks);
  ZSTD_freeCCtx (z->cctx);
  ZSTD_freeDCtx (z->dctx);
  free (z->cbuf);
  pthread_mutex_destroy (&z->lock);
  free (z);
}

static int
z_set_size_hint (struct allocator *a, uint64_t size)
{
  return 0;
}

/* Index of the first chunk whose first page is >= FIRST. */
static size_t
chunk_index (struct zstd_allocator *z, uint64_t first)
{
  size_t lo = 0, hi = z->nchunks;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->chunks[mid]->first < first)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The page descriptor for PNUM; with CREATE, its chunk is made if
 * missing.  NULL if missing (or out of memory, with CREATE).
 */
static struct zpage *
lookup (struct zstd_allocator *z, uint64_t pnum, bool create)
{
  uint64_t first = pnum & ~(CHUNK_PAGES - 1);
  size_t i = chunk_index (z, first);
  struct chunk *c;

  if (i < z->nchunks && z->chunks[i]->first == first)
    return &z->chunks[i]->page[pnum - first];
  if (!create)
    return NULL;

  if (z->nchunks == z->alloc) {
    size_t nalloc = z->alloc ? z->alloc * 2 : 16;
    struct chunk **p = realloc (z->chunks, nalloc * sizeof *p);
    if (p == NULL)
      return NULL;
    z->chunks = p;
    z->alloc = nalloc;
  }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->first = first;
  memmove (&z->chunks[i + 1], &z->chunks[i],
           (z->nchunks - i) * sizeof *z->chunks);
  z->chunks[i] = c;
  z->nchunks++;
  return &c->page[pnum - first];
}

/* Uncompress P into z->page (zeroes if P is not allocated). */
static int
load (struct zstd_allocator *z, const struct zpage *p)
{
  size_t r;

  if (p == NULL || p->data == NULL) {
    memset (z->page, 0, PAGE);
    return 0;
  }
  r = ZSTD_decompressDCtx (z->dctx, z->page, PAGE, p->data, p->len);
  if (ZSTD_isError (r) || r != PAGE) {
    nbdkit_error ("allocator=zstd: decompress: %s",
                  ZSTD_isError (r) ? ZSTD_getErrorName (r) : "short page");
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Compress z->page into P. */
static int
store (struct zstd_allocator *z, struct zpage *p)
{
  size_t r = ZSTD_compressCCtx (z->cctx, z->cbuf, z->cbound,
                                z->page, PAGE, LEVEL);
  void *data;

  if (ZSTD_isError (r)) {
    nbdkit_error ("allocator=zstd: compress: %s", ZSTD_getErrorName (r));
    errno = EIO;
    return -1;
  }
  data = malloc (r);
  if (data == NULL) {
    nbdkit_error ("allocator=zstd: malloc: %m");
    return -1;
  }
  memcpy (data, z->cbuf, r);
  free (p->data);
  p->data = data;
  p->len = r;
  p->zero = sparse_is_zero (z->page, PAGE);
  return 0;
}

static void
drop (struct zpage *p)
{
  free (p->data);
  p->data = NULL;
  p->len = 0;
  p->zero = false;
}

static int
z_read (struct allocator *a, void *buf, uint64_t count, uint64_t offset)
{
  struct zstd_allocator *z = (struct zstd_allocator *) a;
  unsigned char *out = buf;
  int r = 0;

  pthread_mutex_lock (&z->lock);
  while (count > 0) {
    uint64_t pofs = offset % PAGE;
    uint64_t n = MIN (count, PAGE - pofs);
    struct zpage *p = lookup (z, offset / PAGE, false);

    if (p == NULL || p->data == NULL || p->zero)
      memset (out, 0, n);
    else {
      if ((r = load (z, p)) == -1)
        break;
      memcpy (out, z->page + pofs, n);
    }
    out += n;
    offset += n;
    count -= n;
  }
  pthread_mutex_unlock (&z->lock);
  return r;
}

/* Write (BUF != NULL) or fill with C the range, page by page. */
static int
modify (struct zstd_allocator *z, const unsigned char *buf, int c,
        uint64_t count, uint64_t offset, bool keep_holes)
{
  int r = 0;

  pthread_mutex_lock (&z->lock);
  while (count > 0) {
    uint64_t pofs = offset % PAGE;
    uint64_t n = MIN (count, PAGE - pofs);
    struct zpage *p = lookup (z, offset / PAGE, false);

    if ((p == NULL || p->data == NULL) && keep_holes &&
        (buf ? sparse_is_zero (buf, n) : c == 0))
      goto next;                /* zeroes over a hole: nothing to do */
    if (p == NULL) {
      p = lookup (z, offset / PAGE, true);
      if (p == NULL) {
        nbdkit_error ("allocator=zstd: out of memory");
        errno = ENOMEM;
        r = -1;
        break;
      }
    }
    /* A whole page is replaced without looking at the old one. */
    if (n < PAGE && (r = load (z, p)) == -1)
      break;
    if (buf)
      memcpy (z->page + pofs, buf, n);
    else
      memset (z->page + pofs, c, n);
    if ((r = store (z, p)) == -1)
      break;
  next:
    if (buf)
      buf += n;
    offset += n;
    count -= n;
  }
  pthread_mutex_unlock (&z->lock);
  return r;
}

static int
z_write (struct allocator *a, const void *buf, uint64_t count,
         uint64_t offset, bool keep_holes)
{
  return modify ((struct zstd_allocator *) a, buf, 0, count, offset,
                 keep_holes);
}

static int
z_zero (struct allocator *a, uint64_t count, uint64_t offset)
{
  struct zstd_allocator *z = (struct zstd_allocator *) a;
  uint64_t end = offset + count;
  size_t i;
  int r = 0;

  if (end < offset)
    end = UINT64_MAX;
  pthread_mutex_lock (&z->lock);
  /* Only allocated chunks matter: a huge zero costs nothing. */
  for (i = chunk_index (z, (offset / PAGE) & ~(CHUNK_PAGES - 1));
       i < z->nchunks && r == 0; ++i) {
    struct chunk *c = z->chunks[i];
    uint64_t cstart = c->first * PAGE, j;

    if (cstart >= end)
      break;
    for (j = 0; j < CHUNK_PAGES; ++j) {
      struct zpage *p = &c->page[j];
      uint64_t pstart = cstart + j * PAGE, s, e;

      if (p->data == NULL || pstart + PAGE <= offset)
        continue;
      if (pstart >= end)
        break;
      s = MAX (offset, pstart);
      e = MIN (end, pstart + PAGE);
      if (s == pstart && e == pstart + PAGE) {
        drop (p);
        continue;
      }
      /* Part of a page: cleared but kept even if now all zero, as
       * nbdkit's zstd allocator does (it shows as "zero", not a hole).
       */
      if (p->zero)
        continue;
      if ((r = load (z, p)) == -1)
        break;
      memset (z->page + (s - pstart), 0, e - s);
      if ((r = store (z, p)) == -1)
        break;
    }
  }
  pthread_mutex_unlock (&z->lock);
  return r;
}

static int
z_fill (struct allocator *a, int c, uint64_t count, uint64_t offset)
{
  if (c == 0)
    return z_zero (a, count, offset);
  return modify ((struct zstd_allocator *) a, NULL, c, count, offset, false);
}

/* Runs are collected under the lock a batch at a time and passed on
 * after it is dropped, so that FN may use this allocator.
 */
#define RUNS_PER_BATCH 1024

struct zrun {
  uint64_t offset, length;
  uint32_t type;
};

static void
add_run (struct zrun *runs, size_t *n, uint64_t offset, uint64_t length,
         uint32_t type)
{
  if (*n > 0 && runs[*n - 1].type == type &&
      runs[*n - 1].offset + runs[*n - 1].length == offset)
    runs[*n - 1].length += length;
  else
    runs[(*n)++] = (struct zrun) { offset, length, type };
}

/* Collect the runs from POS on (up to END) until the batch is nearly
 * full; returns where it stopped.  Caller holds the lock.
 */
static uint64_t
collect (struct zstd_allocator *z, uint64_t pos, uint64_t end,
         struct zrun *runs, size_t *n)
{
  const uint32_t hole = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
  size_t i;

  for (i = chunk_index (z, (pos / PAGE) & ~(CHUNK_PAGES - 1));
       i < z->nchunks && pos < end && *n < RUNS_PER_BATCH - 2; ++i) {
    struct chunk *c = z->chunks[i];
    uint64_t cstart = c->first * PAGE, j;

    if (cstart >= end)
      break;
    if (cstart > pos) {         /* a missing chunk: one hole */
      add_run (runs, n, pos, cstart - pos, hole);
      pos = cstart;
    }
    for (j = (pos - cstart) / PAGE;
         j < CHUNK_PAGES && pos < end && *n < RUNS_PER_BATCH - 2; ++j) {
      const struct zpage *p = &c->page[j];
      uint64_t len = MIN (end, cstart + (j + 1) * PAGE) - pos;

      add_run (runs, n, pos, len,
               p->data == NULL ? hole : p->zero ? NBDKIT_EXTENT_ZERO : 0);
      pos += len;
    }
  }
  /* Stopped with room left: no chunk is left before END, so the rest
   * is one hole.
   */
  if (pos < end && *n < RUNS_PER_BATCH - 2) {
    add_run (runs, n, pos, end - pos, hole);
    pos = end;
  }
  return pos;
}

static int
z_extents (struct allocator *a, uint64_t count, uint64_t offset,
           allocator_extent_fn fn, void *opaque)
{
  struct zstd_allocator *z = (struct zstd_allocator *) a;
  struct extent_merger m = { .fn = fn, .opaque = opaque };
  uint64_t end = offset + count, pos = offset;
  struct zrun *runs;
  size_t n, i;

  if (end < offset)
    end = UINT64_MAX;
  runs = malloc (RUNS_PER_BATCH * sizeof *runs);
  if (runs == NULL) {
    nbdkit_error ("allocator=zstd: malloc: %m");
    return -1;
  }
  while (pos < end && m.result == 0) {
    n = 0;
    pthread_mutex_lock (&z->lock);
    pos = collect (z, pos, end, runs, &n);
    pthread_mutex_unlock (&z->lock);
    for (i = 0; i < n; ++i)
      extent_merger_add (&m, runs[i].offset, runs[i].length, runs[i].type);
  }
  free (runs);
  return extent_merger_finish (&m);
}

static const struct allocator_functions zstd_functions = {
  .name = "zstd",
  .copy_zeroes_as_data = true,
  .free = z_free,
  .set_size_hint = z_set_size_hint,
  .read = z_read,
  .write = z_write,
  .fill = z_fill,
  .zero = z_zero,
  .extents = z_extents,
};

struct allocator *
allocator_zstd_new (void)
{
  struct zstd_allocator *z = calloc (1, sizeof *z);

  if (z == NULL) {
    nbdkit_error ("allocator=zstd: calloc: %m");
    return NULL;
  }
  z->a.f = &zstd_functions;
  pthread_mutex_init (&z->lock, NULL);
  z->cctx = ZSTD_createCCtx ();
  z->dctx = ZSTD_createDCtx ();
  z->cbound = ZSTD_compressBound (PAGE);
  z->cbuf = malloc (z->cbound);
  if (z->cctx == NULL || z->dctx == NULL || z->cbuf == NULL) {
    nbdkit_error ("allocator=zstd: cannot create the zstd contexts");
    z_free (&z->a);
    errno = ENOMEM;
    return NULL;
  }
  return &z->a;
}

bool
allocator_have_zstd (void)
{
  return true;
}

#else /* !HAVE_LIBZSTD */

struct allocator *
allocator_zstd_new (void)
{
  nbdkit_error ("allocator=zstd: this blockkit was built without libzstd");
  errno = ENOTSUP;
  return NULL;
}

bool
allocator_have_zstd (void)
{
  return false;
}

#endif /* !HAVE_LIBZSTD */
