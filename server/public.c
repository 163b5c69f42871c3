/* blockkit: the nbdkit_* helpers that are about the current connection
 * or the running server.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

const char *
nbdkit_export_name (void)
{
  struct connection *conn = threadlocal_get_conn ();

  if (conn == NULL) {
    nbdkit_error ("no connection in this thread");
    return NULL;
  }
  return conn->exportname ? conn->exportname : "";
}

int
nbdkit_is_tls (void)
{
  struct connection *conn = threadlocal_get_conn ();

  if (conn == NULL) {
    nbdkit_error ("no connection in this thread");
    return -1;
  }
  return conn->tls != NULL;
}

int
nbdkit_peer_name (struct sockaddr *addr, socklen_t *addrlen)
{
  struct connection *conn = threadlocal_get_conn ();

  if (conn == NULL) {
    nbdkit_error ("no connection in this thread");
    return -1;
  }
  if (conn->peer_len == 0) {
    nbdkit_error ("peer name: the client is not on a socket");
    return -1;
  }
  if (*addrlen < conn->peer_len) {
    nbdkit_error ("peer name: buffer too small");
    return -1;
  }
  memcpy (addr, &conn->peer, conn->peer_len);
  *addrlen = conn->peer_len;
  return 0;
}

/* Credentials of a Unix-domain peer (SO_PEERCRED). */
static int
get_peercred (struct ucred *cred)
{
  struct connection *conn = threadlocal_get_conn ();
  socklen_t len = sizeof *cred;

  if (conn == NULL) {
    nbdkit_error ("no connection in this thread");
    return -1;
  }
  if (!conn->sockin_is_socket ||
      getsockopt (conn->sockin, SOL_SOCKET, SO_PEERCRED, cred, &len) == -1 ||
      (conn->peer_len > 0 && conn->peer.ss_family != AF_UNIX)) {
    nbdkit_error ("peer credentials are only known for Unix domain "
                  "socket clients");
    return -1;
  }
  return 0;
}

int64_t
nbdkit_peer_pid (void)
{
  struct ucred cred;

  return get_peercred (&cred) == -1 ? -1 : cred.pid;
}

int64_t
nbdkit_peer_uid (void)
{
  struct ucred cred;

  return get_peercred (&cred) == -1 ? -1 : (int64_t) cred.uid;
}

int64_t
nbdkit_peer_gid (void)
{
  struct ucred cred;

  return get_peercred (&cred) == -1 ? -1 : (int64_t) cred.gid;
}

/* Sleeps, waking early if the server quits or this client goes away. */
int
nbdkit_nanosleep (unsigned sec, unsigned nsec)
{
  struct connection *conn = threadlocal_get_conn ();
  struct timespec now, end;
  struct pollfd fds[2];
  int nfds = 1;

  if (nsec >= 1000000000) {
    sec += nsec / 1000000000;
    nsec %= 1000000000;
  }
  clock_gettime (CLOCK_MONOTONIC, &end);
  end.tv_sec += sec;
  end.tv_nsec += nsec;
  if (end.tv_nsec >= 1000000000) {
    end.tv_sec++;
    end.tv_nsec -= 1000000000;
  }

  fds[0].fd = quit_fd;
  fds[0].events = POLLIN;
  if (conn && conn->sockin_is_socket) {
    fds[1].fd = conn->sockin;
    fds[1].events = POLLRDHUP;
    nfds = 2;
  }

  for (;;) {
    int64_t ms;
    int r;

    if (quit || (conn && conn->disconnect_requested)) {
      nbdkit_error ("aborting sleep: shutting down");
      errno = ESHUTDOWN;
      return -1;
    }
    clock_gettime (CLOCK_MONOTONIC, &now);
    ms = (int64_t) (end.tv_sec - now.tv_sec) * 1000 +
      (end.tv_nsec - now.tv_nsec) / 1000000;
    if (ms <= 0 ||
        (ms == 0 && end.tv_nsec <= now.tv_nsec))
      return 0;
    fds[0].revents = fds[1].revents = 0;
    r = poll (fds, nfds, ms > 1000000 ? 1000000 : (int) ms + 1);
    if (r == -1 && errno != EINTR)
      return -1;
    if (r > 0 && nfds == 2 && (fds[1].revents & (POLLRDHUP | POLLHUP))) {
      nbdkit_error ("aborting sleep: client disconnected");
      errno = ESHUTDOWN;
      return -1;
    }
  }
}

void
nbdkit_disconnect (int force)
{
  struct connection *conn = threadlocal_get_conn ();

  if (conn == NULL) {
    debug ("nbdkit_disconnect: no connection in this thread");
    return;
  }
  conn->disconnect_requested = true;
  /* Wake the reader; with force, stop replies too. */
  if (conn->sockin_is_socket)
    shutdown (conn->sockin, force ? SHUT_RDWR : SHUT_RD);
}

void (*size_changed_hook) (void);

void
nbdkit_size_changed (void)
{
  if (size_changed_hook)
    size_changed_hook ();
  else
    debug ("nbdkit_size_changed: clients see the new size when they "
           "connect");
}

const struct nbdkit_direct_ops *direct_ops;

void
nbdkit_set_direct_ops (const struct nbdkit_direct_ops *ops)
{
  direct_ops = ops;
}

/* Stdin and stdout belong to the client with -s, and to nobody
 * otherwise.
 */
bool stdio_in_use;

int
nbdkit_stdio_safe (void)
{
  return !stdio_in_use;
}
