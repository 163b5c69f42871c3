/* blockkit: a connection's raw I/O, below the protocol phases.
 *
 * Everything that moves bytes for a connection is here: reading and
 * writing through the transport (the plain socket or pipe, or the
 * GnuTLS session of tls.c once the client asked for TLS), the handshake
 * deadline (--timeout) that bounds every wait, and the list of open
 * connections whose sockets a shutdown shuts down to wake blocked
 * readers.  The protocol phases call down into this file; it calls
 * nothing above it.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "conn-io.h"
#include "tls.h"

static bool
fd_is_socket (int fd)
{
  struct stat st;

  return fstat (fd, &st) == 0 && S_ISSOCK (st.st_mode);
}

unsigned timeout_option = DEFAULT_HANDSHAKE_TIMEOUT;

static uint64_t
monotonic_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
conn_set_deadline (struct connection *conn, unsigned seconds)
{
  conn->deadline_ms = seconds ? monotonic_ms () + seconds * UINT64_C (1000)
    : 0;
}

unsigned
conn_deadline_left_ms (const struct connection *conn)
{
  uint64_t now;

  if (conn->deadline_ms == 0)
    return 0;
  now = monotonic_ms ();
  return conn->deadline_ms > now ? (unsigned) (conn->deadline_ms - now) : 1;
}

/* Waits until FD is ready for EVENTS, the server is quitting, or the
 * connection's deadline (if any) passes.  Returns 0 when ready, -1 with
 * errno ESHUTDOWN on quit or ETIMEDOUT past the deadline.
 */
static int
wait_fd (struct connection *conn, int fd, short events)
{
  struct pollfd fds[2] = {
    { .fd = fd, .events = events },
    { .fd = quit_fd, .events = POLLIN },
  };

  for (;;) {
    int timeout = -1, r;

    if (conn->deadline_ms) {
      uint64_t now = monotonic_ms ();

      if (now >= conn->deadline_ms) {
        nbdkit_error ("client did not finish the handshake within %u "
                      "seconds (--timeout): disconnecting", timeout_option);
        errno = ETIMEDOUT;
        return -1;
      }
      timeout = conn->deadline_ms - now;
    }
    r = poll (fds, 2, timeout);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (fds[1].revents & POLLIN) {
      errno = ESHUTDOWN;
      return -1;
    }
    if (fds[0].revents)
      return 0;
  }
}

/* Reads at least one and at most LEN bytes.  Returns the count, 0 at
 * EOF, or -1 on error, quit (errno ESHUTDOWN) or timeout (ETIMEDOUT).
 *
 * Sockets are read with a plain blocking recv: one system call, however
 * long the client takes.  Shutting the server down wakes such a reader
 * by shutting its socket down (shutdown_all_connections).  Pipes (-s)
 * cannot be shut down from here, so for them poll watches quit_fd too,
 * and so it does for anything with a deadline (the handshake).
 */
ssize_t
conn_recv_some (struct connection *conn, void *buf, size_t len)
{
  for (;;) {
    ssize_t r;

    if (quit) {
      errno = ESHUTDOWN;
      return -1;
    }
    if (conn->tls) {
      /* Bytes GnuTLS already holds need no waiting for. */
      if (conn->deadline_ms && !tls_pending (conn) &&
          wait_fd (conn, conn->sockin, POLLIN) == -1)
        return -1;
      r = tls_recv (conn, buf, len);
    }
    else if (conn->sockin_is_socket && !conn->deadline_ms)
      r = recv (conn->sockin, buf, len, 0);
    else if (wait_fd (conn, conn->sockin, POLLIN) == -1)
      return -1;
    else
      r = read (conn->sockin, buf, len);
    if (r == -1 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (r == 0 && quit) {
      errno = ESHUTDOWN;
      return -1;
    }
    return r;
  }
}

/* Reads exactly LEN bytes.  Returns 0, or -1 on EOF, error or quit; EOF
 * sets errno to 0 so that the caller can tell it from a real error.
 */
int
conn_recv_full (struct connection *conn, void *buf, size_t len)
{
  char *p = buf;

  while (len > 0) {
    ssize_t r = conn_recv_some (conn, p, len);

    if (r == -1)
      return -1;
    if (r == 0) {
      errno = 0;
      return -1;
    }
    p += r;
    len -= r;
  }
  return 0;
}

/* Reads what can be read without blocking, at most LEN bytes: returns
 * the count, 0 if nothing could be (or the transport cannot tell
 * without blocking, as a pipe), or -1 on error.  Under TLS only what
 * GnuTLS already decrypted is sure not to block (a record may be half
 * arrived).
 */
ssize_t
conn_recv_nowait (struct connection *conn, void *buf, size_t len)
{
  if (conn->tls)
    return tls_pending (conn) ? tls_recv (conn, buf, len) : 0;
  if (!conn->sockin_is_socket)
    return 0;
  return recv (conn->sockin, buf, len, MSG_DONTWAIT);
}

/* Writes the whole vector.  The caller holds send_lock when other threads
 * may write too.
 */
int
conn_send_iov (struct connection *conn, struct iovec *iov, int iovcnt)
{
  if (conn->tls)
    return tls_send_iov (conn, iov, iovcnt);
  while (iovcnt > 0) {
    ssize_t r;

    /* Under a deadline, a client that does not read cannot block us
     * past it.
     */
    if (conn->deadline_ms && wait_fd (conn, conn->sockout, POLLOUT) == -1)
      return -1;
    if (conn->sockout_is_socket) {
      struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
      r = sendmsg (conn->sockout, &msg,
                   MSG_NOSIGNAL | (conn->deadline_ms ? MSG_DONTWAIT : 0));
    }
    else
      r = writev (conn->sockout, iov, iovcnt);
    if (r == -1) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return -1;
    }
    /* Skip what was written; a short write resumes mid-vector. */
    while (iovcnt > 0 && (size_t) r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *) iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  return 0;
}

int
conn_send_full (struct connection *conn, const void *buf, size_t len)
{
  struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };

  return conn_send_iov (conn, &iov, 1);
}

/* Every connection with a socket, so that a shutdown can wake readers
 * blocked in recv.
 */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct connection **all_conns;
static size_t n_all_conns, cap_all_conns;

static void
register_connection (struct connection *conn)
{
  pthread_mutex_lock (&all_lock);
  if (n_all_conns == cap_all_conns) {
    size_t cap = cap_all_conns ? cap_all_conns * 2 : 16;
    struct connection **p = realloc (all_conns, cap * sizeof *p);
    if (p) {
      all_conns = p;
      cap_all_conns = cap;
    }
  }
  if (n_all_conns < cap_all_conns)
    all_conns[n_all_conns++] = conn;
  pthread_mutex_unlock (&all_lock);
}

static void
unregister_connection (struct connection *conn)
{
  size_t i;

  pthread_mutex_lock (&all_lock);
  for (i = 0; i < n_all_conns; ++i)
    if (all_conns[i] == conn) {
      all_conns[i] = all_conns[--n_all_conns];
      break;
    }
  pthread_mutex_unlock (&all_lock);
}

/* Called once quit is set.  SHUT_RD: readers see EOF and wind down,
 * while workers may still send the replies of requests in flight.
 * SHUT_RDWR, later: a reply to a client that does not read fails at once
 * instead of blocking its worker for ever.
 */
void
shutdown_all_connections (int how)
{
  size_t i;

  pthread_mutex_lock (&all_lock);
  for (i = 0; i < n_all_conns; ++i)
    if (all_conns[i]->sockin_is_socket)
      shutdown (all_conns[i]->sockin, how);
  pthread_mutex_unlock (&all_lock);
}

void
conn_io_attach (struct connection *conn, int sockin, int sockout)
{
  conn->sockin = sockin;
  conn->sockout = sockout;
  conn->sockin_is_socket = fd_is_socket (sockin);
  conn->sockout_is_socket = sockin == sockout ? conn->sockin_is_socket
    : fd_is_socket (sockout);
  conn->peer_len = sizeof conn->peer;
  if (!conn->sockin_is_socket ||
      getpeername (sockin, (struct sockaddr *) &conn->peer,
                   &conn->peer_len) == -1)
    conn->peer_len = 0;
  register_connection (conn);
}

void
conn_io_detach (struct connection *conn)
{
  unregister_connection (conn);
  tls_end (conn);
}
