/* blockkit: the rbd plugin, which serves a Ceph RBD image through librbd.
 *
 * One image handle serves every connection (see rbd-plugin.h), in the
 * parallel thread model: each request is issued with librbd's rbd_aio_*
 * call and waited for in the server thread that runs it, so as many
 * requests are in flight in the cluster as the server has threads
 * running, and librbd orders nothing it need not.  Every librbd error is
 * returned as the request's error with a message naming the request and
 * the image; librbd's own timeouts (config.c bounds them) make sure that
 * an unreachable cluster is an error, never a hang.
 *
 * Capabilities: writes, FUA (a flush after the write), flush, trim
 * (discard), zero (write-zeroes: deallocating when the client allows
 * holes, thick otherwise), fast zero (write-zeroes never moves data over
 * the network, so it is never slower than the write it replaces), cache
 * (a prefetch read when librbd's cache is on), extents from
 * rbd_diff_iterate2, multi-conn.  A snapshot is served read-only.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "rbd-plugin.h"

/* Connections need no state of their own: the image is the process's. */
static void *
rbdp_open (int readonly)
{
  (void) readonly;
  if (rbd.image == NULL) {
    nbdkit_error ("image=%s: the image is not open", rbdp_image_name ());
    return NULL;
  }
  /* A snapshot needs no -r: can_write says no, so the export is
   * read-only (rbd-nbd maps a snapshot read-only by itself too): the
   * server refuses writes before they reach the plugin, and librbd
   * refuses them on a snapshot anyway (EROFS).
   */
  return NBDKIT_HANDLE_NOT_NEEDED;
}

/* A failed librbd call: errno for the client, a message for the log.
 * librbd returns negated errno values; ETIMEDOUT is what an unreachable
 * OSD or monitor gives after rados_osd_op_timeout/rados_mon_op_timeout. */
static int
failed (const char *what, uint64_t offset, uint64_t count, ssize_t r)
{
  int err = r < 0 ? (int) -r : EIO;

  if (err == ETIMEDOUT)
    nbdkit_error ("rbd: %s of %" PRIu64 " bytes at %" PRIu64 " in %s: the "
                  "cluster did not answer within rados_osd_op_timeout",
                  what, count, offset, rbdp_image_name ());
  else
    nbdkit_error ("rbd: %s of %" PRIu64 " bytes at %" PRIu64 " in %s: %s",
                  what, count, offset, rbdp_image_name (), strerror (err));
  errno = err;
  return -1;
}

/* The shape of every request: make a completion, start the operation,
 * wait for it here.  A completion without a callback is the cheapest
 * kind: librbd signals a condition variable when it is done. */
enum op { OP_READ, OP_WRITE, OP_FLUSH, OP_DISCARD, OP_ZERO };

static ssize_t
run (enum op op, void *buf, uint64_t count, uint64_t offset, int zero_flags)
{
  rbd_completion_t c;
  ssize_t r;

  r = rbd_aio_create_completion (NULL, NULL, &c);
  if (r < 0)
    return r;
  switch (op) {
  case OP_READ:
    r = rbd_aio_read (rbd.image, offset, count, buf, c);
    break;
  case OP_WRITE:
    r = rbd_aio_write (rbd.image, offset, count, buf, c);
    break;
  case OP_FLUSH:
    r = rbd_aio_flush (rbd.image, c);
    break;
  case OP_DISCARD:
    r = rbd_aio_discard (rbd.image, offset, count, c);
    break;
  case OP_ZERO:
    r = rbd_aio_write_zeroes (rbd.image, offset, count, c, zero_flags, 0);
    break;
  }
  if (r < 0) {
    /* Not started: the completion will never fire. */
    rbd_aio_release (c);
    return r;
  }
  rbd_aio_wait_for_complete (c);
  r = rbd_aio_get_return_value (c);
  rbd_aio_release (c);
  return r;
}

static int64_t
rbdp_get_size (void *handle)
{
  uint64_t size;
  int r;

  (void) handle;
  /* librbd refreshes the handle first if the header changed (the watch
   * tells it), so a new connection after `rbd resize` sees the new size. */
  r = rbd_get_size (rbd.image, &size);
  if (r < 0) {
    nbdkit_error ("rbd: rbd_get_size (%s): %s", rbdp_image_name (),
                  strerror (-r));
    return -1;
  }
  return size;
}

static int
rbdp_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                 uint32_t *maximum)
{
  uint64_t pref = rbd.object_size;

  (void) handle;
  /* RBD takes any byte range; whole objects are what it does best.  The
   * protocol wants a preferred size that is a power of two in
   * [512, 32 MiB]: RBD object sizes are powers of two in [4K, 32M]. */
  if (pref < 512)
    pref = 512;
  if (pref > 32 * 1024 * 1024)
    pref = 32 * 1024 * 1024;
  *minimum = 1;
  *preferred = pref;
  *maximum = 0xffffffff;
  return 0;
}

static int
rbdp_can_write (void *handle)
{
  (void) handle;
  return cfg.snap == NULL;
}

static int
rbdp_always (void *handle)
{
  (void) handle;
  return 1;
}

static int
rbdp_never (void *handle)
{
  (void) handle;
  return 0;
}

static int
rbdp_can_fua (void *handle)
{
  (void) handle;
  return NBDKIT_FUA_NATIVE;
}

static int
rbdp_can_cache (void *handle)
{
  (void) handle;
  /* Without librbd's cache there is nowhere to prefetch into. */
  return rbd.cache ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
}

static int
rbdp_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  ssize_t r;

  (void) handle; (void) flags;
  r = run (OP_READ, buf, count, offset, 0);
  if (r < 0)
    return failed ("read", offset, count, r);
  /* librbd stops at the end of the image: if another client shrank it,
   * what is past the new end reads as zeroes rather than as garbage. */
  if ((uint64_t) r < count)
    memset ((char *) buf + r, 0, count - r);
  return 0;
}

static int
flush_now (uint64_t offset, uint64_t count)
{
  ssize_t r = run (OP_FLUSH, NULL, 0, 0, 0);

  if (r < 0)
    return failed ("flush", offset, count, r);
  return 0;
}

static int
rbdp_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  ssize_t r;

  (void) handle;
  r = run (OP_WRITE, (void *) buf, count, offset, 0);
  /* (An aio write's return value is 0, not a byte count.) */
  if (r < 0)
    return failed ("write", offset, count, r);
  if (flags & NBDKIT_FLAG_FUA)
    return flush_now (offset, count);
  return 0;
}

static int
rbdp_flush (void *handle, uint32_t flags)
{
  (void) handle; (void) flags;
  return flush_now (0, 0);
}

static int
rbdp_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  ssize_t r;

  (void) handle;
  r = run (OP_DISCARD, NULL, count, offset, 0);
  if (r < 0)
    return failed ("trim", offset, count, r);
  if (flags & NBDKIT_FLAG_FUA)
    return flush_now (offset, count);
  return 0;
}

static int
rbdp_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  /* Without MAY_TRIM the client wants the range allocated: librbd then
   * writes zeroes (thick) instead of deallocating.  Either way the data
   * is never sent from here, hence fast zero is truthful. */
  int zflags = (flags & NBDKIT_FLAG_MAY_TRIM) ? 0
    : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION;
  ssize_t r;

  (void) handle;
  r = run (OP_ZERO, NULL, count, offset, zflags);
  if (r < 0)
    return failed ("zero", offset, count, r);
  if (flags & NBDKIT_FLAG_FUA)
    return flush_now (offset, count);
  return 0;
}

static int
rbdp_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  /* Read into librbd's cache in object-sized pieces, through one scratch
   * buffer; the data itself is not wanted. */
  uint64_t chunk = rbd.object_size ? rbd.object_size : 4 << 20;
  char *buf;
  ssize_t r;

  (void) handle; (void) flags;
  if (chunk > count)
    chunk = count;
  buf = malloc (chunk ? chunk : 1);
  if (buf == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  while (count > 0) {
    uint64_t n = count < chunk ? count : chunk;
    r = run (OP_READ, buf, n, offset, 0);
    if (r < 0) {
      free (buf);
      return failed ("cache", offset, n, r);
    }
    offset += n;
    count -= n;
  }
  free (buf);
  return 0;
}

/* Extents: rbd_diff_iterate2 from the beginning of time (no "from"
 * snapshot) reports every range that holds data; what lies between is a
 * hole.  In a clone without parent-extents, a hole may still read the
 * parent's data, so it is a hole but not known to read as zero. */
struct extents_walk {
  struct nbdkit_extents *extents;
  uint64_t pos;                 /* everything before this is reported */
  uint32_t hole_type;
  int err;
};

static int
add (struct extents_walk *w, uint64_t offset, uint64_t length, uint32_t type)
{
  if (length == 0)
    return 0;
  if (nbdkit_add_extent (w->extents, offset, length, type) == -1) {
    w->err = errno ? errno : EIO;
    return -1;
  }
  return 0;
}

static int
diff_cb (uint64_t offset, size_t length, int exists, void *arg)
{
  struct extents_walk *w = arg;
  uint64_t end = offset + length;

  /* librbd reports in ascending order; be safe if a range overlaps. */
  if (end <= w->pos)
    return 0;
  if (offset < w->pos)
    offset = w->pos;
  if (add (w, w->pos, offset - w->pos, w->hole_type) == -1 ||
      add (w, offset, end - offset, exists ? 0 : w->hole_type) == -1)
    return -1;
  w->pos = end;
  return 0;
}

static int
rbdp_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  struct extents_walk w = {
    .extents = extents, .pos = offset,
    .hole_type = (rbd.has_parent && !cfg.parent_extents)
      ? NBDKIT_EXTENT_HOLE : NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO,
  };
  uint64_t span = (rbd.object_size ? rbd.object_size : 4 << 20) * 64;
  uint64_t len = count;
  int r;

  (void) handle;
  /* Without fast-diff, librbd asks the cluster about each object in the
   * range: a map of 64 objects at a time keeps every request short (the
   * protocol lets the reply stop early), and REQ_ONE needs only one. */
  if (flags & NBDKIT_FLAG_REQ_ONE)
    span = rbd.object_size ? rbd.object_size : 4 << 20;
  if (len > span)
    len = span;
  r = rbd_diff_iterate2 (rbd.image, NULL, offset, len,
                         rbd.has_parent && cfg.parent_extents, 0,
                         diff_cb, &w);
  if (w.err) {
    errno = w.err;
    return -1;
  }
  if (r < 0)
    return failed ("extents", offset, len, r);
  if (add (&w, w.pos, offset + len - w.pos, w.hole_type) == -1) {
    errno = w.err;
    return -1;
  }
  return 0;
}

static int
rbdp_can_multi_conn (void *handle)
{
  (void) handle;
  /* Every connection reads and writes through the same image handle, so
   * a flush on one covers what all the others wrote. */
  return 1;
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name               = "rbd",
  .longname           = "blockkit rbd plugin",
  .version            = PACKAGE_VERSION,
  .description        = "Serves a Ceph RBD image (librbd).",
  .unload             = rbdp_unload,
  .config             = rbdp_config,
  .config_complete    = rbdp_config_complete,
  .config_help        = rbdp_config_help,
  .magic_config_key   = "image",
  .dump_plugin        = rbdp_dump_plugin,
  .after_fork         = rbdp_after_fork,
  .cleanup            = rbdp_cleanup,
  .open               = rbdp_open,
  .get_size           = rbdp_get_size,
  .block_size         = rbdp_block_size,
  .can_write          = rbdp_can_write,
  .can_flush          = rbdp_always,
  .is_rotational      = rbdp_never,
  .can_trim           = rbdp_can_write,
  .can_zero           = rbdp_can_write,
  .can_fast_zero      = rbdp_can_write,
  .can_fua            = rbdp_can_fua,
  .can_multi_conn     = rbdp_can_multi_conn,
  .can_extents        = rbdp_always,
  .can_cache          = rbdp_can_cache,
  .pread              = rbdp_pread,
  .pwrite             = rbdp_pwrite,
  .flush              = rbdp_flush,
  .trim               = rbdp_trim,
  .zero               = rbdp_zero,
  .cache              = rbdp_cache,
  .extents            = rbdp_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
