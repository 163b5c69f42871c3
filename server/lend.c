/* blockkit: large read replies lent to the kernel instead of copied.
 *
 * direct.c sends a large read straight from the plugin's pages, but
 * sendmsg still copies them into the socket, and on a Unix socket (the
 * usual local client, and always nbdattach's kernel connection) that
 * copy was most of the server's CPU time for 1 MiB and larger reads.
 * Here the pages are spliced instead: vmsplice puts references to them
 * into a pipe of the connection's, splice moves those references into
 * the socket, and the only copy is the one the client makes when it
 * reads.  The header goes into the pipe ahead of the data with write,
 * as a copy, because the request that holds it is reused.
 *
 * The pages stay referenced by the socket after the reply is sent and
 * the plugin's mapping released: a page the plugin frees must first be
 * detached from its address (the rule in nbdkit-common.h), so that the
 * client never sees memory reused for something else.
 *
 * splice cannot be told not to block on a socket that is not
 * O_NONBLOCK (and this one is not: the reader's recv blocks), so it is
 * only ever asked for what fits: a Unix stream socket polls writable
 * when at most a quarter of its send buffer is in use, and each splice
 * moves at most half of it, so it always finds room.  Only Unix
 * sockets: TCP's notion of room is different (and its loopback clients
 * are rare); they keep sendmsg.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "minmax.h"

/* Room asked for: the kernel doubles it, and caps it (without
 * CAP_NET_ADMIN) at net.core.wmem_max.  With 2 MiB, a 1 MiB reply goes
 * out in one splice; with Debian's default cap, in five.
 */
#define LEND_SNDBUF (1024 * 1024)

/* The pipe's capacity: a 1 MiB reply's pages and its header.  Beyond
 * 1 MiB takes CAP_SYS_RESOURCE (fs.pipe-max-size); without it, 1 MiB
 * minus the header goes per round.
 */
#define LEND_PIPE_BYTES (2 * 1024 * 1024)

void
lend_setup (struct connection *conn)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int sndbuf = LEND_SNDBUF;
  socklen_t optlen = sizeof sndbuf;

  if (conn->lend_tried)
    return;
  conn->lend_tried = true;
  if (getsockname (conn->sockout, (struct sockaddr *) &ss, &len) == -1 ||
      ss.ss_family != AF_UNIX)
    return;
  if (setsockopt (conn->sockout, SOL_SOCKET, SO_SNDBUFFORCE,
                  &sndbuf, sizeof sndbuf) == -1)
    setsockopt (conn->sockout, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (getsockopt (conn->sockout, SOL_SOCKET, SO_SNDBUF,
                  &sndbuf, &optlen) == -1 || sndbuf < 8192)
    return;
  if (pipe2 (conn->lend_pipe, O_CLOEXEC) == -1) {
    debug ("pipe2: %m: large reads are copied");
    return;
  }
  /* A smaller pipe only means more system calls. */
  if (fcntl (conn->lend_pipe[1], F_SETPIPE_SZ, LEND_PIPE_BYTES) == -1)
    fcntl (conn->lend_pipe[1], F_SETPIPE_SZ, LEND_PIPE_BYTES / 2);
  conn->lend_max = sndbuf / 2;
  conn->lending = true;
  debug ("large reads are spliced (send buffer %d bytes)", sndbuf);
}

void
lend_close (struct connection *conn)
{
  if (conn->lending) {
    close (conn->lend_pipe[0]);
    close (conn->lend_pipe[1]);
    conn->lending = false;
  }
}

/* Fills the empty pipe: the rest of the header, then as many of the
 * plugin's pages as fit.  0, or -1 on error; 1 if the plugin could not
 * map the data and nothing was sent yet (the ordinary path answers).
 */
static int
fill_pipe (struct connection *conn, struct request *req, size_t hdr_len)
{
  struct iovec iov[DIRECT_IOV];
  int cnt = DIRECT_IOV;
  ssize_t r;

  if (direct_ops->map (req->offset + req->data_sent,
                       req->count - req->data_sent,
                       NBDKIT_DIRECT_READ, iov, &cnt) == -1)
    return req->hdr_sent == 0 ? 1 : -1;
  if (req->hdr_sent < hdr_len) {
    /* The pipe is empty, so a header (a few dozen bytes) fits whole. */
    r = write (conn->lend_pipe[1],
               (char *) req->reply[0].iov_base + req->hdr_sent,
               hdr_len - req->hdr_sent);
    if (r == -1)
      goto out;
    req->hdr_sent += r;
    conn->lend_piped += r;
  }
  r = vmsplice (conn->lend_pipe[1], iov, cnt, SPLICE_F_NONBLOCK);
  if (r > 0) {
    req->data_sent += r;
    conn->lend_piped += r;
  }
  else if (r == -1 && errno == EAGAIN && conn->lend_piped > 0)
    r = 0;                      /* the header filled it: next time */
 out:
  direct_ops->unmap ();
  return r == -1 ? -1 : 0;
}

int
lend_step (struct connection *conn, struct request *req, size_t hdr_len)
{
  ssize_t r;

  if (conn->lend_piped == 0 &&
      (req->hdr_sent < hdr_len || req->data_sent < req->count)) {
    int f = fill_pipe (conn, req, hdr_len);
    if (f != 0)
      return f;
  }
  if (conn->lend_piped == 0)
    return 0;

  /* Never block in splice (see the top of the file). */
  r = wait_socket (conn->sockout, POLLOUT, 0);
  if (r == -1)
    return -1;
  if (r == 1) {
    errno = EAGAIN;
    return -1;
  }
  r = splice (conn->lend_pipe[0], NULL, conn->sockout, NULL,
              MIN (conn->lend_piped, conn->lend_max), 0);
  if (r == -1)
    return -1;
  conn->lend_piped -= r;
  return 0;
}
