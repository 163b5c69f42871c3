/* blockkit: the scan filter.
 *
 * Reads the whole disk, front to back, in a background thread, so that
 * a cache filter (or a plugin with its own cache) below fills up before
 * the client asks for the data.  This is the scan filter from seed 003's
 * TODO, made possible by contexts opened outside any client connection:
 * the thread opens its own context below this filter with
 * nbdkit_next_context_open (..., shared=1), prepares it, reads through
 * it, then finalizes and closes it.  Only the thread uses that context.
 *
 * The scan starts when the first client connection is prepared (so the
 * export name is known) and runs once per server.  It stops when it
 * reaches the end, when the connection that started it closes (unless
 * scan-forever), or when the server shuts down; the thread is always
 * joined before .cleanup / .unload return.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "minmax.h"
#include "scan-position.h"
#include "filter-handle.h"

static bool scan_ahead = true;
static bool scan_clock = true;
static bool scan_forever;
static uint32_t scan_size = 2 * 1024 * 1024;

/* With a plugin that cannot take calls on two handles at once, the
 * scan's calls and the client's data calls are serialized here.
 */
static bool serialize;
static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;

/* The scan thread and what starting and stopping it needs. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool started;            /* a connection has started the scan */
static bool joinable;           /* the thread exists and is not joined */
static pthread_t thread;
static nbdkit_backend *backend; /* the layer below, for the thread */
static char *exportname;        /* the starting connection's */
static struct scan_position position = SCAN_POSITION_INIT;

struct handle {
  bool starter;                 /* this connection started the scan */
  char *exportname;
};

static int
bool_key (const char *key, const char *value, bool *r)
{
  int b = nbdkit_parse_bool (value);

  if (b == -1) {
    nbdkit_error ("%s: expected a boolean, got \"%s\"", key, value);
    return -1;
  }
  *r = b;
  return 0;
}

static int
scan_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
             const char *key, const char *value)
{
  if (strcmp (key, "scan-ahead") == 0)
    return bool_key (key, value, &scan_ahead);
  if (strcmp (key, "scan-clock") == 0)
    return bool_key (key, value, &scan_clock);
  if (strcmp (key, "scan-forever") == 0)
    return bool_key (key, value, &scan_forever);
  if (strcmp (key, "scan-size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    if (r < 512 || r > 64 * 1024 * 1024) {
      nbdkit_error ("scan-size: %s is out of range (512 bytes to 64M)",
                    value);
      return -1;
    }
    scan_size = r;
    return 0;
  }
  return next (nxdata, key, value);
}

#define scan_config_help \
  "scan-ahead=BOOL    Skip ahead of client reads (default true).\n" \
  "scan-clock=BOOL    Go back for what skipping ahead missed (default true).\n" \
  "scan-forever=BOOL  Keep scanning after the client disconnects\n" \
  "                   (default false).\n" \
  "scan-size=SIZE     Size of each read (default 2M)."

static int
scan_get_ready (int thread_model)
{
  serialize = thread_model < NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;
  return 0;
}

static void
lock_plugin (void)
{
  if (serialize)
    pthread_mutex_lock (&plugin_lock);
}

static void
unlock_plugin (void)
{
  if (serialize)
    pthread_mutex_unlock (&plugin_lock);
}

/* The largest read the layer below accepts, capped at scan-size. */
static uint32_t
chunk_size (nbdkit_next *next)
{
  uint32_t minimum, preferred, maximum;

  if (next->block_size (next, &minimum, &preferred, &maximum) == 0 &&
      maximum > 0 && maximum < scan_size)
    return maximum;
  return scan_size;
}

static void *
scan_thread (void *arg)
{
  nbdkit_next *next;
  CLEANUP_FREE char *buf = NULL;
  uint64_t offset;
  uint32_t chunk = 0, n;
  int err;

  lock_plugin ();
  next = nbdkit_next_context_open (backend, 1, exportname, 1);
  if (next == NULL) {
    unlock_plugin ();
    nbdkit_debug ("scan: could not open a context for the scan");
    return NULL;
  }
  if (next->prepare (next) == -1) {
    nbdkit_debug ("scan: could not prepare the scan's context");
    goto out;
  }
  chunk = chunk_size (next);
  unlock_plugin ();

  buf = malloc (chunk);
  if (buf == NULL) {
    nbdkit_debug ("scan: malloc: %m");
    lock_plugin ();
    goto out;
  }
  nbdkit_debug ("scan: scanning in reads of %" PRIu32, chunk);
  while (scan_position_next (&position, chunk, &offset, &n)) {
    lock_plugin ();
    if (next->pread (next, buf, n, offset, 0, &err) == -1) {
      unlock_plugin ();
      nbdkit_debug ("scan: read at %" PRIu64 " failed (errno %d): "
                    "stopping the scan", offset, err);
      break;
    }
    unlock_plugin ();
  }
  nbdkit_debug ("scan: %s", scan_position_stopped (&position) ?
                "stopped" : "finished");
  lock_plugin ();
 out:
  next->finalize (next);
  nbdkit_next_context_close (next);
  unlock_plugin ();
  return NULL;
}

/* Stops the scan (if running) and joins the thread (if not yet done). */
static void
stop_scan (void)
{
  bool join;

  scan_position_stop (&position);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    join = joinable;
    joinable = false;
  }
  if (join)
    pthread_join (thread, NULL);
}

static void *
scan_open (nbdkit_next_open *next, nbdkit_context *context,
           int readonly, const char *name, int is_tls)
{
  struct handle *h = filter_handle_open (next, context, readonly,
                                         name, sizeof *h);

  if (h == NULL)
    return NULL;
  h->exportname = strdup (name);
  if (h->exportname == NULL) {
    nbdkit_error ("strdup: %m");
    free (h);
    return NULL;
  }
  return h;
}

/* The first connection to be prepared starts the scan, with its export
 * name, on the layer below this filter.
 */
static int
scan_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  int r;

  int64_t size;

  if (started)
    return 0;
  started = true;
  /* The position is set up before the thread runs, so that client reads
   * from the very start already move it.
   */
  size = next->get_size (next);
  if (size == -1) {
    nbdkit_debug ("scan: get_size failed: no scan");
    return 0;
  }
  scan_position_start (&position, size, scan_clock);
  /* The thread needs the name after this connection has gone. */
  exportname = h->exportname;
  h->exportname = NULL;
  r = pthread_create (&thread, NULL, scan_thread, NULL);
  if (r != 0) {
    nbdkit_debug ("scan: pthread_create: %s: no scan", strerror (r));
    return 0;
  }
  joinable = true;
  h->starter = true;
  return 0;
}

static void
scan_close (void *handle)
{
  struct handle *h = handle;

  if (h->starter && !scan_forever)
    stop_scan ();
  free (h->exportname);
  free (h);
}

/* The server's cleanup runs from the client side inwards, so the layers
 * below are still usable while the thread finishes its last read.
 */
static void
scan_cleanup (nbdkit_backend *b)
{
  stop_scan ();
}

static void
scan_unload (void)
{
  stop_scan ();
  free (exportname);
}

static int
scan_after_fork (nbdkit_backend *b)
{
  backend = b;
  return 0;
}

static int
scan_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  int r;

  if (scan_ahead)
    scan_position_client_read (&position, offset, count);
  lock_plugin ();
  r = next->pread (next, buf, count, offset, flags, err);
  unlock_plugin ();
  return r;
}

/* The other data calls only need the lock (when there is one). */
static int
scan_pwrite (nbdkit_next *next, void *handle, const void *buf,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  int r;

  lock_plugin ();
  r = next->pwrite (next, buf, count, offset, flags, err);
  unlock_plugin ();
  return r;
}

static int
scan_zero (nbdkit_next *next, void *handle, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  int r;

  lock_plugin ();
  r = next->zero (next, count, offset, flags, err);
  unlock_plugin ();
  return r;
}

static int
scan_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

static int
scan_trim (nbdkit_next *next, void *handle, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  int r;

  lock_plugin ();
  r = next->trim (next, count, offset, flags, err);
  unlock_plugin ();
  return r;
}

static int
scan_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  int r;

  lock_plugin ();
  r = next->flush (next, flags, err);
  unlock_plugin ();
  return r;
}

static int
scan_extents (nbdkit_next *next, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents, int *err)
{
  int r;

  lock_plugin ();
  r = next->extents (next, count, offset, flags, extents, err);
  unlock_plugin ();
  return r;
}

static int
scan_cache (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  int r;

  lock_plugin ();
  r = next->cache (next, count, offset, flags, err);
  unlock_plugin ();
  return r;
}

static struct nbdkit_filter filter = {
  .name              = "scan",
  .longname          = "blockkit background scan filter",
  .config            = scan_config,
  .config_help       = scan_config_help,
  .get_ready         = scan_get_ready,
  .after_fork        = scan_after_fork,
  .cleanup           = scan_cleanup,
  .unload            = scan_unload,
  .open              = scan_open,
  .prepare           = scan_prepare,
  .close             = scan_close,
  .can_fast_zero     = scan_can_fast_zero,
  .pread             = scan_pread,
  .pwrite            = scan_pwrite,
  .zero              = scan_zero,
  .trim              = scan_trim,
  .flush             = scan_flush,
  .extents           = scan_extents,
  .cache             = scan_cache,
};

NBDKIT_REGISTER_FILTER (filter)
