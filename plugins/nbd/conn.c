/* blockkit: one connection of the nbd plugin to the other server.
 *
 * A connection is a libnbd handle plus a thread of its own that polls
 * the socket and runs libnbd's state machine.  The server's worker
 * threads submit requests with the nbd_aio_* calls and sleep on a
 * semaphore that the request's completion callback posts, so as many
 * requests as the client sends are in flight on one socket at once,
 * and replies may come back in any order.
 *
 * The other job here is never to hang.  When the server goes away
 * libnbd fails every request in flight and the connection is marked
 * dead, so that later requests fail at once with EIO and a filter above
 * (retry) can close and reopen; with timeout= a request the server does
 * not answer in time ends the connection the same way.  (Making the
 * connection, with its own deadline, is connect.c's job.)
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-plugin.h"

/* How long a closing connection waits for the server to acknowledge
 * the disconnect before simply closing the socket.
 */
#define DISCONNECT_GRACE_MS 2000

static void
wake (struct conn *c)
{
  uint64_t one = 1;
  ssize_t r = write (c->wake_fd, &one, sizeof one);

  (void) r;                     /* an eventfd only fails if it overflows */
}

bool
conn_is_dead (struct conn *c)
{
  return c->dead;
}

/* Errors that mean the connection itself is gone, as opposed to the
 * server failing one request: the client is told EIO, and the
 * connection is never used again.
 */
static bool
is_connection_error (int err)
{
  return err == ENOTCONN || err == ECONNRESET || err == EPIPE ||
         err == ECONNABORTED || err == ETIMEDOUT || err == EBADF;
}

/* The poll loop: runs libnbd's state machine whenever the socket is
 * ready in the direction libnbd wants, or when a worker wakes it (a
 * submission left data to write, or close was asked for).
 */
static void *
conn_thread (void *arg)
{
  struct conn *c = arg;
  struct nbd_handle *h = c->nbd;
  bool disconnecting = false;
  int64_t deadline = 0;

  for (;;) {
    struct pollfd fds[2];
    unsigned dir;
    int timeout = -1, r;

    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h))
      break;
    if (c->stopping && !disconnecting) {
      /* NBD_CMD_DISC goes after anything still queued.  Nothing should
       * be (close comes after the last request), but a server that
       * never reads must not keep us here: hence the grace period.
       */
      if (nbd_aio_disconnect (h, 0) == -1)
        break;
      disconnecting = true;
      deadline = nbdplug_now_ms () + DISCONNECT_GRACE_MS;
    }
    if (disconnecting) {
      int64_t left = deadline - nbdplug_now_ms ();
      if (left <= 0)
        break;
      timeout = (int) left;
    }

    dir = nbd_aio_get_direction (h);
    fds[0].fd = nbd_aio_get_fd (h);
    fds[0].events = 0;
    if (dir & LIBNBD_AIO_DIRECTION_READ)
      fds[0].events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
      fds[0].events |= POLLOUT;
    fds[0].revents = 0;
    fds[1].fd = c->wake_fd;
    fds[1].events = POLLIN;
    fds[1].revents = 0;
    if (fds[0].fd == -1)
      break;

    r = poll (fds, 2, timeout);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("nbd: connection %u: poll: %m", c->index);
      break;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t n;
      r = read (c->wake_fd, &n, sizeof n);
      (void) r;
    }
    /* A hang-up or error is found by reading: libnbd sees the end of
     * the stream, fails what is in flight and moves to DEAD.
     */
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
      r = nbd_aio_notify_read (h);
    else if (fds[0].revents & POLLOUT)
      r = nbd_aio_notify_write (h);
    else
      continue;
    if (r == -1 && !c->stopping)
      nbdkit_debug ("nbd: connection %u: %s", c->index, nbd_get_error ());
  }

  if (!c->stopping) {
    /* Whatever ended the loop, no request may be left waiting for a
     * reply that nobody will read: make libnbd see the end of the
     * stream, which fails everything in flight.
     */
    if (!nbd_aio_is_dead (h) && !nbd_aio_is_closed (h)) {
      int fd = nbd_aio_get_fd (h), i;
      if (fd >= 0)
        shutdown (fd, SHUT_RDWR);
      for (i = 0; i < 100 && !nbd_aio_is_dead (h) &&
             !nbd_aio_is_closed (h); ++i)
        nbd_aio_notify_read (h);
    }
    c->dead = true;
    nbdkit_error ("nbd: connection %u to %s has ended (the server closed "
                  "it or went away); requests on it now fail with EIO",
                  c->index, nbdplug_describe_server ());
  }
  return NULL;
}

struct conn *
conn_open (unsigned index, const char *export)
{
  struct conn *c;
  struct nbd_handle *h;
  sigset_t all, old;
  int err;

  h = nbdplug_connect (index, export, NULL);
  if (h == NULL)
    return NULL;

  c = calloc (1, sizeof *c);
  if (c == NULL) {
    err = errno;
    nbd_close (h);
    nbdkit_error ("nbd: calloc: %s", strerror (err));
    return NULL;
  }
  c->nbd = h;
  c->index = index;
  c->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (c->wake_fd == -1) {
    nbdkit_error ("nbd: eventfd: %m");
    goto fail;
  }

  /* The thread takes no signals: they belong to the server's threads. */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  err = pthread_create (&c->thread, NULL, conn_thread, c);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (err) {
    nbdkit_error ("nbd: pthread_create: %s", strerror (err));
    goto fail;
  }
  c->thread_running = true;
  nbdkit_debug ("nbd: connection %u to %s is ready (%s%s)", index,
                nbdplug_describe_server (), nbd_get_protocol (h),
                nbd_get_tls_negotiated (h) == 1 ? ", TLS" : "");
  return c;

 fail:
  if (c->wake_fd >= 0)
    close (c->wake_fd);
  nbd_close (h);
  free (c);
  return NULL;
}

void
conn_close (struct conn *c)
{
  if (c == NULL)
    return;
  if (c->thread_running) {
    c->stopping = true;
    wake (c);
    pthread_join (c->thread, NULL);
  }
  nbd_close (c->nbd);
  close (c->wake_fd);
  free (c);
}

int
conn_check (struct conn *c, const char *what)
{
  if (!c->dead)
    return 0;
  nbdkit_error ("nbd: %s: the connection to %s is dead",
                what, nbdplug_describe_server ());
  nbdkit_set_error (EIO);
  return -1;
}

/* The completion callback: runs in the connection's thread (or in the
 * submitting thread if libnbd fails the request while issuing it).
 * Returning 1 retires the command, so nobody has to ask libnbd about
 * its cookie later.
 */
static int
req_complete (void *user_data, int *error)
{
  struct req *r = user_data;

  r->err = *error;
  sem_post (&r->done);          /* the last touch: r may vanish now */
  return 1;
}

void
req_init (struct req *r)
{
  sem_init (&r->done, 0, 0);
  r->err = 0;
}

nbd_completion_callback
req_callback (struct req *r)
{
  return (nbd_completion_callback) { .callback = req_complete,
                                     .user_data = r };
}

/* Waits for the reply, giving up on the connection after timeout=. */
static void
wait_reply (struct conn *c, struct req *r, const char *what)
{
  struct timespec ts;

  if (cfg.timeout == 0) {
    while (sem_wait (&r->done) == -1 && errno == EINTR)
      ;
    return;
  }
  clock_gettime (CLOCK_MONOTONIC, &ts);
  ts.tv_sec += cfg.timeout;
  for (;;) {
    if (sem_clockwait (&r->done, CLOCK_MONOTONIC, &ts) == 0)
      return;
    if (errno == EINTR)
      continue;
    if (errno != ETIMEDOUT)
      break;
    /* The server has not answered in time.  Shutting the socket makes
     * libnbd see the end of the stream: it fails every request in
     * flight, this one included, so the wait below is short and the
     * request's memory is not touched after we return.
     */
    if (!c->dead)
      nbdkit_error ("nbd: %s: no reply within timeout=%u s; closing the "
                    "connection to %s", what, cfg.timeout,
                    nbdplug_describe_server ());
    c->dead = true;
    {
      int fd = nbd_aio_get_fd (c->nbd);
      if (fd >= 0)
        shutdown (fd, SHUT_RDWR);
    }
    wake (c);
    break;
  }
  while (sem_wait (&r->done) == -1 && errno == EINTR)
    ;
}

int
conn_wait (struct conn *c, struct req *r, int64_t cookie, const char *what)
{
  int err;

  if (cookie == -1) {
    /* Not issued, so the callback will never run. */
    err = nbd_get_errno ();
    if (nbd_aio_is_dead (c->nbd) || nbd_aio_is_closed (c->nbd)) {
      c->dead = true;
      wake (c);                 /* the thread may be polling a dead fd */
      nbdkit_error ("nbd: %s: the connection to %s is dead: %s", what,
                    nbdplug_describe_server (), nbd_get_error ());
      err = EIO;
    }
    else
      nbdkit_error ("nbd: %s: %s", what, nbd_get_error ());
    sem_destroy (&r->done);
    nbdkit_set_error (err ? err : EIO);
    return -1;
  }

  /* libnbd wrote what it could; if the socket was full, the thread has
   * to wait for it to drain, and it only polls for writing if told.
   */
  if ((nbd_aio_get_direction (c->nbd) & LIBNBD_AIO_DIRECTION_WRITE) ||
      nbd_aio_is_dead (c->nbd))
    wake (c);

  wait_reply (c, r, what);
  sem_destroy (&r->done);
  err = r->err;
  if (err == 0)
    return 0;

  if (is_connection_error (err) || c->dead ||
      nbd_aio_is_dead (c->nbd)) {
    c->dead = true;
    nbdkit_debug ("nbd: %s: connection lost (%s)", what, strerror (err));
    err = EIO;
  }
  else if (err == ENOTSUP || err == EOPNOTSUPP)
    /* Normal for a fast zero the server cannot do fast. */
    nbdkit_debug ("nbd: %s: the server says %s", what, strerror (err));
  else
    nbdkit_error ("nbd: %s: the server says %s", what, strerror (err));
  nbdkit_set_error (err);
  return -1;
}
