/* blockkit: large payloads moved straight between the socket and the
 * plugin's memory (nbdkit_set_direct_ops, a blockkit extension).
 *
 * For a RAM disk the ordinary path copies every payload twice in the
 * server: a write is received into a request buffer and .pwrite copies
 * it into the plugin's pages; a read is copied out of the pages by
 * .pread and then sent from the buffer.  With the plugin's pages mapped
 * into an iovec, the socket's own copy is the only one: a write is
 * received with recvmsg into the pages, a read sent with sendmsg from
 * them, both by the connection's reader (transmission.c).  Profiles of
 * 1 MiB requests put the server's copy at a quarter of its CPU time.
 *
 * The plugin's pages are only held (its lock taken shared) for one
 * non-blocking system call at a time: the socket is never waited for
 * while they are held, since zeroing or trimming (on any connection)
 * waits for every holder.  When the socket has no room or no data,
 * poll waits with nothing held, and the pages are looked up again
 * afterwards (a page zeroed meanwhile may have been freed).
 *
 * Used only where the bytes the client sees cannot differ from the
 * ordinary path: the plugin is the whole chain, its thread model is
 * parallel (so running outside lock_request changes nothing), the
 * connection a plain socket.  Concurrent requests over the same bytes
 * may see each other's data part way, as the NBD protocol allows for
 * any request not yet answered.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "internal.h"
#include "minmax.h"
#include "nbd-protocol.h"

/* Vector entries for a read under DIRECT_READ_MIN_BYTES: enough for
 * pages as small as 4 KiB (the memory plugin's are 32 KiB).
 */
#define DIRECT_SMALL_IOV 17

/* Reads at least this large go out straight from the plugin's pages. */
#define DIRECT_READ_MIN_BYTES (64 * 1024)

/* How long the reader waits for a client to make room for a reply
 * before a worker takes over the rest of it (transmission.c): a client
 * that sends more before it reads (say a large write after a large read)
 * must not find the reader stuck in a send, as both would then wait for
 * ever.
 */
#define STALL_MS 10

bool
direct_usable (const struct connection *conn)
{
  return direct_ops != NULL && top->next == NULL &&
    thread_model == NBDKIT_THREAD_MODEL_PARALLEL &&
    conn->tls == NULL && conn->sockin_is_socket && conn->sockout_is_socket;
}

/* See connection.h.  A shutdown of the socket at quit wakes this as it
 * wakes a blocking recv or send.
 */
int
wait_socket (int fd, short events, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = events };

  for (;;) {
    int r;

    if (quit) {
      errno = ESHUTDOWN;
      return -1;
    }
    r = poll (&p, 1, timeout_ms);
    if (r == 0)
      return 1;
    if (r > 0)
      return 0;
    if (errno != EINTR)
      return -1;
  }
}

/* ---- reads ---- */

bool
direct_read_p (const struct connection *conn, const struct request *req)
{
  return conn->direct && req->type == NBD_CMD_READ && req->error == 0 &&
    req->count >= DIRECT_READ_MIN_BYTES;
}

/* One step of a reply sent with sendmsg, which copies the pages: as
 * lend_step (lend.c).
 */
static int
copy_step (struct connection *conn, struct request *req, size_t hdr_len)
{
  struct iovec iov[DIRECT_IOV + 1];
  struct msghdr msg = { .msg_iov = iov };
  int h = 0, cnt = DIRECT_IOV;
  ssize_t w;

  /* The header leaves with the first pages, in one call. */
  if (req->hdr_sent < hdr_len) {
    iov[0].iov_base = (char *) req->reply[0].iov_base + req->hdr_sent;
    iov[0].iov_len = hdr_len - req->hdr_sent;
    h = 1;
  }
  if (direct_ops->map (req->offset + req->data_sent,
                       req->count - req->data_sent,
                       NBDKIT_DIRECT_READ, iov + h, &cnt) == -1)
    return req->hdr_sent == 0 ? 1 : -1;
  msg.msg_iovlen = h + cnt;
  w = sendmsg (conn->sockout, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  direct_ops->unmap ();
  if (w == -1)
    return -1;
  if (h) {
    size_t k = MIN ((size_t) w, hdr_len - req->hdr_sent);
    req->hdr_sent += k;
    w -= k;
  }
  req->data_sent += w;
  return 0;
}

enum direct_result
direct_read (struct connection *conn, struct request *req, bool may_stall)
{
  size_t hdr_len;
  int r = 0;

  if (!req->send_resume) {
    if (!direct_read_p (conn, req))
      return DIRECT_NOT;
    /* At the first large read, not before: a connection that never
     * makes one has no use for the pipe's two descriptors.
     */
    lend_setup (conn);
    prepare_read_reply (conn, req);
    req->hdr_sent = 0;
    req->data_sent = 0;
    send_lock (conn);
  }
  req->send_resume = false;
  hdr_len = req->reply[0].iov_len;
  while (req->hdr_sent < hdr_len || req->data_sent < req->count ||
         conn->lend_piped > 0) {
    r = conn->lending ? lend_step (conn, req, hdr_len)
                      : copy_step (conn, req, hdr_len);
    if (r == 1) {
      /* Nothing sent yet: the ordinary path answers it. */
      send_unlock (conn);
      return DIRECT_NOT;
    }
    if (r == 0)
      continue;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      break;
    r = wait_socket (conn->sockout, POLLOUT, may_stall ? STALL_MS : -1);
    if (r == 1) {
      /* The client has not read for a while: the caller may let a
       * worker finish this reply (the semaphore stays taken).
       */
      req->send_resume = true;
      return DIRECT_STALLED;
    }
    if (r == -1)
      break;
  }
  end_replies (conn, r);
  return DIRECT_DONE;
}

/* ---- small reads, held back by the reader ---- */

bool
direct_defer_read (struct connection *conn, struct request *req)
{
  if (!conn->direct || req->type != NBD_CMD_READ || req->error != 0 ||
      req->count == 0)
    return false;
  prepare_read_reply (conn, req);
  req->mapped = true;
  return true;
}

/* Appends [BASE, BASE+LEN) to IOV, less the first *SKIP bytes of it
 * (already sent), which it takes off *SKIP.
 */
static void
add_iov (struct iovec *iov, int *cnt, uint64_t *skip, void *base, size_t len)
{
  if (len <= *skip) {
    *skip -= len;
    return;
  }
  iov[*cnt].iov_base = (char *) base + *skip;
  iov[*cnt].iov_len = len - *skip;
  ++*cnt;
  *skip = 0;
}

/* Points IOV at what is left to send of the batch after SENT bytes,
 * mapping the mapped reads' pages (*MAPS: how many mappings are held).
 * Returns the entries, or -1, with nothing held, if a read could not be
 * mapped whole: *UNMAPPED is then that read if none of its reply has
 * left yet, else NULL.
 */
static int
build_batch (struct request **reqs, size_t n, uint64_t sent,
             struct iovec *iov, int *maps, struct request **unmapped)
{
  uint64_t skip = sent;
  int cnt = 0;
  size_t i;

  *maps = 0;
  for (i = 0; i < n; ++i) {
    struct request *req = reqs[i];
    size_t hdr_len = req->reply[0].iov_len;
    uint64_t data_len = req->mapped ? req->count
      : req->reply_iovcnt == 2 ? req->reply[1].iov_len : 0;
    struct iovec pages[DIRECT_SMALL_IOV];
    int pcnt = DIRECT_SMALL_IOV, k;
    bool untouched = skip == 0;
    int64_t m;

    if (skip >= hdr_len + data_len) {
      skip -= hdr_len + data_len;
      continue;
    }
    add_iov (iov, &cnt, &skip, req->reply[0].iov_base, hdr_len);
    if (!req->mapped) {
      if (data_len > 0)
        add_iov (iov, &cnt, &skip, req->reply[1].iov_base, data_len);
      continue;
    }
    m = direct_ops->map (req->offset, req->count, NBDKIT_DIRECT_READ,
                         pages, &pcnt);
    if (m != -1)
      (*maps)++;
    if (m != req->count) {
      while (*maps > 0) {
        direct_ops->unmap ();
        (*maps)--;
      }
      *unmapped = untouched ? req : NULL;
      return -1;
    }
    for (k = 0; k < pcnt; ++k)
      add_iov (iov, &cnt, &skip, pages[k].iov_base, pages[k].iov_len);
  }
  return cnt;
}

int
direct_send_replies (struct connection *conn, struct request **reqs, size_t n)
{
  uint64_t sent = 0;
  int r = 0;

  send_lock (conn);
  for (;;) {
    struct iovec iov[MAX_CORKED * (DIRECT_SMALL_IOV + 1)];
    struct msghdr msg = { .msg_iov = iov };
    struct request *unmapped = NULL;
    int cnt, maps;
    ssize_t w;

    cnt = build_batch (reqs, n, sent, iov, &maps, &unmapped);
    if (cnt == -1) {
      /* Not expected of a RAM disk.  The ordinary path reads it (with
       * nothing held), unless part of its reply already left.
       */
      if (unmapped == NULL) {
        errno = EIO;
        r = -1;
        break;
      }
      unmapped->mapped = false;
      handle_request (conn, unmapped);
      continue;
    }
    if (cnt == 0)
      break;
    msg.msg_iovlen = cnt;
    w = sendmsg (conn->sockout, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (maps-- > 0)
      direct_ops->unmap ();
    if (w >= 0) {
      sent += w;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN ||
        wait_socket (conn->sockout, POLLOUT, -1) == -1) {
      r = -1;
      break;
    }
  }
  return end_replies (conn, r);
}

/* ---- writes ---- */

/* Copies LEN bytes from SRC into the plugin's memory at OFFSET. */
static int
copy_in (uint64_t offset, const char *src, uint64_t len)
{
  struct iovec iov[DIRECT_IOV];

  while (len > 0) {
    int cnt = DIRECT_IOV, i;
    int64_t n = direct_ops->map (offset, len, NBDKIT_DIRECT_WRITE_ALLOC,
                                 iov, &cnt);

    if (n == -1)
      return -1;
    for (i = 0; i < cnt; ++i) {
      memcpy (iov[i].iov_base, src, iov[i].iov_len);
      src += iov[i].iov_len;
    }
    direct_ops->unmap ();
    offset += n;
    len -= n;
  }
  return 0;
}

/* True if every byte of the range already has storage: a write over
 * unallocated space takes the ordinary path, which keeps zeroes written
 * there sparse.
 */
static bool
all_allocated (uint64_t offset, uint64_t len)
{
  struct iovec iov[DIRECT_IOV];

  while (len > 0) {
    int cnt = DIRECT_IOV;
    int64_t n = direct_ops->map (offset, len, NBDKIT_DIRECT_WRITE,
                                 iov, &cnt);

    if (n == -1)
      return false;
    direct_ops->unmap ();
    offset += n;
    len -= n;
  }
  return true;
}

int
direct_write (struct connection *conn, struct request *req, uint64_t *skip)
{
  struct rbuf *rb = &conn->rbuf;
  struct iovec iov[DIRECT_IOV];
  uint64_t done = 0, have;

  *skip = 0;
  if (!conn->direct || !all_allocated (req->offset, req->count))
    return 0;

  /* What the input buffer already holds of the payload. */
  have = MIN ((uint64_t) req->count, (uint64_t) (rb->end - rb->start));
  if (copy_in (req->offset, rb->data + rb->start, have) == -1)
    goto nomem;
  rb->start += have;
  done = have;

  while (done < req->count) {
    struct msghdr msg = { .msg_iov = iov };
    int cnt = DIRECT_IOV;
    int64_t n;
    ssize_t r;

    if (quit) {
      errno = ESHUTDOWN;
      return -1;
    }
    n = direct_ops->map (req->offset + done, req->count - done,
                         NBDKIT_DIRECT_WRITE_ALLOC, iov, &cnt);
    if (n == -1)
      goto nomem;
    msg.msg_iovlen = cnt;
    r = recvmsg (conn->sockin, &msg, MSG_DONTWAIT);
    direct_ops->unmap ();
    if (r > 0)
      done += r;
    else if (r == 0) {
      errno = 0;                /* EOF */
      return -1;
    }
    else if (errno == EAGAIN) {
      if (wait_socket (conn->sockin, POLLIN, -1) == -1)
        return -1;
    }
    else if (errno != EINTR)
      return -1;
  }
  return 1;

 nomem:
  /* Out of memory for a page: the write fails, the rest of its payload
   * is skipped by the caller.
   */
  req->error = ENOMEM;
  *skip = req->count - done;
  return 1;
}
