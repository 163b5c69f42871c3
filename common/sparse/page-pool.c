/* blockkit: the sparse array's data pages, carved from mappings made
 * for them.
 *
 * The server may lend a data page to the kernel (sparse_array_map, and
 * server/lend.c): a read's reply is spliced into the socket as
 * references to the page's memory, which the client copies out later.
 * So a data page must be whole memory pages shared with nothing else,
 * and a page given back must not have its memory reused for other data
 * while a socket may hold it.  From malloc, each page would need to be
 * aligned (memalign leaves a touched gap before every page: 4 KiB more
 * resident per 32 KiB), and its memory could go to anything after free.
 *
 * Here pages are cut from anonymous mappings of CHUNK_BYTES, and a page
 * given back goes on a free stack kept apart from the pages (a link in
 * the page would fault its memory back in), after it is detached with
 * MADV_DONTNEED: a socket that holds it keeps the old memory, the
 * address gets fresh zeroed memory when next touched, and the RAM goes
 * back to the system meanwhile (zeroing or trimming frees memory, as
 * the memory plugin's manual says).  Mappings are only unmapped with
 * the pool.
 */
#include <config.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "page-pool.h"
#include "sparse.h"

/* 64 pages per mapping: few mappings, little unused. */
#define CHUNK_PAGES 64
#define CHUNK_BYTES (CHUNK_PAGES * SPARSE_PAGE_SIZE)

struct page_pool {
  pthread_mutex_t lock;
  void **chunks;                /* every mapping, to unmap at the end */
  size_t n_chunks;
  unsigned char *next;          /* the unused rest of the newest mapping */
  size_t left;                  /* its bytes */
  void **free;                  /* pages given back: room for them all */
  size_t n_free;
  /* Pages given back and not yet detached: one run of adjacent pages,
   * so that freeing a range written in order costs one madvise per
   * run, not per page (page by page it was 280 ms per GiB trimmed).
   */
  unsigned char *pending;
  size_t pending_bytes;
};

struct page_pool *
page_pool_new (void)
{
  struct page_pool *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  pthread_mutex_init (&pool->lock, NULL);
  return pool;
}

void
page_pool_free (struct page_pool *pool)
{
  size_t i;

  if (pool == NULL)
    return;
  for (i = 0; i < pool->n_chunks; ++i)
    munmap (pool->chunks[i], CHUNK_BYTES);
  free (pool->chunks);
  free (pool->free);
  pthread_mutex_destroy (&pool->lock);
  free (pool);
}

/* Maps one more chunk and makes it the one pages are cut from.  The
 * free stack grows with it, to hold every page there is, so that giving
 * a page back never needs memory.  Called with the lock held.
 */
static int
add_chunk (struct page_pool *pool)
{
  size_t n = pool->n_chunks + 1;
  void **chunks = realloc (pool->chunks, n * sizeof *chunks);
  void **free_stack;
  void *c;

  if (chunks == NULL)
    return -1;
  pool->chunks = chunks;
  free_stack = realloc (pool->free, n * CHUNK_PAGES * sizeof *free_stack);
  if (free_stack == NULL)
    return -1;
  pool->free = free_stack;
  c = mmap (NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (c == MAP_FAILED)
    return -1;
  pool->chunks[pool->n_chunks++] = c;
  pool->next = c;
  pool->left = CHUNK_BYTES;
  return 0;
}

/* A page from the free stack or the newest chunk.  Called with the lock
 * held.
 */
static void *
take_page (struct page_pool *pool)
{
  void *p;

  if (pool->n_free > 0)
    return pool->free[--pool->n_free];
  if (pool->left == 0 && add_chunk (pool) == -1)
    return NULL;
  p = pool->next;
  pool->next += SPARSE_PAGE_SIZE;
  pool->left -= SPARSE_PAGE_SIZE;
  return p;
}

void *
page_pool_get (struct page_pool *pool)
{
  void *p;

  pthread_mutex_lock (&pool->lock);
  p = take_page (pool);
  pthread_mutex_unlock (&pool->lock);
  /* Zero it (a page given back holds old data) and so fault it in now:
   * see alloc_zeroed in sparse.c for why.
   */
  if (p)
    memset (p, 0, SPARSE_PAGE_SIZE);
  return p;
}

/* Detaches the pending run of pages given back and puts them on the free
 * stack.  Called with the lock held.
 */
static void
flush_pending (struct page_pool *pool)
{
  size_t off;

  if (pool->pending_bytes == 0)
    return;
  madvise (pool->pending, pool->pending_bytes, MADV_DONTNEED);
  for (off = 0; off < pool->pending_bytes; off += SPARSE_PAGE_SIZE)
    pool->free[pool->n_free++] = pool->pending + off;
  pool->pending_bytes = 0;
}

void
page_pool_put (struct page_pool *pool, void *page)
{
  unsigned char *p = page;

  pthread_mutex_lock (&pool->lock);
  if (pool->pending_bytes > 0 && p == pool->pending + pool->pending_bytes)
    pool->pending_bytes += SPARSE_PAGE_SIZE;
  else {
    flush_pending (pool);
    pool->pending = p;
    pool->pending_bytes = SPARSE_PAGE_SIZE;
  }
  pthread_mutex_unlock (&pool->lock);
}

void
page_pool_flush (struct page_pool *pool)
{
  pthread_mutex_lock (&pool->lock);
  flush_pending (pool);
  pthread_mutex_unlock (&pool->lock);
}
