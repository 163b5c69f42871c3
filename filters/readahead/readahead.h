/* blockkit: the readahead filter's per-connection state (see readahead.c). */
#ifndef BLOCKKIT_READAHEAD_H
#define BLOCKKIT_READAHEAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-filter.h>

struct ra_handle {
  pthread_mutex_t lock;         /* guards everything below */
  uint64_t size;                /* of the export */
  bool use_cache;               /* below caches: prefetch with CACHE */
  nbdkit_next *below;           /* from .prepare to .finalize */

  /* Sequential detection. */
  uint64_t next_offset;         /* where the next read would continue */
  uint64_t window;              /* bytes to fetch ahead; 0: none */

  /* Buffer mode: data read ahead, served from here. */
  char *buf;
  uint64_t buf_offset;
  uint64_t buf_len;             /* 0: empty */
  uint64_t buf_cap;

  /* Cache mode: how far below has been asked to cache. */
  uint64_t prefetched_end;

  /* Every open handle is on a list, so a write on any connection can
   * drop what every connection has read ahead.
   */
  struct ra_handle *prev, *next;
};

/* The registry of handles (readahead-registry.c). */
extern void ra_register (struct ra_handle *h);
extern void ra_unregister (struct ra_handle *h);
/* Drops the buffered data of every connection that overlaps the range.
 * Called after a write, zero or trim reached the layer below.
 */
extern void ra_invalidate (uint64_t offset, uint64_t count);

/* The background prefetcher (readahead-prefetch.c). */
extern void ra_prefetch_start (void);
extern void ra_prefetch_stop (void);
/* Queues a CACHE request below for H; false if there is no thread (the
 * caller then does it itself).
 */
extern bool ra_prefetch_queue (struct ra_handle *h, uint64_t offset,
                               uint32_t count);
/* Drops H's queued requests and waits for one in progress. */
extern void ra_prefetch_forget (struct ra_handle *h);

#endif /* BLOCKKIT_READAHEAD_H */
