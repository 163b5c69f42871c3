/* blockkit rate filter: where a limit comes from (a fixed value or a
 * file re-read while the server runs).
 */
#ifndef BLOCKKIT_RATE_SOURCE_H
#define BLOCKKIT_RATE_SOURCE_H

#include <pthread.h>
#include <time.h>

struct rate_source {
  const char *key;              /* for messages: "rate", ... */
  pthread_mutex_t lock;
  double rate;                  /* bits per second; 0 = unlimited */
  char *file;                   /* NULL: rate is fixed */
  struct timespec next_read;    /* when to look at the file again */
};

extern void rate_source_init (struct rate_source *s, const char *key);
extern void rate_source_free (struct rate_source *s);
extern int rate_source_set_rate (struct rate_source *s, const char *value);
extern int rate_source_set_file (struct rate_source *s, const char *path);

/* The current rate, re-reading the file if it is time to. */
extern double rate_source_get (struct rate_source *s);

/* Parses a rate ("2M", "500k", "0") into bits per second; -1 if bad. */
extern double parse_rate (const char *value);

#endif /* BLOCKKIT_RATE_SOURCE_H */
