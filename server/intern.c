/* blockkit: nbdkit_strdup_intern and friends.
 *
 * Interned strings live as long as what they were made for: the current
 * connection, or, outside any connection, until the server unloads.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static char **global_interns;
static size_t n_global, cap_global;

static int
append (char ***list, size_t *n, size_t *cap, char *s)
{
  if (*n == *cap) {
    size_t newcap = *cap ? *cap * 2 : 16;
    char **p = realloc (*list, newcap * sizeof *p);
    if (p == NULL)
      return -1;
    *list = p;
    *cap = newcap;
  }
  (*list)[(*n)++] = s;
  return 0;
}

/* Takes ownership of S. */
static const char *
intern (char *s)
{
  struct connection *conn = threadlocal_get_conn ();
  int r;

  if (s == NULL) {
    nbdkit_error ("intern: %m");
    return NULL;
  }
  if (conn) {
    /* A connection's own threads may intern at once: use its lock. */
    pthread_mutex_lock (&conn->queue_lock);
    r = append (&conn->interns, &conn->n_interns, &conn->interns_cap, s);
    pthread_mutex_unlock (&conn->queue_lock);
  }
  else {
    pthread_mutex_lock (&global_lock);
    r = append (&global_interns, &n_global, &cap_global, s);
    pthread_mutex_unlock (&global_lock);
  }
  if (r == -1) {
    nbdkit_error ("intern: out of memory");
    free (s);
    return NULL;
  }
  return s;
}

const char *
nbdkit_strndup_intern (const char *str, size_t n)
{
  return intern (strndup (str, n));
}

const char *
nbdkit_strdup_intern (const char *str)
{
  return intern (strdup (str));
}

const char *
nbdkit_vprintf_intern (const char *fmt, va_list ap)
{
  char *s;

  if (vasprintf (&s, fmt, ap) == -1)
    s = NULL;
  return intern (s);
}

const char *
nbdkit_printf_intern (const char *fmt, ...)
{
  va_list ap;
  const char *r;

  va_start (ap, fmt);
  r = nbdkit_vprintf_intern (fmt, ap);
  va_end (ap);
  return r;
}

void
free_interns (void)
{
  size_t i;

  for (i = 0; i < n_global; ++i)
    free (global_interns[i]);
  free (global_interns);
  global_interns = NULL;
  n_global = cap_global = 0;
}
