/* blockkit rate filter: a token bucket counting bits. */
#ifndef BLOCKKIT_RATE_BUCKET_H
#define BLOCKKIT_RATE_BUCKET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct bucket {
  pthread_mutex_t lock;
  double tokens;                /* bits available; negative = owed */
  struct timespec last;         /* when tokens were last topped up */
  bool started;                 /* false until the first transfer */
};

extern void bucket_init (struct bucket *b);
extern void bucket_destroy (struct bucket *b);

/* Takes BITS from the bucket, which refills at RATE bits per second and
 * holds at most RATE * BURST seconds' worth.  Returns how long (seconds)
 * the caller must wait before its data may move.  RATE 0 is unlimited.
 */
extern double bucket_take (struct bucket *b, double rate, double burst,
                           uint64_t bits);

#endif /* BLOCKKIT_RATE_BUCKET_H */
