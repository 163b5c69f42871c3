/* A filter that opens ONE context below outside any client connection
 * (nbdkit_next_context_open with shared=1) in .after_fork, reads through
 * it from a background thread until .cleanup, and serves every client's
 * reads through it as well, so that the plugin sees one context shared
 * by all connections.  It is closed in .cleanup.  Writes and everything
 * else go through each connection's own next context.  Layer "shared" in
 * the call log (test-layer-log.h); for test-filter-contexts.sh.
 *
 * The layer below is the test plugin, which is fully parallel: a filter
 * sharing a context with a less parallel layer would have to serialize
 * its calls itself, since the server's locks do not cover a background
 * thread.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "test-layer-log.h"

static nbdkit_next *shared;
static int64_t shared_size;

static pthread_t thread;
static bool thread_running;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool stop;
static unsigned bg_reads;

static void
shared_load (void)
{
  layer_log_name ("shared");
}

static void
shared_unload (void)
{
  layer_log_close ();
}

static int
shared_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  return next (nxdata, key, value);
}

/* Reads the last block every few milliseconds until told to stop. */
static void *
background (void *arg)
{
  char buf[512];
  int err;

  for (;;) {
    struct timespec ts;

    err = 0;
    if (shared->pread (shared, buf, sizeof buf, shared_size - sizeof buf, 0,
                       &err) == -1) {
      layer_log ("background: read failed: %s", strerror (err));
      return NULL;
    }

    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    if (bg_reads++ == 0)
      layer_log ("background: first read ok");
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 5 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    while (!stop && pthread_cond_timedwait (&cond, &lock, &ts) != ETIMEDOUT)
      ;
    if (stop)
      return NULL;
  }
}

static int
shared_after_fork (nbdkit_backend *backend)
{
  int e;

  layer_log ("after_fork");
  shared = nbdkit_next_context_open (backend, 0, "", 1);
  if (shared == NULL)
    return -1;
  if (shared->prepare (shared) == -1)
    return -1;
  shared_size = shared->get_size (shared);
  if (shared_size < 512) {
    nbdkit_error ("shared: the disk is too small");
    return -1;
  }
  layer_log ("after_fork: shared context open and prepared");

  e = pthread_create (&thread, NULL, background, NULL);
  if (e) {
    errno = e;
    nbdkit_error ("pthread_create: %m");
    return -1;
  }
  thread_running = true;
  return 0;
}

/* The server calls .cleanup before the layers below it: the thread
 * still has a working context until it is joined here.
 */
static void
shared_cleanup (nbdkit_backend *backend)
{
  layer_log ("cleanup");
  if (thread_running) {
    pthread_mutex_lock (&lock);
    stop = true;
    pthread_cond_signal (&cond);
    pthread_mutex_unlock (&lock);
    pthread_join (thread, NULL);
    thread_running = false;
    layer_log ("cleanup: background thread stopped, %s",
               bg_reads > 0 ? "it read" : "it never read");
  }
  if (shared) {
    if (shared->finalize (shared) == -1)
      layer_log ("cleanup: finalize failed");
    nbdkit_next_context_close (shared);
    shared = NULL;
    layer_log ("cleanup: shared context closed");
  }
}

static int
shared_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  return shared->pread (shared, buf, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "ctxshared",
  .longname          = "shared context test filter",
  .load              = shared_load,
  .unload            = shared_unload,
  .config            = shared_config,
  .after_fork        = shared_after_fork,
  .cleanup           = shared_cleanup,
  .pread             = shared_pread,
};

NBDKIT_REGISTER_FILTER (filter)
