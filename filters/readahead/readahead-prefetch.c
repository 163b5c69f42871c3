/* blockkit: the readahead filter's background prefetcher.
 *
 * nbdkit's readahead filter replies to a read at once and asks the
 * layer below to cache the window beyond it from a background thread,
 * so the prefetch overlaps with the client's next request instead of
 * delaying the reply to this one.  This is that thread: one per server,
 * fed by a small queue of (connection, range) commands.
 *
 * A command uses the connection's own context below, from this thread,
 * while the connection may be making calls on it too: that is only
 * allowed in the parallel thread model, so the thread is not started in
 * the others and callers then prefetch in the request's own thread.
 *
 * A connection's context is only valid until its .finalize, so
 * ra_prefetch_forget, called from there, drops its queued commands and
 * waits for one in progress.  The queue is bounded: prefetching is
 * advice, and a command that does not fit is simply not made.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "readahead.h"

#define QUEUE_MAX 64
/* The largest request a merge may build. */
#define MERGED_MAX (64 * 1024 * 1024)

struct command {
  struct ra_handle *h;
  uint64_t offset;
  uint32_t count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;  /* queue or stop */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;  /* busy cleared */
static struct command queue[QUEUE_MAX];
static size_t q_first, q_len;
static struct ra_handle *busy;  /* whose command the thread is running */
static bool running, stopping;
static pthread_t thread;

static void *
prefetch_thread (void *arg)
{
  pthread_mutex_lock (&lock);
  for (;;) {
    struct command c;
    int err = 0;

    while (q_len == 0 && !stopping)
      pthread_cond_wait (&work, &lock);
    if (stopping)
      break;
    c = queue[q_first];
    q_first = (q_first + 1) % QUEUE_MAX;
    q_len--;
    busy = c.h;
    pthread_mutex_unlock (&lock);

    /* Only advice: a failure costs speed, not correctness. */
    if (c.h->below->cache (c.h->below, c.count, c.offset, 0, &err) == -1)
      nbdkit_debug ("readahead: cache below failed: %s", strerror (err));

    pthread_mutex_lock (&lock);
    busy = NULL;
    pthread_cond_broadcast (&done);
  }
  pthread_mutex_unlock (&lock);
  return NULL;
}

void
ra_prefetch_start (void)
{
  int r;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  if (running)
    return;
  stopping = false;
  r = pthread_create (&thread, NULL, prefetch_thread, NULL);
  if (r != 0) {
    nbdkit_debug ("readahead: pthread_create: %s: prefetching in the "
                  "request threads", strerror (r));
    return;
  }
  running = true;
}

void
ra_prefetch_stop (void)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    if (!running)
      return;
    stopping = true;
    q_len = 0;
    pthread_cond_broadcast (&work);
  }
  pthread_join (thread, NULL);
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  running = false;
}

bool
ra_prefetch_queue (struct ra_handle *h, uint64_t offset, uint32_t count)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  size_t last;

  if (!running || stopping)
    return false;
  /* A range that continues this connection's last queued one joins it:
   * fewer, larger requests below.
   */
  if (q_len > 0) {
    last = (q_first + q_len - 1) % QUEUE_MAX;
    if (queue[last].h == h &&
        queue[last].offset + queue[last].count == offset &&
        (uint64_t) queue[last].count + count <= MERGED_MAX) {
      queue[last].count += count;
      return true;
    }
  }
  if (q_len < QUEUE_MAX) {
    queue[(q_first + q_len) % QUEUE_MAX] =
      (struct command) { .h = h, .offset = offset, .count = count };
    q_len++;
    pthread_cond_signal (&work);
  }
  /* Full: dropped, but the caller must not prefetch itself either. */
  return true;
}

void
ra_prefetch_forget (struct ra_handle *h)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  size_t i, kept = 0;

  /* Compact the queue without H's commands. */
  for (i = 0; i < q_len; ++i) {
    struct command c = queue[(q_first + i) % QUEUE_MAX];

    if (c.h != h)
      queue[(q_first + kept++) % QUEUE_MAX] = c;
  }
  q_len = kept;
  while (busy == h)
    pthread_cond_wait (&done, &lock);
}
