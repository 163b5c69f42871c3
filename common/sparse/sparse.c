/* blockkit: a thread-safe sparse byte array (see sparse.h). */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sparse.h"
#include "page-pool.h"
#include "minmax.h"

#define NODE_BITS  12
#define NODE_SLOTS (1u << NODE_BITS)
#define NODE_MASK  (NODE_SLOTS - 1)

/* An interior node.  At level 0 the slots point to pages, at higher
 * levels to nodes one level down.  USED counts the non-NULL slots.
 */
struct node {
  uint32_t used;
  void *slot[NODE_SLOTS];
};

/* The lock is sharded: a reader takes the read side of one shard
 * chosen by its thread, so threads on different CPUs do not fight over
 * one cache line on every request; a writer (zero/trim) takes the
 * write side of every shard.
 */
#ifndef LOCK_SHARDS
#define LOCK_SHARDS 16
#endif

struct lock_shard {
  pthread_rwlock_t lock;
} __attribute__ ((aligned (64)));

struct sparse_array {
  struct lock_shard shard[LOCK_SHARDS];
  unsigned levels;            /* height of the tree, >= 1 */
  struct node *root;          /* at level LEVELS-1; never freed early */
  uint64_t pages;             /* allocated pages (atomic) */
  struct page_pool *pool;     /* where data pages come from */
};

static inline void *
load_slot (void **slotp)
{
  return __atomic_load_n (slotp, __ATOMIC_ACQUIRE);
}

/* Allocate zeroed memory that is really backed by RAM.  calloc may
 * hand back fresh, untouched memory; if a read then touched it first,
 * the kernel would map the shared zero page, and the first write after
 * that would need a copy-on-write fault with a TLB shootdown across
 * every CPU running a server thread.  Writing to every (4 KiB or
 * larger) page now faults the memory in once, cheaply.  The writes are
 * volatile because the compiler would turn malloc+memset into calloc.
 */
static void *
alloc_zeroed (size_t n)
{
  unsigned char *p = calloc (1, n);
  size_t i;

  if (p && n > 0) {
    for (i = 0; i < n; i += 4096)
      ((volatile unsigned char *) p)[i] = 0;
    ((volatile unsigned char *) p)[n - 1] = 0; /* p need not be aligned */
  }
  return p;
}

/* Publish NEW in *SLOTP if it is still NULL.  Returns the pointer that
 * ends up there (NEW, or the one another thread installed first).
 */
static inline void *
publish_slot (struct node *n, void **slotp, void *new, bool *won)
{
  void *expected = NULL;

  if (__atomic_compare_exchange_n (slotp, &expected, new, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    __atomic_fetch_add (&n->used, 1, __ATOMIC_RELAXED);
    *won = true;
    return new;
  }
  *won = false;
  return expected;
}

bool
sparse_is_zero (const void *buf, size_t count)
{
  const unsigned char *p = buf;
  size_t i;

  /* Check a short prefix by hand, then compare the buffer with itself
   * shifted by that prefix: if the prefix is zero and every byte equals
   * the one 16 bytes before it, everything is zero.  memcmp is heavily
   * optimised, so this runs at memory speed.
   */
  for (i = 0; i < 16 && i < count; ++i)
    if (p[i] != 0)
      return false;
  if (count <= 16)
    return true;
  return memcmp (p, p + 16, count - 16) == 0;
}

struct sparse_array *
sparse_array_new (uint64_t size)
{
  struct sparse_array *sa;
  pthread_rwlockattr_t attr;
  uint64_t npages;
  unsigned bits = 0, i;
  int r;

  if (size > (uint64_t) SPARSE_MAX_SIZE) {
    errno = ERANGE;
    return NULL;
  }

  sa = aligned_alloc (64, sizeof *sa);
  if (sa == NULL)
    return NULL;
  memset (sa, 0, sizeof *sa);

  /* Bits of page number needed, then levels of NODE_BITS each. */
  npages = (size + SPARSE_PAGE_SIZE - 1) >> SPARSE_PAGE_BITS;
  if (npages > 1)
    bits = 64 - __builtin_clzll (npages - 1);
  sa->levels = bits == 0 ? 1 : (bits + NODE_BITS - 1) / NODE_BITS;

  sa->root = calloc (1, sizeof (struct node));
  sa->pool = page_pool_new ();
  if (sa->root == NULL || sa->pool == NULL) {
    free (sa->root);
    page_pool_free (sa->pool);
    free (sa);
    errno = ENOMEM;
    return NULL;
  }

  /* Prefer writers so that a stream of reads cannot starve a zero. */
  pthread_rwlockattr_init (&attr);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
  pthread_rwlockattr_setkind_np (&attr,
                                 PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
  for (i = 0; i < LOCK_SHARDS; ++i) {
    r = pthread_rwlock_init (&sa->shard[i].lock, &attr);
    if (r != 0) {
      while (i-- > 0)
        pthread_rwlock_destroy (&sa->shard[i].lock);
      pthread_rwlockattr_destroy (&attr);
      free (sa->root);
      page_pool_free (sa->pool);
      free (sa);
      errno = r;
      return NULL;
    }
  }
  pthread_rwlockattr_destroy (&attr);

  return sa;
}

static void
free_node (struct node *n, unsigned level)
{
  uint32_t i;

  if (n->used > 0) {
    for (i = 0; i < NODE_SLOTS; ++i) {
      if (n->slot[i] == NULL)
        continue;
      if (level > 0)            /* pages go with the pool */
        free_node (n->slot[i], level - 1);
    }
  }
  free (n);
}

void
sparse_array_free (struct sparse_array *sa)
{
  unsigned i;

  if (sa == NULL)
    return;
  free_node (sa->root, sa->levels - 1);
  page_pool_free (sa->pool);
  for (i = 0; i < LOCK_SHARDS; ++i)
    pthread_rwlock_destroy (&sa->shard[i].lock);
  free (sa);
}

uint64_t
sparse_array_pages (struct sparse_array *sa)
{
  return __atomic_load_n (&sa->pages, __ATOMIC_RELAXED);
}

/* Each thread sticks to one shard, handed out round-robin. */
static unsigned next_shard;
static __thread unsigned my_shard = UINT_MAX;
/* How many of sparse_array_map's mappings this thread holds. */
static __thread unsigned map_depth;

static inline pthread_rwlock_t *
read_lock (struct sparse_array *sa)
{
  pthread_rwlock_t *lock;

  if (my_shard == UINT_MAX)
    my_shard = __atomic_fetch_add (&next_shard, 1, __ATOMIC_RELAXED)
      % LOCK_SHARDS;
  lock = &sa->shard[my_shard].lock;
  pthread_rwlock_rdlock (lock);
  return lock;
}

static void
write_lock (struct sparse_array *sa)
{
  unsigned i;

  for (i = 0; i < LOCK_SHARDS; ++i)
    pthread_rwlock_wrlock (&sa->shard[i].lock);
}

static void
write_unlock (struct sparse_array *sa)
{
  unsigned i;

  for (i = LOCK_SHARDS; i-- > 0; )
    pthread_rwlock_unlock (&sa->shard[i].lock);
}

/* Find the page holding page number PNUM, or NULL. */
static inline unsigned char *
lookup_page (struct sparse_array *sa, uint64_t pnum)
{
  struct node *n = sa->root;
  unsigned level;

  for (level = sa->levels - 1; level > 0; --level) {
    n = load_slot (&n->slot[(pnum >> (level * NODE_BITS)) & NODE_MASK]);
    if (n == NULL)
      return NULL;
  }
  return load_slot (&n->slot[pnum & NODE_MASK]);
}

/* Find the page for PNUM, allocating it (and nodes on the way) if
 * missing.  Caller holds the lock shared.  NULL means out of memory.
 */
static unsigned char *
lookup_alloc_page (struct sparse_array *sa, uint64_t pnum)
{
  struct node *n = sa->root;
  unsigned level;
  void **slotp;
  void *p;
  bool won;

  for (level = sa->levels - 1; level > 0; --level) {
    struct node *c;

    slotp = &n->slot[(pnum >> (level * NODE_BITS)) & NODE_MASK];
    c = load_slot (slotp);
    if (c == NULL) {
      struct node *new = alloc_zeroed (sizeof *new);
      if (new == NULL)
        return NULL;
      c = publish_slot (n, slotp, new, &won);
      if (!won)
        free (new);
    }
    n = c;
  }

  slotp = &n->slot[pnum & NODE_MASK];
  p = load_slot (slotp);
  if (p == NULL) {
    void *new = page_pool_get (sa->pool);
    if (new == NULL)
      return NULL;
    p = publish_slot (n, slotp, new, &won);
    if (won)
      __atomic_fetch_add (&sa->pages, 1, __ATOMIC_RELAXED);
    else {
      page_pool_put (sa->pool, new);     /* another thread's won */
      page_pool_flush (sa->pool);
    }
  }
  return p;
}

void
sparse_array_read (struct sparse_array *sa,
                   void *buf, size_t count, uint64_t offset)
{
  unsigned char *out = buf;

  pthread_rwlock_t *lock = read_lock (sa);
  while (count > 0) {
    uint64_t pnum = offset >> SPARSE_PAGE_BITS;
    uint64_t pofs = offset & (SPARSE_PAGE_SIZE - 1);
    size_t n = MIN ((uint64_t) count, SPARSE_PAGE_SIZE - pofs);
    const unsigned char *page = lookup_page (sa, pnum);

    if (page)
      memcpy (out, page + pofs, n);
    else
      memset (out, 0, n);
    out += n;
    offset += n;
    count -= n;
  }
  pthread_rwlock_unlock (lock);
}

/* What reads of missing pages point at in sparse_array_map: never
 * written, so it stays zero (and costs no RAM until read).
 */
static unsigned char zero_page[SPARSE_PAGE_SIZE] __attribute__ ((aligned (4096)));

int64_t
sparse_array_map (struct sparse_array *sa, uint64_t offset, uint64_t count,
                  int mode, struct iovec *iov, int *iovcnt)
{
  uint64_t done = 0;
  int n = 0;

  /* Mappings nest: the lock is taken by the first only (taking it again
   * could wait for a zero waiting for this thread).
   */
  if (map_depth++ == 0)
    read_lock (sa);
  while (done < count && n < *iovcnt) {
    uint64_t pnum = (offset + done) >> SPARSE_PAGE_BITS;
    uint64_t pofs = (offset + done) & (SPARSE_PAGE_SIZE - 1);
    size_t len = MIN (count - done, SPARSE_PAGE_SIZE - pofs);
    unsigned char *page = mode == SPARSE_MAP_WRITE_ALLOC
      ? lookup_alloc_page (sa, pnum) : lookup_page (sa, pnum);

    if (page == NULL && mode == SPARSE_MAP_READ)
      page = zero_page;
    else if (page == NULL) {
      sparse_array_unmap (sa);
      errno = mode == SPARSE_MAP_WRITE ? ENOENT : ENOMEM;
      return -1;
    }
    iov[n].iov_base = page + pofs;
    iov[n].iov_len = len;
    n++;
    done += len;
  }
  *iovcnt = n;
  return done;
}

void
sparse_array_unmap (struct sparse_array *sa)
{
  if (--map_depth == 0)
    pthread_rwlock_unlock (&sa->shard[my_shard].lock);
}

/* Copies written data into a page.  Large copies on x86-64 use
 * non-temporal (streaming) stores: the destination is almost never in
 * the cache (a RAM disk is much larger than it), and an ordinary store
 * first reads every line it writes to, so memcpy moved each byte over
 * the memory bus twice, and the copy was the largest item in the
 * profile of random 4 KiB writes.  The fence makes the data visible to
 * other threads before the write is acknowledged.
 */
#define STREAM_MIN_BYTES 4096

static void
copy_to_page (unsigned char *dst, const unsigned char *src, size_t n)
{
#if defined(__x86_64__) && defined(__SSE2__)
  if (n >= STREAM_MIN_BYTES) {
    size_t head = -(uintptr_t) dst & 15, i;

    memcpy (dst, src, head);
    dst += head;
    src += head;
    n -= head;
    for (i = 0; i + 64 <= n; i += 64) {
      __m128i a = _mm_loadu_si128 ((const __m128i *) (src + i));
      __m128i b = _mm_loadu_si128 ((const __m128i *) (src + i + 16));
      __m128i c = _mm_loadu_si128 ((const __m128i *) (src + i + 32));
      __m128i d = _mm_loadu_si128 ((const __m128i *) (src + i + 48));
      _mm_stream_si128 ((__m128i *) (dst + i), a);
      _mm_stream_si128 ((__m128i *) (dst + i + 16), b);
      _mm_stream_si128 ((__m128i *) (dst + i + 32), c);
      _mm_stream_si128 ((__m128i *) (dst + i + 48), d);
    }
    _mm_sfence ();
    memcpy (dst + i, src + i, n - i);
    return;
  }
#endif
  memcpy (dst, src, n);
}

/* KEEP_HOLES: zeroes written over missing pages leave them missing. */
static int
do_write (struct sparse_array *sa, const void *buf, size_t count,
          uint64_t offset, bool keep_holes)
{
  const unsigned char *in = buf;
  int ret = 0;

  pthread_rwlock_t *lock = read_lock (sa);
  while (count > 0) {
    uint64_t pnum = offset >> SPARSE_PAGE_BITS;
    uint64_t pofs = offset & (SPARSE_PAGE_SIZE - 1);
    size_t n = MIN ((uint64_t) count, SPARSE_PAGE_SIZE - pofs);
    unsigned char *page = lookup_page (sa, pnum);

    if (page == NULL) {
      /* Writing zeroes over a hole changes nothing: stay sparse. */
      if (keep_holes && sparse_is_zero (in, n))
        goto next;
      page = lookup_alloc_page (sa, pnum);
      if (page == NULL) {
        errno = ENOMEM;
        ret = -1;
        break;
      }
    }
    copy_to_page (page + pofs, in, n);
  next:
    in += n;
    offset += n;
    count -= n;
  }
  pthread_rwlock_unlock (lock);
  return ret;
}

int
sparse_array_write (struct sparse_array *sa,
                    const void *buf, size_t count, uint64_t offset)
{
  return do_write (sa, buf, count, offset, true);
}

int
sparse_array_write_alloc (struct sparse_array *sa,
                          const void *buf, size_t count, uint64_t offset)
{
  return do_write (sa, buf, count, offset, false);
}

int
sparse_array_fill (struct sparse_array *sa, int c,
                   uint64_t count, uint64_t offset)
{
  int ret = 0;

  if (c == 0) {
    sparse_array_zero (sa, count, offset);
    return 0;
  }

  pthread_rwlock_t *lock = read_lock (sa);
  while (count > 0) {
    uint64_t pnum = offset >> SPARSE_PAGE_BITS;
    uint64_t pofs = offset & (SPARSE_PAGE_SIZE - 1);
    uint64_t n = MIN (count, SPARSE_PAGE_SIZE - pofs);
    unsigned char *page = lookup_alloc_page (sa, pnum);

    if (page == NULL) {
      errno = ENOMEM;
      ret = -1;
      break;
    }
    memset (page + pofs, c, n);
    offset += n;
    count -= n;
  }
  pthread_rwlock_unlock (lock);
  return ret;
}

bool
sparse_array_page_is_zero (struct sparse_array *sa, uint64_t offset)
{
  const unsigned char *page;
  bool r;

  pthread_rwlock_t *lock = read_lock (sa);
  page = lookup_page (sa, offset >> SPARSE_PAGE_BITS);
  /* Checked in place: no copy, and a page of data usually differs
   * from zero in its first bytes.
   */
  r = page == NULL || sparse_is_zero (page, SPARSE_PAGE_SIZE);
  pthread_rwlock_unlock (lock);
  return r;
}

/* Span in bytes of one slot of a node at LEVEL. */
static inline uint64_t
slot_span (unsigned level)
{
  return SPARSE_PAGE_SIZE << (level * NODE_BITS);
}

/* Zero [START, END) inside node N at LEVEL whose first byte is BASE.
 * Caller holds the lock exclusively.  Returns true if N became empty.
 */
static bool
zero_node (struct sparse_array *sa, struct node *n, unsigned level,
           uint64_t base, uint64_t start, uint64_t end)
{
  const uint64_t span = slot_span (level);
  uint64_t i, i0, i1;

  i0 = (start - base) / span;
  i1 = (end - 1 - base) / span;

  for (i = i0; i <= i1 && n->used > 0; ++i) {
    void *c = n->slot[i];
    uint64_t cbase = base + i * span;
    uint64_t s, e;

    if (c == NULL)
      continue;
    s = MAX (start, cbase);
    e = MIN (end, cbase + span);

    if (level == 0) {
      unsigned char *page = c;
      if (s == cbase && e == cbase + span) {
        /* Whole page: just drop it. */
      }
      else {
        memset (page + (s - cbase), 0, e - s);
        if (!sparse_is_zero (page, SPARSE_PAGE_SIZE))
          continue;
      }
      page_pool_put (sa->pool, page);
      sa->pages--;
    }
    else {
      if (!zero_node (sa, c, level - 1, cbase, s, e))
        continue;
      free (c);
    }
    n->slot[i] = NULL;
    n->used--;
  }
  return n->used == 0;
}

void
sparse_array_zero (struct sparse_array *sa, uint64_t count, uint64_t offset)
{
  uint64_t end;

  if (count == 0)
    return;
  end = offset + count;
  if (end < offset)             /* overflow: clip to the address space */
    end = UINT64_MAX;

  write_lock (sa);
  if (sa->root->used > 0) {
    uint64_t limit = sa->levels * NODE_BITS + SPARSE_PAGE_BITS >= 64
      ? UINT64_MAX : slot_span (sa->levels);
    if (offset < limit)
      zero_node (sa, sa->root, sa->levels - 1, 0, offset, MIN (end, limit));
  }
  page_pool_flush (sa->pool);
  write_unlock (sa);
}

/* Run-length state for sparse_array_extents. */
struct extent_state {
  sparse_extent_fn fn;
  void *opaque;
  uint64_t run_offset, run_length;
  bool run_allocated;
  int result;                   /* 0 go on, 1 stop, -1 error */
};

static inline void
add_run (struct extent_state *st, uint64_t offset, uint64_t length,
         bool allocated)
{
  if (st->run_length > 0 && st->run_allocated == allocated) {
    st->run_length += length;
    return;
  }
  if (st->run_length > 0)
    st->result = st->fn (st->opaque, st->run_offset, st->run_length,
                         st->run_allocated);
  st->run_offset = offset;
  st->run_length = length;
  st->run_allocated = allocated;
}

static void
extents_node (struct extent_state *st, struct node *n, unsigned level,
              uint64_t base, uint64_t start, uint64_t end)
{
  const uint64_t span = slot_span (level);
  uint64_t i, i0, i1;

  i0 = (start - base) / span;
  i1 = (end - 1 - base) / span;

  for (i = i0; i <= i1 && st->result == 0; ++i) {
    uint64_t cbase = base + i * span;
    uint64_t s = MAX (start, cbase);
    uint64_t e = MIN (end, cbase + span);
    void *c = load_slot (&n->slot[i]);

    if (c == NULL)
      add_run (st, s, e - s, false);
    else if (level == 0)
      add_run (st, s, e - s, true);
    else
      extents_node (st, c, level - 1, cbase, s, e);
  }
}

int
sparse_array_extents (struct sparse_array *sa,
                      uint64_t count, uint64_t offset,
                      sparse_extent_fn fn, void *opaque)
{
  struct extent_state st = { .fn = fn, .opaque = opaque };
  uint64_t end, limit;

  if (count == 0)
    return 0;
  end = offset + count;
  if (end < offset)
    end = UINT64_MAX;
  limit = sa->levels * NODE_BITS + SPARSE_PAGE_BITS >= 64
    ? UINT64_MAX : slot_span (sa->levels);

  pthread_rwlock_t *lock = read_lock (sa);
  if (offset < limit)
    extents_node (&st, sa->root, sa->levels - 1, 0, offset, MIN (end, limit));
  pthread_rwlock_unlock (lock);

  /* Anything past the addressable space is a hole. */
  if (st.result == 0 && end > limit)
    add_run (&st, MAX (offset, limit), end - MAX (offset, limit), false);
  /* Flush the last run. */
  if (st.result == 0 && st.run_length > 0)
    st.result = fn (opaque, st.run_offset, st.run_length, st.run_allocated);

  return st.result < 0 ? -1 : 0;
}
