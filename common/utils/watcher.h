/* blockkit: a filter's background thread, started in .after_fork and
 * stopped in .cleanup.
 *
 * The thread sleeps on COND under LOCK and must return once *STOP is
 * true; watcher_stop sets it, wakes the thread and waits for it.
 */
#ifndef BLOCKKIT_WATCHER_H
#define BLOCKKIT_WATCHER_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include <nbdkit-common.h>

struct watcher {
  pthread_mutex_t *lock;
  pthread_cond_t *cond;
  bool *stop;
  pthread_t thread;
  bool running;
};

/* Starts RUN (WHO names the filter in the error).  0, or -1 with the
 * error reported.
 */
static inline int
watcher_start (struct watcher *w, const char *who, void *(*run) (void *))
{
  int err = pthread_create (&w->thread, NULL, run, NULL);

  if (err) {
    errno = err;
    nbdkit_error ("%s: pthread_create: %m", who);
    return -1;
  }
  w->running = true;
  return 0;
}

static inline void
watcher_stop (struct watcher *w)
{
  if (!w->running)
    return;
  pthread_mutex_lock (w->lock);
  *w->stop = true;
  pthread_cond_broadcast (w->cond);
  pthread_mutex_unlock (w->lock);
  pthread_join (w->thread, NULL);
  w->running = false;
}

#endif /* BLOCKKIT_WATCHER_H */
