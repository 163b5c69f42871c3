/* blockkit: the xz filter's cache of decompressed blocks.
 *
 * Decompressing a block is what random access to an .xz file costs, so
 * recently used blocks are kept, for every connection at once (clients
 * reading the same image share the work).  The cache holds at most MAX
 * blocks, those being loaded or read included; least recently used idle
 * ones go first, and a reader waits when all are busy.
 *
 * One mutex guards the list, but decompression happens outside it: a
 * missing block is entered as "loading", the thread that entered it
 * decompresses it, and other threads wanting the same block wait on the
 * condition variable instead of decompressing it again.  Threads wanting
 * different blocks decompress in parallel.  An entry is reference
 * counted while a reader copies out of it, so eviction never frees data
 * in use.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <nbdkit-filter.h>

#include "xz.h"

enum state { LOADING, READY, FAILED };

struct blkcache_entry {
  struct blkcache_entry *next;
  size_t blockno;
  uint8_t *data;
  enum state state;
  int err;                /* when FAILED */
  unsigned refs;
  uint64_t used;          /* the cache's clock at the last use */
};

struct blkcache {
  pthread_mutex_t lock;
  pthread_cond_t cond;    /* some entry left the LOADING state */
  struct blkcache_entry *list;
  size_t count, max;
  uint64_t clock;
  uint64_t hits, misses;
};

struct blkcache *
blkcache_new (size_t max)
{
  struct blkcache *c = calloc (1, sizeof *c);

  if (c == NULL) {
    nbdkit_error ("xz: calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&c->lock, NULL);
  pthread_cond_init (&c->cond, NULL);
  c->max = max;
  return c;
}

static void
entry_free (struct blkcache_entry *e)
{
  free (e->data);
  free (e);
}

void
blkcache_free (struct blkcache *c)
{
  struct blkcache_entry *e, *n;

  if (c == NULL)
    return;
  for (e = c->list; e; e = n) {
    n = e->next;
    entry_free (e);
  }
  pthread_cond_destroy (&c->cond);
  pthread_mutex_destroy (&c->lock);
  free (c);
}

static void
unlink_entry (struct blkcache *c, struct blkcache_entry *e)
{
  struct blkcache_entry **p;

  for (p = &c->list; *p; p = &(*p)->next) {
    if (*p == e) {
      *p = e->next;
      c->count--;
      return;
    }
  }
}

/* With the lock held: drops the least recently used idle block (not
 * being loaded or read).  False if every block is busy.
 */
static bool
evict_one (struct blkcache *c)
{
  struct blkcache_entry *e, *lru = NULL;

  for (e = c->list; e; e = e->next)
    if (e->state == READY && e->refs == 0 &&
        (lru == NULL || e->used < lru->used))
      lru = e;
  if (lru == NULL)
    return false;
  unlink_entry (c, lru);
  entry_free (lru);
  return true;
}

struct blkcache_entry *
blkcache_get (struct blkcache *c, size_t blockno,
              blkcache_loader *loader, void *arg,
              const uint8_t **data, int *err)
{
  struct blkcache_entry *e;
  uint8_t *loaded;
  int lerr = EIO;

  pthread_mutex_lock (&c->lock);
  for (;;) {
    for (e = c->list; e; e = e->next)
      if (e->blockno == blockno)
        break;
    if (e) {
      e->refs++;
      c->hits++;
      while (e->state == LOADING)
        pthread_cond_wait (&c->cond, &c->lock);
      if (e->state == FAILED) {
        /* The loader reported the error; the entry is already out of
         * the list, and the last waiter frees it.
         */
        *err = e->err;
        if (--e->refs == 0)
          entry_free (e);
        pthread_mutex_unlock (&c->lock);
        return NULL;
      }
      e->used = ++c->clock;
      *data = e->data;
      pthread_mutex_unlock (&c->lock);
      return e;
    }
    /* Room for one more.  When all MAX blocks are busy, wait: memory
     * stays bounded by MAX blocks however many requests a client sends
     * at once, and no deadlock is possible because a reader holds at
     * most one entry and never waits while holding it.  Then look again:
     * someone may have loaded this very block meanwhile.
     */
    if (c->count < c->max || evict_one (c))
      break;
    pthread_cond_wait (&c->cond, &c->lock);
  }

  e = calloc (1, sizeof *e);
  if (e == NULL) {
    *err = ENOMEM;
    nbdkit_error ("xz: calloc: %m");
    pthread_mutex_unlock (&c->lock);
    return NULL;
  }
  e->blockno = blockno;
  e->state = LOADING;
  e->refs = 1;
  e->next = c->list;
  c->list = e;
  c->count++;
  c->misses++;
  pthread_mutex_unlock (&c->lock);

  loaded = loader (arg, blockno, &lerr);

  pthread_mutex_lock (&c->lock);
  if (loaded == NULL) {
    /* Not kept: the next reader tries again (the layer below may have
     * failed for a moment), the ones waiting now get this error.
     */
    e->state = FAILED;
    e->err = lerr;
    *err = lerr;
    unlink_entry (c, e);
    if (--e->refs == 0)
      entry_free (e);
    e = NULL;
  }
  else {
    e->data = loaded;
    e->state = READY;
    e->used = ++c->clock;
    *data = loaded;
  }
  pthread_cond_broadcast (&c->cond);
  pthread_mutex_unlock (&c->lock);
  return e;
}

void
blkcache_put (struct blkcache *c, struct blkcache_entry *e)
{
  pthread_mutex_lock (&c->lock);
  /* An idle block is room for a reader waiting for some. */
  if (--e->refs == 0)
    pthread_cond_broadcast (&c->cond);
  pthread_mutex_unlock (&c->lock);
}

void
blkcache_stats (struct blkcache *c, uint64_t *hits, uint64_t *misses)
{
  pthread_mutex_lock (&c->lock);
  *hits = c->hits;
  *misses = c->misses;
  pthread_mutex_unlock (&c->lock);
}
