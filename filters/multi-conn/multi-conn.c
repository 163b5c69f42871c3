/* blockkit: the multi-conn filter.
 *
 * Decides whether NBD_FLAG_CAN_MULTI_CONN is advertised, and can make
 * the promise true for a plugin that does not keep it by itself: with
 * multi-conn, a flush on any connection must make every write completed
 * on any connection durable and visible everywhere.  Emulation keeps a
 * list of the prepared contexts of all connections and, on a flush (or a
 * FUA write, emulated here as write + flush), flushes each of them.
 *
 *   multi-conn-mode=auto|emulate|plugin|disable|unsafe
 *   multi-conn-track-dirty=connection|fast|off
 *   multi-conn-exportname=false|true
 *
 * See blockkit-multi-conn-filter(1) for the exact rules.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "filter-handle.h"

enum mode { AUTO, EMULATE, PLUGIN, DISABLE, UNSAFE };
static const char *const mode_names[] =
  { "auto", "emulate", "plugin", "disable", "unsafe", NULL };
enum track { TRACK_CONN, TRACK_FAST, TRACK_OFF };

static enum mode mode = AUTO;
static enum track track = TRACK_CONN;
/* multi-conn-exportname=true: replicate a flush only to the connections
 * of the same export name.  Off by default: a plugin that serves the
 * same data under every name needs flushes replicated to all.
 */
static bool by_exportname;

/* The chain's thread model, known from .get_ready. */
static int chain_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;

struct handle {
  /* Links in the list of emulating contexts (under list_lock). */
  struct handle *prev, *next_h;
  bool listed;

  nbdkit_next *next;            /* valid from .prepare to .finalize */
  char *exportname;             /* as this filter was opened with */
  enum mode mode;               /* AUTO until resolved for this context */

  /* Set after a completed write, zero or trim (and, with connection
   * tracking, a read: this context may now cache data another
   * connection's write makes stale); cleared just before a flush.
   * Accessed with atomics.
   */
  bool dirty;

  /* Under SERIALIZE_REQUESTS the layer below may assume one request at
   * a time per context; a flush from another connection's thread must
   * not overlap this connection's own request, so each call into an
   * emulating context holds this lock.
   */
  pthread_mutex_t lock;
};

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *list_head;

/* fast tracking: anything written by anyone since the last flush. */
static bool any_dirty;

static int
mc_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  int i;

  if (strcmp (key, "multi-conn-mode") == 0) {
    for (i = 0; mode_names[i]; ++i)
      if (strcmp (value, mode_names[i]) == 0) {
        mode = i;
        return 0;
      }
    nbdkit_error ("multi-conn-mode=%s: unknown mode (expected auto, "
                  "emulate, plugin, disable or unsafe)", value);
    return -1;
  }
  if (strcmp (key, "multi-conn-track-dirty") == 0) {
    if (strcmp (value, "connection") == 0 || strcmp (value, "conn") == 0)
      track = TRACK_CONN;
    else if (strcmp (value, "fast") == 0)
      track = TRACK_FAST;
    else if (strcmp (value, "off") == 0)
      track = TRACK_OFF;
    else {
      nbdkit_error ("multi-conn-track-dirty=%s: unknown value (expected "
                    "connection, fast or off)", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "multi-conn-exportname") == 0) {
    int r = nbdkit_parse_bool (value);

    if (r == -1)
      return -1;
    by_exportname = r;
    return 0;
  }
  return next (nxdata, key, value);
}

#define mc_config_help \
  "multi-conn-mode=<MODE>      auto (default), emulate, plugin, disable\n" \
  "                            or unsafe.\n" \
  "multi-conn-track-dirty=<T>  connection (default), fast or off.\n" \
  "multi-conn-exportname=<BOOL> Replicate flushes only within an export\n" \
  "                            name (default false)."

static int
mc_get_ready (int thread_model)
{
  chain_thread_model = thread_model;
  return 0;
}

static void *
mc_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  struct handle *h = filter_handle_open (next, context, readonly,
                                         exportname, sizeof *h);

  if (h == NULL)
    return NULL;
  h->exportname = strdup (exportname);
  if (h->exportname == NULL) {
    nbdkit_error ("strdup: %m");
    free (h);
    return NULL;
  }
  h->mode = AUTO;
  pthread_mutex_init (&h->lock, NULL);
  return h;
}

static void
mc_close (void *handle)
{
  struct handle *h = handle;

  pthread_mutex_destroy (&h->lock);
  free (h->exportname);
  free (h);
}

/* Turns the configured mode into this context's mode (once). */
static int
resolve_mode (nbdkit_next *next, struct handle *h)
{
  int r;

  if (h->mode != AUTO)
    return 0;
  switch (mode) {
  case AUTO:
    /* One connection at a time: nothing to be consistent with. */
    if (chain_thread_model == NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS) {
      h->mode = DISABLE;
      break;
    }
    if ((r = next->can_multi_conn (next)) == -1)
      return -1;
    if (r) {
      h->mode = PLUGIN;
      break;
    }
    /* Without flush below there is nothing to emulate with. */
    if ((r = next->can_flush (next)) == -1)
      return -1;
    h->mode = r ? EMULATE : DISABLE;
    break;
  case EMULATE:
    if ((r = next->can_flush (next)) == -1)
      return -1;
    if (r == 0) {
      nbdkit_error ("multi-conn-mode=emulate: the layer below cannot "
                    "flush, so flushes cannot be made consistent across "
                    "connections");
      return -1;
    }
    h->mode = EMULATE;
    break;
  default:
    h->mode = mode;
  }
  nbdkit_debug ("multi-conn: this connection uses mode %s",
                mode_names[h->mode]);
  return 0;
}

static int
mc_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;

  if (resolve_mode (next, h) == -1)
    return -1;
  h->next = next;
  if (h->mode == EMULATE) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&list_lock);
    h->prev = NULL;
    h->next_h = list_head;
    if (list_head)
      list_head->prev = h;
    list_head = h;
    h->listed = true;
  }
  return 0;
}

static int
mc_finalize (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  /* After this, no other connection may touch our next context. */
  if (h->listed) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&list_lock);
    if (h->prev)
      h->prev->next_h = h->next_h;
    else
      list_head = h->next_h;
    if (h->next_h)
      h->next_h->prev = h->prev;
    h->listed = false;
  }
  return 0;
}

static int
mc_can_multi_conn (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  if (resolve_mode (next, h) == -1)
    return -1;
  switch (h->mode) {
  case EMULATE:
  case UNSAFE:
    return 1;
  case DISABLE:
    return 0;
  default:
    return next->can_multi_conn (next);
  }
}

static int
mc_can_flush (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  if (resolve_mode (next, h) == -1)
    return -1;
  return h->mode == EMULATE ? 1 : next->can_flush (next);
}

/* Emulating: a FUA write must be consistent across connections too, so
 * the server turns it into write + this layer's (replicated) flush.
 */
static int
mc_can_fua (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  if (resolve_mode (next, h) == -1)
    return -1;
  return h->mode == EMULATE ? NBDKIT_FUA_EMULATE : next->can_fua (next);
}

static int
mc_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

/* Locking around calls into an emulating context (see struct handle). */
static bool
need_lock (struct handle *h)
{
  return h->mode == EMULATE &&
    chain_thread_model == NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;
}

static void
enter (struct handle *h)
{
  if (need_lock (h))
    pthread_mutex_lock (&h->lock);
}

static void
leave (struct handle *h)
{
  if (need_lock (h))
    pthread_mutex_unlock (&h->lock);
}

/* Marks dirt after the call completed: a flush that clears the flag
 * while the call is still running must not hide it.
 */
static void
mark_dirty (struct handle *h, bool is_write)
{
  if (is_write && !__atomic_load_n (&any_dirty, __ATOMIC_RELAXED))
    __atomic_store_n (&any_dirty, true, __ATOMIC_SEQ_CST);
  if (!__atomic_load_n (&h->dirty, __ATOMIC_RELAXED))
    __atomic_store_n (&h->dirty, true, __ATOMIC_SEQ_CST);
}

static int
mc_pread (nbdkit_next *next, void *handle, void *buf,
          uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  int r;

  enter (h);
  r = next->pread (next, buf, count, offset, flags, err);
  leave (h);
  if (r == 0)
    mark_dirty (h, false);
  return r;
}

static int
mc_pwrite (nbdkit_next *next, void *handle, const void *buf,
           uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  int r;

  enter (h);
  r = next->pwrite (next, buf, count, offset, flags, err);
  leave (h);
  mark_dirty (h, true);     /* even on error: some of it may have landed */
  return r;
}

static int
mc_zero (nbdkit_next *next, void *handle,
         uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  int r;

  enter (h);
  r = next->zero (next, count, offset, flags, err);
  leave (h);
  mark_dirty (h, true);
  return r;
}

static int
mc_trim (nbdkit_next *next, void *handle,
         uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  int r;

  enter (h);
  r = next->trim (next, count, offset, flags, err);
  leave (h);
  mark_dirty (h, true);
  return r;
}

static int
mc_extents (nbdkit_next *next, void *handle,
            uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents, int *err)
{
  struct handle *h = handle;
  int r;

  enter (h);
  r = next->extents (next, count, offset, flags, extents, err);
  leave (h);
  return r;
}

static int
mc_cache (nbdkit_next *next, void *handle,
          uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  int r;

  enter (h);
  r = next->cache (next, count, offset, flags, err);
  leave (h);
  if (r == 0)
    mark_dirty (h, false);
  return r;
}

/* Does context H need a flush now?  Clears what the flush will cover.
 * With multi-conn-exportname=true, emulation uses connection tracking
 * even when fast is asked for: the one global flag cannot say which
 * export's connections wrote, and clearing it on a flush of export A
 * would let a flush of export B skip B's writes.
 */
static bool
take_dirty (struct handle *h, bool global_dirty)
{
  bool was = __atomic_exchange_n (&h->dirty, false, __ATOMIC_SEQ_CST);
  enum track t = track;

  if (t == TRACK_FAST && by_exportname && h->mode == EMULATE)
    t = TRACK_CONN;
  switch (t) {
  case TRACK_CONN:
    return was;
  case TRACK_FAST:
    return global_dirty;
  case TRACK_OFF:
    break;
  }
  return true;
}

/* Flushes one context; on failure the dirt is put back. */
static int
flush_one (struct handle *h, uint32_t flags, int *err)
{
  int r;

  enter (h);
  r = h->next->flush (h->next, flags, err);
  leave (h);
  if (r == -1)
    mark_dirty (h, true);
  return r;
}

static int
mc_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  struct handle *h = handle;
  struct handle *x;
  bool global_dirty;
  int r = 0, e = 0;

  global_dirty = __atomic_exchange_n (&any_dirty, false, __ATOMIC_SEQ_CST);

  if (h->mode != EMULATE) {
    if (!take_dirty (h, global_dirty))
      return 0;
    return flush_one (h, flags, err);
  }

  /* Every emulating connection, this one included.  Holding the list
   * lock keeps each context from being finalized while we flush it.
   */
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&list_lock);
  for (x = list_head; x; x = x->next_h) {
    if (by_exportname && strcmp (x->exportname, h->exportname) != 0)
      continue;
    if (!take_dirty (x, global_dirty))
      continue;
    if (flush_one (x, flags, &e) == -1 && r == 0) {
      r = -1;
      *err = e;
    }
  }
  if (r == -1 && track == TRACK_FAST)
    __atomic_store_n (&any_dirty, true, __ATOMIC_SEQ_CST);
  return r;
}

static struct nbdkit_filter filter = {
  .name = "multi-conn",
  .longname = "blockkit multi-conn filter",
  .config = mc_config,
  .config_help = mc_config_help,
  .get_ready = mc_get_ready,
  .open = mc_open,
  .close = mc_close,
  .prepare = mc_prepare,
  .finalize = mc_finalize,
  .can_multi_conn = mc_can_multi_conn,
  .can_flush = mc_can_flush,
  .can_fua = mc_can_fua,
  .can_fast_zero = mc_can_fast_zero,
  .pread = mc_pread,
  .pwrite = mc_pwrite,
  .zero = mc_zero,
  .trim = mc_trim,
  .extents = mc_extents,
  .cache = mc_cache,
  .flush = mc_flush,
};

NBDKIT_REGISTER_FILTER (filter)
