/* blockkit: the exitwhen filter.
 *
 * Makes the server exit gracefully when something happens outside it:
 *
 *   exitwhen=file-created:PATH | file-deleted:PATH | pipe-closed:FD |
 *            process-exits:PID | script:COMMAND      (repeatable)
 *   exitwhen-poll=SECS                                (default 60)
 *
 * A watcher thread, started in .after_fork and stopped in .cleanup,
 * checks the events every exitwhen-poll seconds.  Once any has happened
 * the server refuses new clients, lets the connected ones finish, and
 * exits when none is left.  A client is counted from .open to .close;
 * as in the exitlast filter, the exit waits until the count has stayed
 * at zero for GRACE_MS, so that a client reopening the export between
 * NBD_OPT_INFO and NBD_OPT_GO is not cut off.
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
#include "watcher.h"
#include "events.h"

#define GRACE_MS 100

static struct event *events;
static size_t n_events;
static double poll_secs = 60;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned clients;
static bool exiting;            /* an event has happened */
static bool stop;               /* .cleanup: the watcher must end */
static struct watcher watcher = {
  .lock = &lock, .cond = &cond, .stop = &stop
};

/* Any non-NULL handle: the filter keeps no state per client. */
static int handle_token;

static void
exitwhen_unload (void)
{
  size_t i;

  for (i = 0; i < n_events; ++i)
    event_free (&events[i]);
  free (events);
}

/* The nbdkit-style names for single events are accepted too. */
static const struct { const char *key; enum event_type type; } typed_keys[] = {
  { "exit-when-file-created", EVENT_FILE_CREATED },
  { "exit-when-file-deleted", EVENT_FILE_DELETED },
  { "exit-when-pipe-closed", EVENT_PIPE_CLOSED },
  { "exit-when-process-exits", EVENT_PROCESS_EXITS },
  { "exit-when-script", EVENT_SCRIPT },
};

static int
add_event (const char *key, const char *value, int typed)
{
  struct event *v = realloc (events, (n_events + 1) * sizeof *v);

  if (v == NULL) {
    nbdkit_error ("realloc: %m");
    return -1;
  }
  events = v;
  if ((typed >= 0 ?
       event_parse_typed (&v[n_events], typed, key, value) :
       event_parse (&v[n_events], key, value)) == -1)
    return -1;
  n_events++;
  return 0;
}

static int
exitwhen_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                 const char *key, const char *value)
{
  size_t i;

  if (strcmp (key, "exitwhen") == 0)
    return add_event (key, value, -1);
  for (i = 0; i < sizeof typed_keys / sizeof typed_keys[0]; ++i)
    if (strcmp (key, typed_keys[i].key) == 0)
      return add_event (key, value, typed_keys[i].type);
  if (strcmp (key, "exitwhen-poll") == 0 ||
      strcmp (key, "exit-when-poll") == 0) {
    char *end;

    errno = 0;
    poll_secs = strtod (value, &end);
    if (errno || end == value || *end || !(poll_secs > 0) ||
        poll_secs > 86400) {
      nbdkit_error ("%s=%s: expected seconds (above 0, at most a day)",
                    key, value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

static int
exitwhen_config_complete (nbdkit_next_config_complete *next,
                          nbdkit_backend *nxdata)
{
  if (n_events == 0)
    nbdkit_debug ("exitwhen: no events given: the server will not exit "
                  "by itself");
  return next (nxdata);
}

#define exitwhen_config_help \
  "exitwhen=<EVENT>     file-created:PATH, file-deleted:PATH,\n" \
  "                     pipe-closed:FD, process-exits:PID or\n" \
  "                     script:COMMAND (repeatable; any one suffices).\n" \
  "exitwhen-poll=<SECS> How often to check (default 60)."

static void
deadline_in (struct timespec *ts, double secs)
{
  long long ns;

  clock_gettime (CLOCK_REALTIME, ts);
  ns = ts->tv_nsec + (long long) (secs * 1e9);
  ts->tv_sec += ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
}

/* Sleeps on the condition for SECS or until woken.  Caller holds lock. */
static void
wait_for (double secs)
{
  struct timespec ts;

  deadline_in (&ts, secs);
  pthread_cond_timedwait (&cond, &lock, &ts);
}

static bool
any_event_happened (void)
{
  size_t i;

  for (i = 0; i < n_events; ++i)
    if (event_happened (&events[i]))
      return true;
  return false;
}

static void *
watch (void *arg)
{
  pthread_mutex_lock (&lock);
  while (!stop) {
    if (!exiting) {
      bool happened;

      /* Events (scripts especially) may be slow: check unlocked. */
      pthread_mutex_unlock (&lock);
      happened = any_event_happened ();
      pthread_mutex_lock (&lock);
      if (happened) {
        nbdkit_debug ("exitwhen: event happened: refusing new clients, "
                      "exiting when the last one has gone");
        exiting = true;
        continue;
      }
      wait_for (poll_secs);
      continue;
    }
    if (clients == 0) {
      /* Zero for a moment may be one client between INFO and GO. */
      wait_for (GRACE_MS / 1000.0);
      if (!stop && clients == 0) {
        nbdkit_debug ("exitwhen: no clients left: exiting");
        nbdkit_shutdown ();
        break;
      }
      continue;
    }
    pthread_cond_wait (&cond, &lock);    /* until a client leaves */
  }
  pthread_mutex_unlock (&lock);
  return NULL;
}

static int
exitwhen_after_fork (nbdkit_backend *backend)
{
  if (n_events == 0)
    return 0;
  return watcher_start (&watcher, "exitwhen", watch);
}

static void
exitwhen_cleanup (nbdkit_backend *backend)
{
  watcher_stop (&watcher);
}

/* A new client is refused once an event has happened, even one the
 * watcher has not polled yet (up to exitwhen-poll seconds ago): so each
 * connection checks the events itself, then wakes the watcher to start
 * waiting for the clients still connected to leave.
 */
static int
exitwhen_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                     int readonly)
{
  bool happened;

  pthread_mutex_lock (&lock);
  happened = exiting;
  pthread_mutex_unlock (&lock);
  if (!happened && n_events > 0 && any_event_happened ()) {
    pthread_mutex_lock (&lock);
    if (!exiting)
      nbdkit_debug ("exitwhen: event happened: refusing new clients, "
                    "exiting when the last one has gone");
    exiting = happened = true;
    pthread_cond_broadcast (&cond);
    pthread_mutex_unlock (&lock);
  }
  if (happened) {
    nbdkit_error ("exitwhen: the server is exiting: refusing new client");
    return -1;
  }
  return next (nxdata, readonly);
}

static void *
exitwhen_open (nbdkit_next_open *next, nbdkit_context *context,
               int readonly, const char *exportname, int is_tls)
{
  if (next (context, readonly, exportname) == -1)
    return NULL;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  clients++;
  return &handle_token;
}

static void
exitwhen_close (void *handle)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  if (--clients == 0)
    pthread_cond_broadcast (&cond);
}

static struct nbdkit_filter filter = {
  .name = "exitwhen",
  .longname = "blockkit exitwhen filter",
  .unload = exitwhen_unload,
  .config = exitwhen_config,
  .config_complete = exitwhen_config_complete,
  .config_help = exitwhen_config_help,
  .after_fork = exitwhen_after_fork,
  .cleanup = exitwhen_cleanup,
  .preconnect = exitwhen_preconnect,
  .open = exitwhen_open,
  .close = exitwhen_close,
};

NBDKIT_REGISTER_FILTER (filter)
