/* blockkit rate filter: limits given on the command line or in files.
 *
 * A rate file holds one rate in the syntax of rate= (e.g. "1M").  It is
 * read when the server starts and then at most once per
 * RATE_FILE_INTERVAL while data moves.  A missing or empty file means
 * no limit (so a limit can be lifted by deleting the file); a file whose
 * content is not a rate keeps the previous limit, with a debug message.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "rate-source.h"

#define RATE_FILE_INTERVAL_NS 1000000000LL   /* 1 s */

void
rate_source_init (struct rate_source *s, const char *key)
{
  memset (s, 0, sizeof *s);
  s->key = key;
  pthread_mutex_init (&s->lock, NULL);
}

void
rate_source_free (struct rate_source *s)
{
  free (s->file);
  s->file = NULL;
  pthread_mutex_destroy (&s->lock);
}

double
parse_rate (const char *value)
{
  int64_t r;

  /* nbdkit_parse_size gives the suffixes: k, M, G (powers of 1024). */
  r = nbdkit_parse_size (value);
  return r < 0 ? -1 : (double) r;
}

int
rate_source_set_rate (struct rate_source *s, const char *value)
{
  double r = parse_rate (value);

  if (r < 0) {
    nbdkit_error ("%s=%s: expected bits per second, e.g. 512k, 10M or "
                  "0 for no limit", s->key, value);
    return -1;
  }
  s->rate = r;
  return 0;
}

/* Reads the file into s->rate.  Caller holds the lock (or is in
 * .config).  Returns -1 only for content that is not a rate.
 */
static int
read_file (struct rate_source *s)
{
  char buf[64], *p, *end;
  FILE *fp;
  size_t n;
  double r;

  fp = fopen (s->file, "re");
  if (fp == NULL) {
    if (errno != ENOENT)
      nbdkit_debug ("%s-file=%s: %m: no limit", s->key, s->file);
    s->rate = 0;
    return 0;
  }
  n = fread (buf, 1, sizeof buf - 1, fp);
  fclose (fp);
  buf[n] = '\0';
  for (p = buf; isspace ((unsigned char) *p); ++p)
    ;
  for (end = p + strlen (p); end > p && isspace ((unsigned char) end[-1]);)
    *--end = '\0';
  if (*p == '\0') {
    s->rate = 0;
    return 0;
  }
  if ((r = parse_rate (p)) < 0)
    return -1;
  if (r != s->rate)
    nbdkit_debug ("%s-file=%s: limit now %g bits/s", s->key, s->file, r);
  s->rate = r;
  return 0;
}

int
rate_source_set_file (struct rate_source *s, const char *path)
{
  free (s->file);
  s->file = nbdkit_absolute_path (path);
  if (s->file == NULL)
    return -1;
  if (read_file (s) == -1) {
    nbdkit_error ("%s-file=%s: the file does not hold a rate", s->key, path);
    return -1;
  }
  return 0;
}

double
rate_source_get (struct rate_source *s)
{
  struct timespec now;

  if (s->file == NULL)
    return s->rate;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&s->lock);
  clock_gettime (CLOCK_MONOTONIC, &now);
  if (now.tv_sec > s->next_read.tv_sec ||
      (now.tv_sec == s->next_read.tv_sec &&
       now.tv_nsec >= s->next_read.tv_nsec)) {
    if (read_file (s) == -1)
      nbdkit_debug ("%s-file=%s: not a rate: keeping %g bits/s",
                    s->key, s->file, s->rate);
    s->next_read = now;
    s->next_read.tv_sec += RATE_FILE_INTERVAL_NS / 1000000000LL;
  }
  return s->rate;
}
