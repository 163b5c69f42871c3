/* blockkit: where the sparse array's data pages come from (page-pool.c). */
#ifndef BLOCKKIT_PAGE_POOL_H
#define BLOCKKIT_PAGE_POOL_H

struct page_pool;

/* A pool of SPARSE_PAGE_SIZE pages, or NULL with errno set. */
extern struct page_pool *page_pool_new (void);
/* Unmaps every page, given out or not. */
extern void page_pool_free (struct page_pool *pool);
/* A zeroed page, backed by RAM already; NULL if out of memory. */
extern void *page_pool_get (struct page_pool *pool);
/* Gives PAGE back.  Its memory is detached from it (the kernel may
 * still hold it, in a reply spliced into a socket) and returned to the
 * system, by the next page_pool_flush at the latest, which a caller
 * that gave pages back calls before it lets go of them.
 */
extern void page_pool_put (struct page_pool *pool, void *page);
extern void page_pool_flush (struct page_pool *pool);

#endif /* BLOCKKIT_PAGE_POOL_H */
