/* blockkit: unit tests for common/utils/cleanup.h. */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>

/* Count the calls cleanup_free makes: the system headers it needs are
 * included above (so their include guards stop them being re-read),
 * then free is redirected while cleanup.h's inline functions are
 * defined.
 */
static unsigned frees;
static void *last_freed;
static void
counting_free (void *p)
{
  frees++;
  last_freed = p;
  free (p);
}
#define free counting_free
#include "cleanup.h"
#undef free

static unsigned failures;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

static void
test_cleanup_free (void)
{
  void *seen;

  frees = 0;
  {
    CLEANUP_FREE char *s = malloc (16);
    CHECK (s != NULL);
    seen = s;
    CHECK (frees == 0);
  }
  CHECK (frees == 1);
  CHECK (last_freed == seen);

  /* NULL is fine (free (NULL) is a no-op). */
  frees = 0;
  {
    CLEANUP_FREE char *s = NULL;
    (void) s;
  }
  CHECK (frees == 1);
  CHECK (last_freed == NULL);

  /* Runs on every exit from the scope, including break. */
  frees = 0;
  for (int i = 0; i < 3; ++i) {
    CLEANUP_FREE char *s = strdup ("x");
    CHECK (s != NULL);
    if (i == 1)
      break;
  }
  CHECK (frees == 2);
}

static int
early_return (bool early)
{
  CLEANUP_FREE char *s = strdup ("early");

  if (s == NULL)                /* (a use: clang warns of an unused one) */
    return -1;
  if (early)
    return 1;
  return 2;
}

static void
test_cleanup_free_return (void)
{
  frees = 0;
  CHECK (early_return (true) == 1);
  CHECK (frees == 1);
  CHECK (early_return (false) == 2);
  CHECK (frees == 2);
}

static bool
fd_is_open (int fd)
{
  return fcntl (fd, F_GETFD) != -1 || errno != EBADF;
}

static void
test_cleanup_close (void)
{
  int saved;

  {
    CLEANUP_CLOSE int fd = open ("/dev/null", O_RDONLY);
    CHECK (fd >= 0);
    saved = fd;
    CHECK (fd_is_open (saved));
  }
  CHECK (!fd_is_open (saved));

  /* -1 is left alone (and must not close anything else). */
  {
    int other = open ("/dev/null", O_RDONLY);
    CHECK (other >= 0);
    {
      CLEANUP_CLOSE int fd = -1;
      (void) fd;
    }
    CHECK (fd_is_open (other));
    close (other);
  }
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int
locked_return (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);

  if (pthread_mutex_trylock (&lock) != EBUSY)
    return -1;
  return 0;
}

static void
test_lock (void)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    CHECK (pthread_mutex_trylock (&lock) == EBUSY);
    {
      /* Two locks in nested scopes get distinct hidden names. */
      static pthread_mutex_t lock2 = PTHREAD_MUTEX_INITIALIZER;
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock2);
      CHECK (pthread_mutex_trylock (&lock2) == EBUSY);
    }
    CHECK (pthread_mutex_trylock (&lock) == EBUSY);
  }
  /* Released at the end of the scope. */
  CHECK (pthread_mutex_trylock (&lock) == 0);
  pthread_mutex_unlock (&lock);

  /* Released on return from a function too. */
  CHECK (locked_return () == 0);
  CHECK (pthread_mutex_trylock (&lock) == 0);
  pthread_mutex_unlock (&lock);
}

static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;

static void
test_rwlock (void)
{
  {
    ACQUIRE_RDLOCK_FOR_CURRENT_SCOPE (&rwlock);
    CHECK (pthread_rwlock_trywrlock (&rwlock) == EBUSY);
  }
  CHECK (pthread_rwlock_trywrlock (&rwlock) == 0);
  pthread_rwlock_unlock (&rwlock);

  {
    ACQUIRE_WRLOCK_FOR_CURRENT_SCOPE (&rwlock);
    CHECK (pthread_rwlock_tryrdlock (&rwlock) != 0);
    CHECK (pthread_rwlock_trywrlock (&rwlock) != 0);
  }
  CHECK (pthread_rwlock_tryrdlock (&rwlock) == 0);
  pthread_rwlock_unlock (&rwlock);
}

/* Another thread must be able to take the lock once the scope ends. */
static void *
try_lock_thread (void *arg)
{
  int *r = arg;

  *r = pthread_mutex_trylock (&lock);
  if (*r == 0)
    pthread_mutex_unlock (&lock);
  return NULL;
}

static void
test_lock_other_thread (void)
{
  pthread_t t;
  int r = -1;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    CHECK (pthread_create (&t, NULL, try_lock_thread, &r) == 0);
    CHECK (pthread_join (t, NULL) == 0);
    CHECK (r == EBUSY);
  }
  r = -1;
  CHECK (pthread_create (&t, NULL, try_lock_thread, &r) == 0);
  CHECK (pthread_join (t, NULL) == 0);
  CHECK (r == 0);
}

int
main (void)
{
  test_cleanup_free ();
  test_cleanup_free_return ();
  test_cleanup_close ();
  test_lock ();
  test_rwlock ();
  test_lock_other_thread ();

  if (failures) {
    fprintf (stderr, "test-cleanup: %u check(s) FAILED\n", failures);
    return 1;
  }
  printf ("test-cleanup: all checks passed\n");
  return 0;
}
