/* blockkit: the blocksize filter.
 *
 * For a layer below with block size limits (a minimum alignment, a
 * largest request), this filter lets clients send anything: it tells the
 * client the minimum is 1, and turns each request into requests the
 * layer below accepts.
 *
 * - Reads and writes are split into aligned pieces of at most maxdata
 *   bytes.  An unaligned head or tail is read as a whole block; for a
 *   write the block is then modified and written back (read-modify-
 *   write).
 * - Zero does the same, with the aligned middle passed down as zero
 *   requests of at most maxlen bytes and the unaligned ends written as
 *   zeroes by read-modify-write.
 * - Trim passes down only the aligned middle: trim is advisory, so the
 *   unaligned ends are simply left alone.
 * - Cache and block status are widened to whole blocks; block status
 *   answers whole blocks, merging finer extents from below.
 *
 * A read-modify-write writes back the whole block it read, so any write
 * to that block landing between its read and its write-back would be
 * undone: another RMW (two clients writing different bytes of one
 * sector), but also a plain aligned write, zero or trim.  So RMW cycles
 * take an rwlock exclusively, and every aligned write, zero and trim
 * passed down takes it shared: aligned requests still run in parallel
 * with each other, and only wait while an RMW is in progress.
 *
 * The lock belongs to the layer, shared by all its connections (they
 * may share the disk).  Not one static lock: the filter may be stacked
 * twice (both layers are this one shared object), and the upper layer
 * calls the lower one while it holds its lock; each layer taking only
 * its own lock, always upper before lower, cannot deadlock.
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
#include "filter-handle.h"

#define MAX_MINBLOCK (64 * 1024)
#define DEFAULT_MAXDATA (64 * 1024 * 1024)

/* The keys; 0 means "not given". */
static uint32_t cfg_minblock, cfg_maxdata, cfg_maxlen;

/* One per layer of this filter, found by the layer below it (see the
 * comment at the top).  The lock orders read-modify-write cycles
 * (exclusive) against every other write (shared); buf is only used
 * under the exclusive lock.  Writers are preferred where the C library
 * allows it, so a steady stream of aligned writes cannot starve an RMW;
 * no thread takes a layer's lock twice, so the non-recursive kind is
 * safe.
 */
struct layer {
  struct layer *next_layer;
  nbdkit_backend *below;
  pthread_rwlock_t lock;
  char buf[MAX_MINBLOCK];
};

static pthread_mutex_t layers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct layer *layers;

static struct layer *
get_layer (nbdkit_backend *below)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&layers_lock);
  pthread_rwlockattr_t attr;
  struct layer *l;
  int r;

  for (l = layers; l; l = l->next_layer)
    if (l->below == below)
      return l;
  l = calloc (1, sizeof *l);
  if (l == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pthread_rwlockattr_init (&attr);
#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
  pthread_rwlockattr_setkind_np (&attr,
                                 PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
  r = pthread_rwlock_init (&l->lock, &attr);
  pthread_rwlockattr_destroy (&attr);
  if (r != 0) {
    errno = r;
    nbdkit_error ("pthread_rwlock_init: %m");
    free (l);
    return NULL;
  }
  l->below = below;
  l->next_layer = layers;
  layers = l;
  return l;
}

static void
blocksize_unload (void)
{
  struct layer *l;

  while ((l = layers) != NULL) {
    layers = l->next_layer;
    pthread_rwlock_destroy (&l->lock);
    free (l);
  }
}

struct handle {
  struct layer *layer;          /* this layer's lock */
  uint32_t minb;                /* alignment of requests below */
  uint32_t maxdata;             /* largest read/write below */
  uint32_t maxlen;              /* largest trim/zero/cache/extents below */
  uint32_t preferred;           /* what we advertise */
};

static int
parse_key (const char *key, const char *value, uint32_t *r)
{
  int64_t v = nbdkit_parse_size (value);

  if (v == -1)
    return -1;
  if (v < 1 || v > UINT32_MAX) {
    nbdkit_error ("blocksize filter: %s=%s is out of range", key, value);
    return -1;
  }
  *r = v;
  return 0;
}

static int
blocksize_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                  const char *key, const char *value)
{
  if (strcmp (key, "minblock") == 0) {
    if (parse_key (key, value, &cfg_minblock) == -1)
      return -1;
    if (!is_power_of_2 (cfg_minblock) || cfg_minblock > MAX_MINBLOCK) {
      nbdkit_error ("blocksize filter: minblock=%s must be a power of 2 "
                    "between 1 and 64k", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "maxdata") == 0) {
    if (parse_key (key, value, &cfg_maxdata) == -1)
      return -1;
    if (cfg_maxdata > DEFAULT_MAXDATA) {
      nbdkit_error ("blocksize filter: maxdata=%s is larger than 64M", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "maxlen") == 0)
    return parse_key (key, value, &cfg_maxlen);
  return next (nxdata, key, value);
}

static int
blocksize_config_complete (nbdkit_next_config_complete *next,
                           nbdkit_backend *nxdata)
{
  uint32_t minb = cfg_minblock ? cfg_minblock : 1;

  if (cfg_maxdata && cfg_maxdata % minb) {
    nbdkit_error ("blocksize filter: maxdata=%" PRIu32 " must be a multiple "
                  "of minblock=%" PRIu32, cfg_maxdata, minb);
    return -1;
  }
  if (cfg_maxlen && cfg_maxlen % minb) {
    nbdkit_error ("blocksize filter: maxlen=%" PRIu32 " must be a multiple "
                  "of minblock=%" PRIu32, cfg_maxlen, minb);
    return -1;
  }
  return next (nxdata);
}

#define blocksize_config_help \
  "minblock=<SIZE>     Alignment of requests passed down (power of 2).\n" \
  "maxdata=<SIZE>      Largest read or write passed down.\n" \
  "maxlen=<SIZE>       Largest trim, zero or cache passed down."

static void *
blocksize_open (nbdkit_next_open *next, nbdkit_context *nxdata,
                int readonly, const char *exportname, int is_tls)
{
  struct handle *h = filter_handle_open (next, nxdata, readonly, exportname,
                                        sizeof (struct handle));

  if (h == NULL)
    return NULL;
  h->layer = get_layer (nbdkit_context_get_backend (nxdata));
  if (h->layer == NULL) {
    free (h);
    return NULL;
  }
  return h;
}

/* The limits for this connection: the keys, tightened by whatever the
 * layer below advertises.
 */
static int
blocksize_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  uint32_t min, pref, max;
  uint32_t minb, maxdata, maxlen;

  if (next->block_size (next, &min, &pref, &max) == -1)
    return -1;
  if (min == 0) {               /* no constraints below */
    pref = 4096;
    max = UINT32_MAX;
  }
  minb = MAX (cfg_minblock ? cfg_minblock : 1, min ? min : 1);
  if (minb > MAX_MINBLOCK) {
    nbdkit_error ("blocksize filter: the layer below needs %" PRIu32
                  "-byte blocks, more than 64k", minb);
    return -1;
  }
  maxdata = MIN (cfg_maxdata ? cfg_maxdata : (uint32_t) DEFAULT_MAXDATA, max);
  /* The layer below's maximum may be about payloads only, but a strict
   * one applies it to everything: be safe unless told otherwise.
   */
  maxlen = cfg_maxlen ? MIN (cfg_maxlen, max) : max;
  maxdata = ROUND_DOWN (maxdata, minb);
  maxlen = ROUND_DOWN (maxlen, minb);
  if (maxdata == 0 || maxlen == 0) {
    nbdkit_error ("blocksize filter: maxdata/maxlen (%" PRIu32 "/%" PRIu32
                  ") are smaller than the block size %" PRIu32
                  " of the layer below", maxdata, maxlen, minb);
    return -1;
  }
  h->minb = minb;
  h->maxdata = maxdata;
  h->maxlen = maxlen;
  h->preferred = MAX (pref, minb);
  if (h->preferred < 512)
    h->preferred = 512;
  nbdkit_debug ("blocksize: minblock %" PRIu32 ", maxdata %" PRIu32
                ", maxlen %" PRIu32, minb, maxdata, maxlen);
  return 0;
}

static int
blocksize_block_size (nbdkit_next *next, void *handle, uint32_t *minimum,
                      uint32_t *preferred, uint32_t *maximum)
{
  struct handle *h = handle;

  *minimum = 1;
  *preferred = h->preferred;
  *maximum = UINT32_MAX;
  return 0;
}

/* A partial last block could never be read whole: leave it out. */
static int64_t
blocksize_get_size (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;
  int64_t size = next->get_size (next);

  return size == -1 ? -1 : (int64_t) ROUND_DOWN ((uint64_t) size, h->minb);
}

/* Read-modify-write of part of the block at BLK: COUNT bytes of BUF (or
 * zeroes when BUF is NULL) at byte SKIP of the block.
 */
static int
rmw (nbdkit_next *next, struct handle *h, uint64_t blk, uint32_t skip,
     const void *buf, uint32_t count, uint32_t flags, int *err)
{
  ACQUIRE_WRLOCK_FOR_CURRENT_SCOPE (&h->layer->lock);
  char *b = h->layer->buf;

  if (next->pread (next, b, h->minb, blk, 0, err) == -1)
    return -1;
  if (buf)
    memcpy (b + skip, buf, count);
  else
    memset (b + skip, 0, count);
  return next->pwrite (next, b, h->minb, blk, flags, err);
}

/* Reads part of one block through a bounce buffer. */
static int
read_partial (nbdkit_next *next, struct handle *h, uint64_t blk,
              uint32_t skip, void *buf, uint32_t count, int *err)
{
  CLEANUP_FREE char *bounce = malloc (h->minb);

  if (bounce == NULL) {
    *err = ENOMEM;
    return -1;
  }
  if (next->pread (next, bounce, h->minb, blk, 0, err) == -1)
    return -1;
  memcpy (buf, bounce + skip, count);
  return 0;
}

static int
blocksize_pread (nbdkit_next *next, void *handle, void *b, uint32_t count,
                 uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  char *buf = b;
  uint32_t skip = offset & (h->minb - 1), n;

  if (skip) {                   /* unaligned head */
    n = MIN (count, h->minb - skip);
    if (read_partial (next, h, offset - skip, skip, buf, n, err) == -1)
      return -1;
    buf += n; offset += n; count -= n;
  }
  while (count >= h->minb) {    /* aligned middle */
    n = MIN (ROUND_DOWN (count, h->minb), h->maxdata);
    if (next->pread (next, buf, n, offset, flags, err) == -1)
      return -1;
    buf += n; offset += n; count -= n;
  }
  if (count)                    /* unaligned tail */
    return read_partial (next, h, offset, 0, buf, count, err);
  return 0;
}

/* The aligned requests passed down, each under the shared lock, so
 * none lands inside an RMW cycle (see the comment at the top).  The lock
 * is held per piece, not per client request, so that an RMW waits for
 * at most one piece.
 */
static int
aligned_pwrite (struct handle *h, nbdkit_next *next, const void *buf,
                uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  ACQUIRE_RDLOCK_FOR_CURRENT_SCOPE (&h->layer->lock);
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
aligned_zero (struct handle *h, nbdkit_next *next, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  ACQUIRE_RDLOCK_FOR_CURRENT_SCOPE (&h->layer->lock);
  return next->zero (next, count, offset, flags, err);
}

static int
aligned_trim (struct handle *h, nbdkit_next *next, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  ACQUIRE_RDLOCK_FOR_CURRENT_SCOPE (&h->layer->lock);
  return next->trim (next, count, offset, flags, err);
}

/* Shared by pwrite and zero: BUF NULL means zeroes. */
static int
write_or_zero (nbdkit_next *next, struct handle *h, const char *buf,
               uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  uint32_t skip = offset & (h->minb - 1), n;
  uint32_t fua = flags & NBDKIT_FLAG_FUA;

  if (skip) {
    n = MIN (count, h->minb - skip);
    if (rmw (next, h, offset - skip, skip, buf, n, fua, err) == -1)
      return -1;
    if (buf)
      buf += n;
    offset += n; count -= n;
  }
  while (count >= h->minb) {
    if (buf) {
      n = MIN (ROUND_DOWN (count, h->minb), h->maxdata);
      if (aligned_pwrite (h, next, buf, n, offset, fua, err) == -1)
        return -1;
      buf += n;
    }
    else {
      n = MIN (ROUND_DOWN (count, h->minb), h->maxlen);
      if (aligned_zero (h, next, n, offset, flags, err) == -1)
        return -1;
    }
    offset += n; count -= n;
  }
  if (count)
    return rmw (next, h, offset, 0, buf, count, fua, err);
  return 0;
}

static int
blocksize_pwrite (nbdkit_next *next, void *handle, const void *buf,
                  uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  return write_or_zero (next, handle, buf, count, offset, flags, err);
}

static int
blocksize_zero (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;

  /* Writing the unaligned ends is not fast. */
  if ((flags & NBDKIT_FLAG_FAST_ZERO) &&
      (!IS_ALIGNED (offset, h->minb) || !IS_ALIGNED (count, h->minb))) {
    *err = ENOTSUP;
    return -1;
  }
  return write_or_zero (next, h, NULL, count, offset, flags, err);
}

static int
blocksize_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

/* Trim is advisory: trim only the whole blocks inside the range. */
static int
blocksize_trim (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  uint64_t start = ROUND_UP (offset, h->minb);
  uint64_t end = ROUND_DOWN (offset + count, h->minb);

  while (start < end) {
    uint32_t n = MIN (end - start, (uint64_t) h->maxlen);

    if (aligned_trim (h, next, n, start, flags, err) == -1)
      return -1;
    start += n;
  }
  return 0;
}

/* Cache the whole blocks that hold the range. */
static int
blocksize_cache (nbdkit_next *next, void *handle, uint32_t count,
                 uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;
  uint64_t start = ROUND_DOWN (offset, h->minb);
  uint64_t end = ROUND_UP (offset + count, h->minb);

  while (start < end) {
    uint32_t n = MIN (end - start, (uint64_t) h->maxlen);

    if (next->cache (next, n, start, flags, err) == -1)
      return -1;
    start += n;
  }
  return 0;
}

/* Block status answers whole blocks: the client may only read whole
 * blocks of the layer below through us, so a block with any data in it
 * is data, and a block is a hole or zero only if all of it is.  Without
 * this a client would see a 4K hole inside a 64K block and could think
 * it need not copy it.  The merge runs over the extents in order; a
 * block made of several extents is held back until its end is seen.
 */
struct merge {
  struct nbdkit_extents *out;
  uint32_t minb;
  bool in_block;
  uint64_t block_start;
  uint32_t block_type;
};

static int
merge_add (struct merge *m, uint64_t off, uint64_t len, uint32_t type)
{
  uint64_t end = off + len;

  while (off < end) {
    if (!m->in_block && IS_ALIGNED (off, m->minb) && end - off >= m->minb) {
      uint64_t n = ROUND_DOWN (end - off, (uint64_t) m->minb);

      if (nbdkit_add_extent (m->out, off, n, type) == -1)
        return -1;
      off += n;
      continue;
    }
    if (!m->in_block) {
      m->in_block = true;
      m->block_start = ROUND_DOWN (off, (uint64_t) m->minb);
      m->block_type = type;
    }
    else
      m->block_type &= type;
    off = MIN (end, m->block_start + m->minb);
    if (off == m->block_start + m->minb) {
      if (nbdkit_add_extent (m->out, m->block_start, m->minb,
                             m->block_type) == -1)
        return -1;
      m->in_block = false;
    }
  }
  return 0;
}

/* Asks the layer below for whole blocks only (at most maxlen bytes),
 * as often as needed to cover them.  If its answer stops inside a block,
 * asking again from there would be an unaligned request, which a layer
 * that needs the blocksize filter may refuse: the rest of that block
 * counts as data, which is always a safe answer.  The client's extents
 * list starts at the client's offset and cuts off what lies before it,
 * so an unaligned request gets the tail of its first block.
 */
static int
blocksize_extents (nbdkit_next *next, void *handle, uint32_t count,
                   uint64_t offset, uint32_t flags,
                   struct nbdkit_extents *extents, int *err)
{
  struct handle *h = handle;
  uint64_t start = ROUND_DOWN (offset, h->minb);
  uint64_t end = ROUND_UP (offset + count, h->minb);
  uint64_t pos = start;
  struct merge m = { .out = extents, .minb = h->minb };

  end = start + MIN (end - start, (uint64_t) h->maxlen);
  if (h->minb == 1)
    return next->extents (next, end - start, start, flags, extents, err);

  while (pos < end) {
    struct nbdkit_extents *part = nbdkit_extents_new (pos, end);
    uint64_t reached = pos;
    size_t i, n;

    if (part == NULL) {
      *err = errno ? errno : ENOMEM;
      return -1;
    }
    if (next->extents (next, end - pos, pos, flags & ~NBDKIT_FLAG_REQ_ONE,
                       part, err) == -1) {
      nbdkit_extents_free (part);
      return -1;
    }
    n = nbdkit_extents_count (part);
    for (i = 0; i < n; ++i) {
      struct nbdkit_extent e = nbdkit_get_extent (part, i);

      if (merge_add (&m, e.offset, e.length, e.type) == -1) {
        *err = errno ? errno : EIO;
        nbdkit_extents_free (part);
        return -1;
      }
      reached = e.offset + e.length;
    }
    nbdkit_extents_free (part);
    if (reached <= pos) {
      nbdkit_error ("blocksize: the layer below returned no extent at "
                    "offset %" PRIu64, pos);
      *err = EIO;
      return -1;
    }
    if (reached < end && !IS_ALIGNED (reached, h->minb)) {
      uint64_t next_block = ROUND_UP (reached, (uint64_t) h->minb);

      if (merge_add (&m, reached, next_block - reached, 0) == -1) {
        *err = errno ? errno : EIO;
        return -1;
      }
      reached = next_block;
    }
    pos = reached;
    /* One extent is all a REQ_ONE client wants. */
    if ((flags & NBDKIT_FLAG_REQ_ONE) && nbdkit_extents_count (extents) > 0)
      break;
  }
  return 0;
}

static struct nbdkit_filter filter = {
  .name              = "blocksize",
  .longname          = "blockkit blocksize filter",
  .description       = "Split and align requests for a layer with limits.",
  .config            = blocksize_config,
  .config_complete   = blocksize_config_complete,
  .unload            = blocksize_unload,
  .config_help       = blocksize_config_help,
  .open              = blocksize_open,
  .close             = free,   /* the handle is one flat struct */
  .prepare           = blocksize_prepare,
  .block_size        = blocksize_block_size,
  .get_size          = blocksize_get_size,
  .pread             = blocksize_pread,
  .pwrite            = blocksize_pwrite,
  .zero              = blocksize_zero,
  .can_fast_zero     = blocksize_can_fast_zero,
  .trim              = blocksize_trim,
  .cache             = blocksize_cache,
  .extents           = blocksize_extents,
};

NBDKIT_REGISTER_FILTER (filter)
