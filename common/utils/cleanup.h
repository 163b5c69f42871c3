/* blockkit: scope-bound cleanup (GCC/Clang cleanup attribute).
 *
 * CLEANUP_FREE char *s = ...;        freed when s goes out of scope
 * CLEANUP_CLOSE int fd = ...;         closed if >= 0
 * ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&m); unlocked at end of scope
 */
#ifndef BLOCKKIT_CLEANUP_H
#define BLOCKKIT_CLEANUP_H

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}
#define CLEANUP_FREE __attribute__ ((cleanup (cleanup_free)))

static inline void
cleanup_close (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define CLEANUP_CLOSE __attribute__ ((cleanup (cleanup_close)))

static inline void
cleanup_unlock (pthread_mutex_t **mutex)
{
  pthread_mutex_unlock (*mutex);
}

#define CLEANUP_CONCAT2(a, b) a##b
#define CLEANUP_CONCAT(a, b) CLEANUP_CONCAT2 (a, b)

#define ACQUIRE_LOCK_FOR_CURRENT_SCOPE(mutex)                           \
  __attribute__ ((cleanup (cleanup_unlock)))                            \
  pthread_mutex_t *CLEANUP_CONCAT (scope_lock_, __LINE__) = (mutex);    \
  pthread_mutex_lock (CLEANUP_CONCAT (scope_lock_, __LINE__))

static inline void
cleanup_rwlock_unlock (pthread_rwlock_t **rw)
{
  pthread_rwlock_unlock (*rw);
}

#define ACQUIRE_RDLOCK_FOR_CURRENT_SCOPE(rw)                            \
  __attribute__ ((cleanup (cleanup_rwlock_unlock)))                     \
  pthread_rwlock_t *CLEANUP_CONCAT (scope_rdlock_, __LINE__) = (rw);    \
  pthread_rwlock_rdlock (CLEANUP_CONCAT (scope_rdlock_, __LINE__))

#define ACQUIRE_WRLOCK_FOR_CURRENT_SCOPE(rw)                            \
  __attribute__ ((cleanup (cleanup_rwlock_unlock)))                     \
  pthread_rwlock_t *CLEANUP_CONCAT (scope_wrlock_, __LINE__) = (rw);    \
  pthread_rwlock_wrlock (CLEANUP_CONCAT (scope_wrlock_, __LINE__))

#endif /* BLOCKKIT_CLEANUP_H */
