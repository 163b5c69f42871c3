/* blockkit: the exitlast filter.
 *
 * Makes the server exit when its last client disconnects (once at least
 * one client has connected), e.g. to serve a single copy job and go.
 *
 * A client is counted while it has the export open (.open to .close).
 * A client that asks for NBD_OPT_INFO closes the export and reopens it
 * for NBD_OPT_GO, so the count can touch zero for a moment inside one
 * handshake; shutting down right then would cut that client off.  So
 * .close only wakes a watcher thread, which shuts the server down once
 * the count has stayed at zero, with no new client arriving, for
 * GRACE_MS.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "watcher.h"

#define GRACE_MS 100

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned clients;
static bool ever_connected;
static uint64_t generation;     /* bumped by every arrival */
static bool stop;
static struct watcher watcher = {
  .lock = &lock, .cond = &cond, .stop = &stop
};

/* Any non-NULL handle: the filter keeps no state per client. */
static int handle_token;

static void
deadline_in_ms (struct timespec *ts, long ms)
{
  clock_gettime (CLOCK_REALTIME, ts);
  ts->tv_nsec += ms * 1000000;
  ts->tv_sec += ts->tv_nsec / 1000000000;
  ts->tv_nsec %= 1000000000;
}

static void *
watch (void *arg)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  while (!stop) {
    if (ever_connected && clients == 0) {
      uint64_t gen = generation;
      struct timespec ts;
      int r = 0;

      deadline_in_ms (&ts, GRACE_MS);
      while (!stop && r != ETIMEDOUT)
        r = pthread_cond_timedwait (&cond, &lock, &ts);
      if (!stop && clients == 0 && generation == gen) {
        nbdkit_debug ("exitlast: the last client has gone: exiting");
        nbdkit_shutdown ();
        break;
      }
      continue;
    }
    pthread_cond_wait (&cond, &lock);
  }
  return NULL;
}

static int
exitlast_after_fork (nbdkit_backend *backend)
{
  return watcher_start (&watcher, "exitlast", watch);
}

static void
exitlast_cleanup (nbdkit_backend *backend)
{
  watcher_stop (&watcher);
}

static int
exitlast_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                     int readonly)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    generation++;
  }
  return next (nxdata, readonly);
}

static void *
exitlast_open (nbdkit_next_open *next, nbdkit_context *context,
               int readonly, const char *exportname, int is_tls)
{
  if (next (context, readonly, exportname) == -1)
    return NULL;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  clients++;
  generation++;
  ever_connected = true;
  return &handle_token;
}

static void
exitlast_close (void *handle)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  if (--clients == 0)
    pthread_cond_broadcast (&cond);
}

static struct nbdkit_filter filter = {
  .name = "exitlast",
  .longname = "blockkit exitlast filter",
  .after_fork = exitlast_after_fork,
  .cleanup = exitlast_cleanup,
  .preconnect = exitlast_preconnect,
  .open = exitlast_open,
  .close = exitlast_close,
};

NBDKIT_REGISTER_FILTER (filter)
