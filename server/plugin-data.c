/* blockkit: the plugin layer's data calls (plugins.c has the rest).
 *
 * Each call maps onto the plugin's version 2 or version 1 callback, and
 * where the plugin has none, onto the fallback that the layer lacking
 * the feature provides (seed 000): FUA by a flush afterwards, zero by
 * writing zeroes, cache by reading into a buffer thrown away.  Every
 * failure carries the plugin's error (nbdkit_set_error, else errno if
 * the plugin preserves it, else EIO).
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "minmax.h"
#include "plugin.h"

/* The error of a failed callback: nbdkit_set_error wins, then errno if the
 * plugin promises it is meaningful, then EIO.
 */
static int
get_error (struct nbdkit_plugin *p)
{
  int ret = threadlocal_get_error ();

  if (!ret && p->errno_is_preserved)
    ret = errno;
  return ret ? ret : EIO;
}

/* Wraps one plugin call: clears the thread's error first, so that a stale
 * error from an earlier call is never reported for this one.
 */
#define CALL_PLUGIN(p, err, call)                       \
  do {                                                  \
    int r_;                                             \
    threadlocal_set_error (0);                          \
    errno = 0;                                          \
    r_ = (call);                                        \
    if (r_ == -1) {                                     \
      *(err) = get_error (p);                           \
      return -1;                                        \
    }                                                   \
  } while (0)

static int
plugin_flush (struct context *c, uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->flush)
    CALL_PLUGIN (p, err, p->flush (c->handle, 0));
  else if (p->_flush_v1)
    CALL_PLUGIN (p, err, p->_flush_v1 (c->handle));
  else {
    *err = EINVAL;
    return -1;
  }
  return 0;
}

/* FUA on a plugin that can only flush: do the operation, then flush. */
static int
finish_fua (struct context *c, uint32_t flags, int *err)
{
  if ((flags & NBDKIT_FLAG_FUA) && c->can_fua == NBDKIT_FUA_EMULATE)
    return plugin_flush (c, 0, err);
  return 0;
}

/* The flags a native call sees: FUA only if the plugin handles it. */
static uint32_t
native_flags (struct context *c, uint32_t flags)
{
  if (c->can_fua != NBDKIT_FUA_NATIVE)
    flags &= ~NBDKIT_FLAG_FUA;
  return flags;
}

static int
plugin_pread (struct context *c, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->pread)
    CALL_PLUGIN (p, err, p->pread (c->handle, buf, count, offset, 0));
  else if (p->_pread_v1)
    CALL_PLUGIN (p, err, p->_pread_v1 (c->handle, buf, count, offset));
  else {
    *err = EIO;
    return -1;
  }
  return 0;
}

static int
plugin_pwrite (struct context *c, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->pwrite)
    CALL_PLUGIN (p, err, p->pwrite (c->handle, buf, count, offset,
                                    native_flags (c, flags)));
  else if (p->_pwrite_v1)
    CALL_PLUGIN (p, err, p->_pwrite_v1 (c->handle, buf, count, offset));
  else {
    *err = EROFS;
    return -1;
  }
  return finish_fua (c, flags, err);
}

/* Trim is advisory: a plugin that cannot (or will not) trim a range has
 * still done what the client may rely on.
 */
static int
plugin_trim (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  int r;

  threadlocal_set_error (0);
  errno = 0;
  if (p->trim)
    r = p->trim (c->handle, count, offset, native_flags (c, flags));
  else if (p->_trim_v1)
    r = p->_trim_v1 (c->handle, count, offset);
  else
    r = 0;
  if (r == -1) {
    *err = get_error (p);
    if (*err != EOPNOTSUPP && *err != ENOTSUP)
      return -1;
    *err = 0;
  }
  return finish_fua (c, flags, err);
}

/* The zero-with-writes fallback.  It uses a shared, read-only page of
 * zeroes, so it needs no allocation per request.
 */
static const char zero_page[64 * 1024];

static int
emulate_zero (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  /* With native FUA only the last write needs it; with emulated FUA the
   * whole range is flushed once at the end.
   */
  bool fua = flags & NBDKIT_FLAG_FUA;

  while (count > 0) {
    uint32_t n = MIN (count, (uint32_t) sizeof zero_page);
    uint32_t f = fua && n == count ? native_flags (c, NBDKIT_FLAG_FUA) : 0;

    if (p->pwrite)
      CALL_PLUGIN (p, err, p->pwrite (c->handle, zero_page, n, offset, f));
    else if (p->_pwrite_v1)
      CALL_PLUGIN (p, err, p->_pwrite_v1 (c->handle, zero_page, n, offset));
    else {
      *err = EROFS;
      return -1;
    }
    count -= n;
    offset += n;
  }
  *err = 0;
  return finish_fua (c, flags, err);
}

static int
plugin_zero (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  bool fast = flags & NBDKIT_FLAG_FAST_ZERO;
  int r;

  /* A version 1 zero has no way to be told "fast": skip it then. */
  if (c->can_zero == NBDKIT_ZERO_NATIVE && (p->zero || (p->_zero_v1 && !fast))) {
    threadlocal_set_error (0);
    errno = 0;
    if (p->zero)
      r = p->zero (c->handle, count, offset, native_flags (c, flags));
    else
      r = p->_zero_v1 (c->handle, count, offset,
                       !!(flags & NBDKIT_FLAG_MAY_TRIM));
    if (r == 0)
      return finish_fua (c, flags, err);
    *err = get_error (p);
    /* Only "not supported" falls back; any other error is final. */
    if (*err != EOPNOTSUPP && *err != ENOTSUP)
      return -1;
  }

  /* Writing zeroes is slow by definition, so a fast zero fails here. */
  if (fast) {
    *err = ENOTSUP;
    return -1;
  }
  return emulate_zero (c, count, offset, flags & ~NBDKIT_FLAG_FAST_ZERO, err);
}

static int
plugin_extents (struct context *c, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  assert (p->extents != NULL);
  CALL_PLUGIN (p, err, p->extents (c->handle, count, offset, flags, extents));
  if (nbdkit_extents_count (extents) == 0) {
    nbdkit_error ("%s: extents: plugin returned no extents", c->b->name);
    *err = EINVAL;
    return -1;
  }
  return 0;
}

/* Cache emulated by reading into a scratch buffer that is thrown away. */
static int
plugin_cache (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (c->can_cache == NBDKIT_CACHE_NATIVE && p->cache) {
    CALL_PLUGIN (p, err, p->cache (c->handle, count, offset, 0));
    return 0;
  }

  return backend_cache_by_reading (c, plugin_pread, count, offset, err);
}

void
plugin_set_data_calls (struct backend *b)
{
  b->pread = plugin_pread;
  b->pwrite = plugin_pwrite;
  b->flush = plugin_flush;
  b->trim = plugin_trim;
  b->zero = plugin_zero;
  b->extents = plugin_extents;
  b->cache = plugin_cache;
}
