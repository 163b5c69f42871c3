/* blockkit rate filter: the token bucket.
 *
 * A request reserves its bits at once, going into debt if the bucket
 * holds too few, and then waits for the debt to be paid off by the
 * refill.  Reserving before waiting keeps concurrent requests fair (each
 * queues behind the bits reserved before it) and lets a request larger
 * than the bucket through at exactly the configured rate.
 */
#include <config.h>

#include "bucket.h"

#include "cleanup.h"

void
bucket_init (struct bucket *b)
{
  pthread_mutex_init (&b->lock, NULL);
  /* Start empty, and only from the first transfer: the first bits are
   * already limited rather than a burst of credit saved up since the
   * server started going out at any speed.
   */
  b->tokens = 0;
  b->started = false;
}

void
bucket_destroy (struct bucket *b)
{
  pthread_mutex_destroy (&b->lock);
}

double
bucket_take (struct bucket *b, double rate, double burst, uint64_t bits)
{
  struct timespec now;
  double elapsed, cap;

  if (rate <= 0)
    return 0;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&b->lock);
  clock_gettime (CLOCK_MONOTONIC, &now);
  if (!b->started) {
    b->last = now;
    b->started = true;
  }
  elapsed = (now.tv_sec - b->last.tv_sec) +
    (now.tv_nsec - b->last.tv_nsec) / 1e9;
  b->last = now;
  cap = rate * burst;
  b->tokens += elapsed * rate;
  if (b->tokens > cap)
    b->tokens = cap;
  b->tokens -= (double) bits;
  return b->tokens >= 0 ? 0 : -b->tokens / rate;
}
