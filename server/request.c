/* blockkit: checking one request against the protocol, running it
 * through the chain, and writing its reply.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "conn-io.h"
#include "minmax.h"
#include "nbd-protocol.h"

#define META_BASE_ALLOCATION_ID 1

/* Most descriptors one block status reply carries. */
#define MAX_EXTENTS (1024 * 1024)

uint32_t
errno_to_nbd_error (int err)
{
  switch (err) {
  case 0:
    return NBD_SUCCESS;
  case EROFS:
  case EPERM:
    return NBD_EPERM;
  case EIO:
    return NBD_EIO;
  case ENOMEM:
    return NBD_ENOMEM;
#ifdef EDQUOT
  case EDQUOT:
#endif
  case EFBIG:
  case ENOSPC:
    return NBD_ENOSPC;
#ifdef ESHUTDOWN
  case ESHUTDOWN:
    return NBD_ESHUTDOWN;
#endif
  case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
  case EOPNOTSUPP:
#endif
    return NBD_ENOTSUP;
  case EOVERFLOW:
    return NBD_EOVERFLOW;
  case EINVAL:
    return NBD_EINVAL;
  default:
    return NBD_EIO;
  }
}

/* Flags each command may carry (FUA is checked separately). */
static uint16_t
allowed_flags (uint16_t type)
{
  switch (type) {
  case NBD_CMD_READ:
    return NBD_CMD_FLAG_DF;
  case NBD_CMD_WRITE_ZEROES:
    return NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
  case NBD_CMD_BLOCK_STATUS:
    return NBD_CMD_FLAG_REQ_ONE;
  default:
    return 0;
  }
}

/* Decides the errno (0 = fine) for a request, before anything runs.
 * The order follows the spec's guidance: unknown command or flag, then
 * read-only, then advertised features, then size and range.
 */
int
validate_request (struct connection *conn, struct request *req)
{
  uint16_t eflags = conn->eflags;
  uint16_t flags = req->flags;
  bool has_range = true;

  switch (req->type) {
  case NBD_CMD_READ:
  case NBD_CMD_WRITE:
  case NBD_CMD_FLUSH:
  case NBD_CMD_TRIM:
  case NBD_CMD_CACHE:
  case NBD_CMD_WRITE_ZEROES:
  case NBD_CMD_BLOCK_STATUS:
    break;
  default:
    return EINVAL;
  }

  if (flags & NBD_CMD_FLAG_FUA) {
    if (!(eflags & NBD_FLAG_SEND_FUA))
      return EINVAL;
    flags &= ~NBD_CMD_FLAG_FUA;
  }
  if (flags & ~allowed_flags (req->type))
    return EINVAL;
  if ((flags & NBD_CMD_FLAG_DF) && !(eflags & NBD_FLAG_SEND_DF))
    return EINVAL;
  if ((flags & NBD_CMD_FLAG_FAST_ZERO) && !(eflags & NBD_FLAG_SEND_FAST_ZERO))
    return EINVAL;

  switch (req->type) {
  case NBD_CMD_WRITE:
  case NBD_CMD_TRIM:
  case NBD_CMD_WRITE_ZEROES:
    if (conn->readonly)
      return EPERM;
    break;
  }

  switch (req->type) {
  case NBD_CMD_FLUSH:
    if (!(eflags & NBD_FLAG_SEND_FLUSH))
      return EINVAL;
    if (req->offset != 0 || req->count != 0)
      return EINVAL;
    has_range = false;
    break;
  case NBD_CMD_TRIM:
    if (!(eflags & NBD_FLAG_SEND_TRIM))
      return EINVAL;
    break;
  case NBD_CMD_WRITE_ZEROES:
    if (!(eflags & NBD_FLAG_SEND_WRITE_ZEROES))
      return EINVAL;
    break;
  case NBD_CMD_CACHE:
    if (!(eflags & NBD_FLAG_SEND_CACHE))
      return EINVAL;
    break;
  case NBD_CMD_BLOCK_STATUS:
    if (!conn->meta_base_allocation)
      return EINVAL;
    if (req->count == 0)
      return EINVAL;
    break;
  case NBD_CMD_READ:
  case NBD_CMD_WRITE:
    /* The client controls these payloads: hold it to our maximum. */
    if (req->count > conn->max_block)
      return EINVAL;
    break;
  }

  if (has_range) {
    uint64_t end = req->offset + req->count;

    if (!IS_ALIGNED (req->offset, conn->min_block) ||
        (!IS_ALIGNED (req->count, conn->min_block) &&
         end != conn->exportsize))
      return EINVAL;
    if (end < req->offset || end > conn->exportsize)
      return req->type == NBD_CMD_WRITE ||
        req->type == NBD_CMD_WRITE_ZEROES ? ENOSPC : EINVAL;
  }
  return 0;
}

/* Makes sure the request's buffer holds at least SIZE bytes.  Buffers
 * are kept between requests, so this rarely allocates.  What the buffer
 * held is not needed, so a small one is freed and a new one allocated
 * rather than realloc'ed (which would copy the old bytes).
 */
int
reserve_buffer (struct request *req, size_t size)
{
  if (req->buf_size >= size)
    return 0;
  free (req->buf);
  req->buf = malloc (size);
  req->buf_size = req->buf ? size : 0;
  return req->buf ? 0 : -1;
}

static uint32_t
nbd_flags_to_nbdkit (uint16_t flags)
{
  uint32_t f = 0;

  if (flags & NBD_CMD_FLAG_FUA)
    f |= NBDKIT_FLAG_FUA;
  if (!(flags & NBD_CMD_FLAG_NO_HOLE))
    f |= NBDKIT_FLAG_MAY_TRIM;
  if (flags & NBD_CMD_FLAG_FAST_ZERO)
    f |= NBDKIT_FLAG_FAST_ZERO;
  if (flags & NBD_CMD_FLAG_REQ_ONE)
    f |= NBDKIT_FLAG_REQ_ONE;
  return f;
}

/* Fills req->buf with block descriptors; returns their count or -1. */
static int
block_status (struct connection *conn, struct request *req,
              uint32_t flags, int *err, size_t *n_out)
{
  struct context *c = conn->top_context;
  struct nbdkit_extents *extents;
  struct nbd_block_descriptor *d;
  size_t i, n;
  int r;

  extents = nbdkit_extents_new (req->offset, req->offset + req->count);
  if (extents == NULL) {
    *err = errno ? errno : ENOMEM;
    return -1;
  }
  r = backend_extents (c, req->count, req->offset,
                       flags & NBDKIT_FLAG_REQ_ONE, extents, err);
  if (r == -1) {
    nbdkit_extents_free (extents);
    return -1;
  }

  n = nbdkit_extents_count (extents);
  if (flags & NBDKIT_FLAG_REQ_ONE)
    n = MIN (n, (size_t) 1);
  n = MIN (n, (size_t) MAX_EXTENTS);
  if (n == 0 || reserve_buffer (req, 4 + n * sizeof *d) == -1) {
    nbdkit_extents_free (extents);
    *err = n == 0 ? EIO : ENOMEM;
    return -1;
  }

  d = (struct nbd_block_descriptor *) (req->buf + 4);
  for (i = 0; i < n; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (extents, i);
    uint64_t len = e.length;

    /* Descriptors are 32-bit; the first may not exceed the request. */
    if (len > req->count)
      len = req->count;
    d[i].length = htobe32 ((uint32_t) len);
    d[i].status_flags = htobe32 (e.type & (NBD_STATE_HOLE | NBD_STATE_ZERO));
  }
  nbdkit_extents_free (extents);
  *n_out = n;
  return 0;
}

/* Runs the request through the chain.  Returns 0 or -1 with *err set. */
static int
execute (struct connection *conn, struct request *req, int *err,
         size_t *n_extents)
{
  struct context *c = conn->top_context;
  uint32_t f = nbd_flags_to_nbdkit (req->flags);
  int r;

  if (req->count == 0 && req->type != NBD_CMD_FLUSH)
    return 0;

  lock_request ();
  switch (req->type) {
  case NBD_CMD_READ:
    if (reserve_buffer (req, req->count) == -1) {
      *err = ENOMEM;
      r = -1;
    }
    else
      r = backend_pread (c, req->buf, req->count, req->offset, 0, err);
    break;
  case NBD_CMD_WRITE:
    r = req->stored ? 0 :
      backend_pwrite (c, req->payload, req->count, req->offset,
                      f & NBDKIT_FLAG_FUA, err);
    break;
  case NBD_CMD_FLUSH:
    r = backend_flush (c, 0, err);
    break;
  case NBD_CMD_TRIM:
    r = backend_trim (c, req->count, req->offset, f & NBDKIT_FLAG_FUA, err);
    break;
  case NBD_CMD_CACHE:
    r = backend_cache (c, req->count, req->offset, 0, err);
    break;
  case NBD_CMD_WRITE_ZEROES:
    r = backend_zero (c, req->count, req->offset,
                      f & (NBDKIT_FLAG_FUA | NBDKIT_FLAG_MAY_TRIM |
                           NBDKIT_FLAG_FAST_ZERO), err);
    break;
  case NBD_CMD_BLOCK_STATUS:
    r = block_status (conn, req, f, err, n_extents);
    break;
  default:
    *err = EINVAL;
    r = -1;
  }
  unlock_request ();
  return r;
}

/* ---- replies: header and payload leave in one system call ---- */

void
send_lock (struct connection *conn)
{
  while (sem_wait (&conn->send_sem) == -1 && errno == EINTR)
    ;
}

void
send_unlock (struct connection *conn)
{
  sem_post (&conn->send_sem);
}

/* Sends the prepared replies of N requests in as few calls as possible. */
int
send_replies (struct connection *conn, struct request **reqs, size_t n)
{
  struct iovec iov[2 * MAX_CORKED];
  size_t i, cnt = 0;
  int r = 0;

  for (i = 0; i < n; ++i)
    if (reqs[i]->mapped)
      return direct_send_replies (conn, reqs, n);
  send_lock (conn);
  for (i = 0; i < n; ++i) {
    memcpy (&iov[cnt], reqs[i]->reply,
            reqs[i]->reply_iovcnt * sizeof (struct iovec));
    cnt += reqs[i]->reply_iovcnt;
    if (cnt > 2 * MAX_CORKED - 2 || i == n - 1) {
      if (r == 0)
        r = conn_send_iov (conn, iov, cnt);
      cnt = 0;
    }
  }
  return end_replies (conn, r);
}

int
end_replies (struct connection *conn, int r)
{
  send_unlock (conn);
  if (r == -1) {
    debug ("write reply: %m");
    conn->running = false;
  }
  return r;
}

static void
set_reply (struct request *req, const void *hdr, size_t hdr_len,
           void *data, size_t data_len)
{
  memcpy (req->reply_hdr, hdr, hdr_len);
  req->reply[0].iov_base = req->reply_hdr;
  req->reply[0].iov_len = hdr_len;
  req->reply[1].iov_base = data;
  req->reply[1].iov_len = data_len;
  req->reply_iovcnt = data_len ? 2 : 1;
}

static void
simple_reply (struct request *req, uint32_t error)
{
  struct nbd_simple_reply hdr = {
    .magic = htobe32 (NBD_SIMPLE_REPLY_MAGIC),
    .error = htobe32 (error),
    .cookie = req->cookie,
  };
  bool with_data = req->type == NBD_CMD_READ && error == 0;

  set_reply (req, &hdr, sizeof hdr, req->buf, with_data ? req->count : 0);
}

static void
structured_error (struct request *req, uint32_t error)
{
  struct {
    struct nbd_structured_reply hdr;
    struct nbd_structured_reply_error err;
  } NBD_PACKED reply = {
    .hdr = {
      .magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC),
      .flags = htobe16 (NBD_REPLY_FLAG_DONE),
      .type = htobe16 (NBD_REPLY_TYPE_ERROR),
      .cookie = req->cookie,
      .length = htobe32 (sizeof reply.err),
    },
    .err = { .error = htobe32 (error), .len = 0 },
  };

  set_reply (req, &reply, sizeof reply, NULL, 0);
}

static void
structured_read (struct request *req)
{
  struct {
    struct nbd_structured_reply hdr;
    struct nbd_structured_reply_offset_data data;
  } NBD_PACKED reply = {
    .hdr = {
      .magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC),
      .flags = htobe16 (NBD_REPLY_FLAG_DONE),
      .type = htobe16 (NBD_REPLY_TYPE_OFFSET_DATA),
      .cookie = req->cookie,
      .length = htobe32 (sizeof reply.data + req->count),
    },
    .data = { .offset = htobe64 (req->offset) },
  };

  /* A zero-length read has no data chunk, just the end of the reply. */
  if (req->count == 0) {
    reply.hdr.type = htobe16 (NBD_REPLY_TYPE_NONE);
    reply.hdr.length = 0;
    set_reply (req, &reply.hdr, sizeof reply.hdr, NULL, 0);
  }
  else
    set_reply (req, &reply, sizeof reply, req->buf, req->count);
}

static void
structured_block_status (struct request *req, size_t n)
{
  struct nbd_structured_reply hdr = {
    .magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC),
    .flags = htobe16 (NBD_REPLY_FLAG_DONE),
    .type = htobe16 (NBD_REPLY_TYPE_BLOCK_STATUS),
    .cookie = req->cookie,
    .length = htobe32 (4 + n * sizeof (struct nbd_block_descriptor)),
  };
  uint32_t id = htobe32 (META_BASE_ALLOCATION_ID);

  memcpy (req->buf, &id, 4);
  set_reply (req, &hdr, sizeof hdr, req->buf, 4 + n * 8);
}

void
prepare_read_reply (struct connection *conn, struct request *req)
{
  if (conn->structured_replies)
    structured_read (req);
  else
    simple_reply (req, 0);
}

int
run_local_request (struct connection *conn, struct request *req)
{
  int err = validate_request (conn, req);
  size_t n_extents;

  req->stored = false;          /* never received straight into the plugin */
  if (err == 0 && execute (conn, req, &err, &n_extents) == 0)
    return 0;
  if (err == 0)
    err = EIO;
  debug ("request type %d offset %" PRIu64 " count %" PRIu32
         " failed: %s", req->type, req->offset, req->count, strerror (err));
  return err;
}

/* Runs the request and leaves its reply ready in req->reply. */
void
handle_request (struct connection *conn, struct request *req)
{
  int err = req->error;
  size_t n_extents = 0;
  uint32_t error;

  /* A layer may leave *err set on a path that recovered (a fallback), so
   * only a failed return counts.
   */
  if (err == 0) {
    if (execute (conn, req, &err, &n_extents) == 0)
      err = 0;
    else if (err == 0)
      err = EIO;
  }
  error = errno_to_nbd_error (err);
  if (error)
    debug ("request type %d offset %" PRIu64 " count %" PRIu32
           " failed: %s", req->type, req->offset, req->count,
           strerror (err));

  if (!conn->structured_replies ||
      (req->type != NBD_CMD_READ && req->type != NBD_CMD_BLOCK_STATUS))
    simple_reply (req, error);
  else if (error)
    structured_error (req, error);
  else if (req->type == NBD_CMD_READ)
    prepare_read_reply (conn, req);
  else
    structured_block_status (req, n_extents);
}
