/* blockkit: where the sparse array's data pages come from (page-pool.c). */
#ifndef BLOCKKIT_PAGE_POOL_H
#define BLOCKKIT_PAGE_POOL_H

#include <stdbool.h>

struct page_pool;

/* A pool of SPARSE_PAGE_SIZE pages, or NULL with errno set. */
extern struct page_pool *page_pool_new (void);
/* Unmaps every page, given out or not. */
extern void page_pool_free (struct page_pool *pool);
/* A zeroed page, backed by RAM already; NULL if out of memory. */
extern void *page_pool_get (struct page_pool *pool);
/* Gives PAGE back.  LENT: it may still be referenced by the kernel (a
 * reply spliced into a socket), so its memory is detached first.
 */
extern void page_pool_put (struct page_pool *pool, void *page, bool lent);

#endif /* BLOCKKIT_PAGE_POOL_H */
