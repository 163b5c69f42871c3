/* blockkit: the readahead filter.
 *
 * Per connection, reads that continue where the previous one ended are
 * sequential; each sequential read that must go below fetches a window
 * beyond what was asked, and the window doubles on every such read up to
 * readahead-max, and drops back to nothing on a read elsewhere.
 *
 * If the layer below can cache natively (the cache filter, the file
 * plugin's page cache), the window is asked of it with CACHE requests
 * and every read goes below as asked; as in nbdkit's readahead filter,
 * the CACHE requests are made by a background thread after the read is
 * answered (readahead-prefetch.c), so they overlap with what the client
 * does next.  That needs the parallel thread model; in the others they
 * are made in the request's thread before the reply.  If below cannot
 * cache, the filter reads the window into a buffer of its own and serves
 * following reads from it; any write, zero or trim, on any connection,
 * drops buffered data it overlaps.
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
#include "readahead.h"
#include "filter-handle.h"

/* The first window: small enough not to waste a read that turns out to
 * be a one-off, large enough to save trips at once.
 */
#define INITIAL_WINDOW (64 * 1024)

static uint64_t readahead_max = 4 * 1024 * 1024;
static int chain_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;

static int
ra_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  if (strcmp (key, "readahead-max") == 0) {
    int64_t r = nbdkit_parse_size (value);

    if (r == -1) {
      nbdkit_error ("readahead-max=%s: not a size", value);
      return -1;
    }
    if (r < INITIAL_WINDOW || r > 64 * 1024 * 1024) {
      nbdkit_error ("readahead-max=%s: must be between 64K and 64M", value);
      return -1;
    }
    readahead_max = r;
    return 0;
  }
  return next (nxdata, key, value);
}

#define ra_config_help \
  "readahead-max=SIZE       The largest window read ahead (default 4M)."

static int
ra_get_ready (int thread_model)
{
  chain_thread_model = thread_model;
  return 0;
}

/* Threads do not survive the server's fork into the background, so the
 * prefetcher starts here.
 */
static int
ra_after_fork (nbdkit_backend *backend)
{
  if (chain_thread_model == NBDKIT_THREAD_MODEL_PARALLEL)
    ra_prefetch_start ();
  else
    nbdkit_debug ("readahead: thread model is not parallel: prefetching "
                  "before each reply instead of in the background");
  return 0;
}

static void
ra_cleanup (nbdkit_backend *backend)
{
  ra_prefetch_stop ();
}

static void
ra_unload (void)
{
  ra_prefetch_stop ();
}

static void *
ra_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  struct ra_handle *h = filter_handle_open (next, context, readonly,
                                            exportname, sizeof *h);

  if (h == NULL)
    return NULL;
  pthread_mutex_init (&h->lock, NULL);
  ra_register (h);
  return h;
}

static void
ra_close (void *handle)
{
  struct ra_handle *h = handle;

  ra_unregister (h);
  pthread_mutex_destroy (&h->lock);
  free (h->buf);
  free (h);
}

static int
ra_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct ra_handle *h = handle;
  int64_t size = next->get_size (next);
  int c;

  if (size == -1)
    return -1;
  if ((c = next->can_cache (next)) == -1)
    return -1;
  h->size = size;
  h->use_cache = c == NBDKIT_CACHE_NATIVE;
  h->below = next;
  nbdkit_debug ("readahead: prefetching with %s",
                h->use_cache ? "CACHE requests below" : "a buffer");
  return 0;
}

/* After this the context below is gone: no prefetch may still use it. */
static int
ra_finalize (nbdkit_next *next, void *handle)
{
  struct ra_handle *h = handle;

  ra_prefetch_forget (h);
  h->below = NULL;
  return 0;
}

/* With h->lock held: a read of [offset, offset+count) arrives.  Updates
 * the detector and returns the window to fetch beyond it (0: none).
 */
static uint64_t
next_window (struct ra_handle *h, uint64_t offset, uint32_t count)
{
  bool sequential = offset == h->next_offset;

  h->next_offset = offset + count;
  if (!sequential)
    h->window = 0;
  else if (h->window == 0)
    h->window = INITIAL_WINDOW;
  else
    h->window = MIN (h->window * 2, readahead_max);
  return h->window;
}

/* Cache mode: the read goes below as asked, and the window beyond it
 * (what was not asked for already) is asked to be cached.
 */
static int
read_with_cache (nbdkit_next *next, struct ra_handle *h, void *buf,
                 uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  uint64_t window, from, to;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&h->lock);

    window = next_window (h, offset, count);
    from = MAX (h->prefetched_end, offset + count);
    to = from;
    /* Ask again only when the reader is within half a window of the
     * end of what was asked, so that each request below is large.
     */
    if (window > 0 && offset + count + window / 2 >= from)
      to = MIN (offset + count + window, h->size);
    if (window == 0)
      h->prefetched_end = 0;
    else if (to > from)
      h->prefetched_end = to;
  }
  if (next->pread (next, buf, count, offset, flags, err) == -1)
    return -1;
  if (to > from && ra_prefetch_queue (h, from, to - from))
    return 0;
  while (to > from) {
    uint32_t n = MIN (to - from, (uint64_t) readahead_max);
    int cerr;

    /* Only advice: a failure here costs speed, not correctness. */
    if (next->cache (next, n, from, 0, &cerr) == -1) {
      nbdkit_debug ("readahead: cache below failed: %s", strerror (cerr));
      break;
    }
    from += n;
  }
  return 0;
}

/* Buffer mode, with h->lock held: serves what the buffer has of the read,
 * then reads the rest plus the window into the buffer in one call.
 */
static int
read_with_buffer (nbdkit_next *next, struct ra_handle *h, char *buf,
                  uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  uint64_t window = next_window (h, offset, count);
  uint64_t len;

  /* The part of the read at the start of the buffer. */
  if (h->buf_len > 0 && offset >= h->buf_offset &&
      offset < h->buf_offset + h->buf_len) {
    uint64_t n = MIN ((uint64_t) count, h->buf_offset + h->buf_len - offset);

    memcpy (buf, h->buf + (offset - h->buf_offset), n);
    buf += n;
    offset += n;
    count -= n;
  }
  if (count == 0)
    return 0;
  if (window == 0)
    return next->pread (next, buf, count, offset, flags, err);

  len = MIN (count + window, h->size - offset);
  if (len > h->buf_cap) {
    char *p = realloc (h->buf, len);

    if (p == NULL) {
      /* No buffer, no readahead: still answer the read. */
      h->buf_len = 0;
      return next->pread (next, buf, count, offset, flags, err);
    }
    h->buf = p;
    h->buf_cap = len;
  }
  h->buf_len = 0;
  if (next->pread (next, h->buf, len, offset, flags, err) == -1) {
    /* The window may reach what cannot be read: the read itself may
     * still be fine.
     */
    h->window = 0;
    return next->pread (next, buf, count, offset, flags, err);
  }
  h->buf_offset = offset;
  h->buf_len = len;
  memcpy (buf, h->buf, count);
  return 0;
}

static int
ra_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  struct ra_handle *h = handle;

  if (h->use_cache)
    return read_with_cache (next, h, buf, count, offset, flags, err);

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&h->lock);
  return read_with_buffer (next, h, buf, count, offset, flags, err);
}

/* Changes below: after they land, no connection may serve older data. */
static int
ra_pwrite (nbdkit_next *next, void *handle, const void *buf,
           uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  int r = next->pwrite (next, buf, count, offset, flags, err);

  ra_invalidate (offset, count);
  return r;
}

static int
ra_zero (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
         uint32_t flags, int *err)
{
  int r = next->zero (next, count, offset, flags, err);

  ra_invalidate (offset, count);
  return r;
}

static int
ra_trim (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
         uint32_t flags, int *err)
{
  int r = next->trim (next, count, offset, flags, err);

  ra_invalidate (offset, count);
  return r;
}

static struct nbdkit_filter filter = {
  .name = "readahead",
  .longname = "blockkit readahead filter",
  .description = "Detects sequential reads and fetches ahead of them.",
  .config = ra_config,
  .config_help = ra_config_help,
  .unload = ra_unload,
  .get_ready = ra_get_ready,
  .after_fork = ra_after_fork,
  .cleanup = ra_cleanup,
  .open = ra_open,
  .close = ra_close,
  .prepare = ra_prepare,
  .finalize = ra_finalize,
  .pread = ra_pread,
  .pwrite = ra_pwrite,
  .zero = ra_zero,
  .trim = ra_trim,
};

NBDKIT_REGISTER_FILTER (filter)
