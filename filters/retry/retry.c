/* blockkit: the retry filter.
 *
 * When a request fails, close the layers below, open them afresh and
 * try the request again, a limited number of times with a growing delay
 * between tries.  This suits plugins whose connection to a remote
 * source can break (a web server, an ssh session) and be re-established.
 *
 * The reopen uses the context API of seed 003: the failed context below
 * is finalized and closed, a new one is opened with
 * nbdkit_next_context_open on the backend below (same export name, same
 * or forced read-only mode), prepared, and associated with this filter's
 * context with nbdkit_context_set_next, so that the server's own later
 * calls (queries, finalize, close) reach the new one.
 *
 * Requests of one connection run in parallel (a remote plugin is where
 * parallelism pays most: nbdattach puts this filter over every one).
 * Each try holds the connection's lock for reading; a reopen takes it
 * for writing, so the old context is closed only once no request is
 * still inside it, and requests that failed on the same context reopen
 * it once between them (the context's generation says whether another
 * request has already done it).
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>
#include "filter-handle.h"

static unsigned retries = 5;
static uint64_t initial_delay_ns = UINT64_C (2000000000);
static bool exponential = true;
static bool force_readonly;

static int
parse_bool_key (const char *key, const char *value, bool *r)
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
retry_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "retries") == 0)
    return nbdkit_parse_unsigned ("retries", value, &retries);
  if (strcmp (key, "retry-delay") == 0) {
    unsigned sec, nsec;
    if (nbdkit_parse_delay ("retry-delay", value, &sec, &nsec) == -1)
      return -1;
    initial_delay_ns = (uint64_t) sec * 1000000000 + nsec;
    return 0;
  }
  if (strcmp (key, "retry-exponential") == 0)
    return parse_bool_key (key, value, &exponential);
  if (strcmp (key, "retry-readonly") == 0)
    return parse_bool_key (key, value, &force_readonly);
  return next (nxdata, key, value);
}

#define retry_config_help \
  "retries=N                 Retries per request (default 5).\n" \
  "retry-delay=DELAY         Delay before the first retry (default 2 s).\n" \
  "retry-exponential=BOOL    Double the delay each time (default yes).\n" \
  "retry-readonly=BOOL       Reopen read-only after a failure (default no)."

struct retry_handle {
  nbdkit_context *context;      /* ours, to replace the next context */
  char *exportname;
  int readonly;                 /* as the client opened it */
  /* Read: a try is using cur.  Write: cur is being replaced.  Writers
   * first, so that a reopen is not starved by a stream of new requests.
   */
  pthread_rwlock_t lock;
  nbdkit_next *cur;             /* the context below; NULL: reopen failed */
  uint64_t generation;          /* reopens so far, failed ones included */
  bool reopened_readonly;       /* retry-readonly took effect */
  unsigned reopens;
};

static void *
retry_open (nbdkit_next_open *next, nbdkit_context *context,
            int readonly, const char *exportname, int is_tls)
{
  struct retry_handle *h = filter_handle_open (next, context, readonly,
                                               exportname, sizeof *h);

  if (h == NULL)
    return NULL;
  h->exportname = strdup (exportname);
  if (h->exportname == NULL) {
    nbdkit_error ("strdup: %m");
    free (h);
    return NULL;
  }
  h->context = context;
  h->readonly = readonly;
  {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init (&attr);
    pthread_rwlockattr_setkind_np (&attr,
                                   PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init (&h->lock, &attr);
    pthread_rwlockattr_destroy (&attr);
  }
  return h;
}

/* The context below, as the server opened it. */
static int
retry_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct retry_handle *h = handle;

  h->cur = next;
  return 0;
}

static void
retry_close (void *handle)
{
  struct retry_handle *h = handle;

  if (h->reopens)
    nbdkit_debug ("retry: this connection reopened the plugin %u times",
                  h->reopens);
  pthread_rwlock_destroy (&h->lock);
  free (h->exportname);
  free (h);
}

/* Replaces the context below with a fresh one; the caller holds the lock
 * for writing.  On failure nothing is left below (h->cur is NULL) and the
 * next try starts with a reopen.
 */
static bool
reopen (struct retry_handle *h)
{
  nbdkit_next *old, *fresh;
  int readonly = h->readonly || force_readonly;

  h->reopens++;
  h->generation++;
  h->cur = NULL;
  old = nbdkit_context_set_next (h->context, NULL);
  if (old) {
    /* A context that cannot be finalized may have lost data: that is
     * reported, but a fresh context is still the best way on.
     */
    if (old->finalize (old) == -1)
      nbdkit_debug ("retry: finalizing the failed context failed too");
    nbdkit_next_context_close (old);
  }

  fresh = nbdkit_next_context_open (nbdkit_context_get_backend (h->context),
                                    readonly, h->exportname, 0);
  if (fresh == NULL)
    return false;
  if (fresh->prepare (fresh) == -1) {
    fresh->finalize (fresh);
    nbdkit_next_context_close (fresh);
    return false;
  }
  nbdkit_context_set_next (h->context, fresh);
  h->cur = fresh;
  h->reopened_readonly = readonly && !h->readonly;
  return true;
}

/* Per request: how many retries so far, the next delay, and which
 * context the last try used.
 */
struct attempt {
  unsigned retry;
  uint64_t delay_ns;
  uint64_t generation;
};

/* A try begins: the context to use, held until end_try. */
static nbdkit_next *
begin_try (struct retry_handle *h, struct attempt *a)
{
  pthread_rwlock_rdlock (&h->lock);
  a->generation = h->generation;
  return h->cur;
}

static void
end_try (struct retry_handle *h)
{
  pthread_rwlock_unlock (&h->lock);
}

/* Called after a failure (*err set), outside the try.  Waits, reopens
 * unless another request has reopened since this one's try, and says
 * whether to try the request again.
 */
static bool
should_retry (struct retry_handle *h, struct attempt *a, const char *what,
              int *err)
{
  bool ok;

  if (a->retry == 0)
    a->delay_ns = initial_delay_ns;
  for (;;) {
    if (a->retry >= retries) {
      if (retries)
        nbdkit_debug ("retry: %s: giving up after %u retries", what,
                      retries);
      return false;
    }
    a->retry++;
    nbdkit_debug ("retry: %s failed (errno %d): retry %u of %u in %.3f s",
                  what, *err, a->retry, retries, a->delay_ns / 1e9);
    if (nbdkit_nanosleep (a->delay_ns / 1000000000,
                          a->delay_ns % 1000000000) == -1) {
      /* The client or the server is going away: stop trying. */
      *err = ESHUTDOWN;
      return false;
    }
    if (exponential)
      a->delay_ns *= 2;
    pthread_rwlock_wrlock (&h->lock);
    if (h->generation == a->generation || h->cur == NULL)
      ok = reopen (h);
    else
      ok = true;                /* another request's reopen serves */
    a->generation = h->generation;
    pthread_rwlock_unlock (&h->lock);
    if (ok)
      return true;
    /* A failed reopen counts as a failed try. */
    *err = ESHUTDOWN;
  }
}

/* Whether the request can be tried at all on the context below. */
static bool
usable (struct retry_handle *h, nbdkit_next *next, bool writes, int *err)
{
  if (next == NULL) {
    *err = ESHUTDOWN;
    return false;
  }
  if (writes && h->reopened_readonly) {
    *err = EROFS;
    return false;
  }
  return true;
}

/* The shape of every data call: try (on the current context below,
 * which replaces the server's next), and on failure retry, unless the
 * failure is EROFS after a read-only reopen (retrying cannot help).
 */
#define RETRY_CALL(what, writes, call)                                  \
  do {                                                                  \
    struct retry_handle *h = handle;                                    \
    struct attempt a = { 0 };                                           \
    bool ro;                                                            \
    int r;                                                              \
                                                                        \
    for (;;) {                                                          \
      next = begin_try (h, &a);                                         \
      r = usable (h, next, (writes), err) ? (call) : -1;                \
      ro = h->reopened_readonly;                                        \
      end_try (h);                                                      \
      if (r == 0)                                                       \
        return 0;                                                       \
      if ((writes) && ro)                                               \
        return -1;                                                      \
      if (!should_retry (h, &a, (what), err))                           \
        return -1;                                                      \
    }                                                                   \
  } while (0)

static int
retry_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  RETRY_CALL ("pread", false,
              next->pread (next, buf, count, offset, flags, err));
}

static int
retry_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  RETRY_CALL ("pwrite", true,
              next->pwrite (next, buf, count, offset, flags, err));
}

static int
retry_trim (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  RETRY_CALL ("trim", true,
              next->trim (next, count, offset, flags, err));
}

static int
retry_zero (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  /* A fast zero that the layer below cannot do fast is not a failure
   * worth reopening for: the client asked to be told at once.
   */
  struct retry_handle *h = handle;
  struct attempt a = { 0 };
  bool ro;
  int r;

  for (;;) {
    next = begin_try (h, &a);
    r = usable (h, next, true, err) ?
      next->zero (next, count, offset, flags, err) : -1;
    ro = h->reopened_readonly;
    end_try (h);
    if (r == 0)
      return 0;
    if (ro ||
        ((flags & NBDKIT_FLAG_FAST_ZERO) &&
         (*err == ENOTSUP || *err == EOPNOTSUPP)))
      return -1;
    if (!should_retry (h, &a, "zero", err))
      return -1;
  }
}

/* zero is passed on as it is, so it is as fast as the layer below. */
static int
retry_can_fast_zero (nbdkit_next *next, void *handle)
{
  if (next == NULL)             /* the last reopen failed */
    return 0;
  return next->can_fast_zero (next);
}

static int
retry_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  RETRY_CALL ("flush", false, next->flush (next, flags, err));
}

static int
retry_extents (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags,
               struct nbdkit_extents *extents, int *err)
{
  /* Extents added by a failed try would be mixed with the next try's:
   * each try fills a scratch list, copied out only on success.
   */
  struct retry_handle *h = handle;
  struct attempt a = { 0 };
  struct nbdkit_extents *scratch;
  size_t i;
  int r;

  for (;;) {
    r = -1;
    next = begin_try (h, &a);
    if (usable (h, next, false, err)) {
      scratch = nbdkit_extents_new (offset, next->get_size (next));
      if (scratch == NULL) {
        *err = errno ? errno : ENOMEM;
        end_try (h);
        return -1;
      }
      r = next->extents (next, count, offset, flags, scratch, err);
      for (i = 0; r == 0 && i < nbdkit_extents_count (scratch); ++i) {
        struct nbdkit_extent e = nbdkit_get_extent (scratch, i);
        if (nbdkit_add_extent (extents, e.offset, e.length, e.type) == -1) {
          *err = errno ? errno : ENOMEM;
          nbdkit_extents_free (scratch);
          end_try (h);
          return -1;
        }
      }
      nbdkit_extents_free (scratch);
    }
    end_try (h);
    if (r == 0)
      return 0;
    if (!should_retry (h, &a, "extents", err))
      return -1;
  }
}

static int
retry_cache (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  RETRY_CALL ("cache", false,
              next->cache (next, count, offset, flags, err));
}

static struct nbdkit_filter filter = {
  .name              = "retry",
  .longname          = "blockkit retry filter",
  .config            = retry_config,
  .config_help       = retry_config_help,
  .open              = retry_open,
  .prepare           = retry_prepare,
  .close             = retry_close,
  .can_fast_zero     = retry_can_fast_zero,
  .pread             = retry_pread,
  .pwrite            = retry_pwrite,
  .trim              = retry_trim,
  .zero              = retry_zero,
  .flush             = retry_flush,
  .extents           = retry_extents,
  .cache             = retry_cache,
};

NBDKIT_REGISTER_FILTER (filter)
