/* blockkit: the life of one client connection.
 *
 * The top of the server's layers: a connection is created here, bound
 * to its transport (conn-io.c), taken through the protocol phases
 * (handshake.c, then transmission.c) and freed.  The same life, minus
 * the handshake, serves the kernel's end of an nbdattach socketpair
 * (handle_kernel_connection) and probes an export (probe_export).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "conn-io.h"
#include "nbd-protocol.h"

bool keepalive_option;

void
conn_free_interns (struct connection *conn)
{
  size_t i;

  for (i = 0; i < conn->n_interns; ++i)
    free (conn->interns[i]);
  free (conn->interns);
  conn->interns = NULL;
  conn->n_interns = conn->interns_cap = 0;
}

static struct connection *
new_connection (int sockin, int sockout)
{
  struct connection *conn = calloc (1, sizeof *conn);

  if (conn == NULL) {
    perror ("calloc");
    return NULL;
  }
  conn->running = true;
  conn->readonly = readonly_option;
  sem_init (&conn->send_sem, 0, 1);
  pthread_mutex_init (&conn->queue_lock, NULL);
  pthread_cond_init (&conn->queue_cond, NULL);
  pthread_cond_init (&conn->space_cond, NULL);
  conn_io_attach (conn, sockin, sockout);
  return conn;
}

static void
free_connection (struct connection *conn)
{
  conn_io_detach (conn);
  lend_close (conn);
  if (conn->top_context) {
    lock_request ();
    if (backend_finalize (conn->top_context) == -1)
      debug ("finalize failed");
    backend_close (conn->top_context);
    unlock_request ();
    conn->top_context = NULL;
  }
  while (conn->free_requests) {
    struct request *req = conn->free_requests;
    conn->free_requests = req->next;
    free (req->buf);
    free (req);
  }
  free (conn->rbuf.data);
  free (conn->exportname);
  free (conn->default_export);
  conn_free_interns (conn);
  sem_destroy (&conn->send_sem);
  pthread_mutex_destroy (&conn->queue_lock);
  pthread_cond_destroy (&conn->queue_cond);
  pthread_cond_destroy (&conn->space_cond);
  free (conn);
}

/* Serves one client from handshake to disconnect.  Closes the fds. */
void
handle_single_connection (int sockin, int sockout)
{
  struct connection *conn;

  lock_connection ();

  conn = new_connection (sockin, sockout);
  if (conn == NULL)
    goto out_close;
  threadlocal_set_conn (conn);
  /* The whole handshake must be done by the deadline, however slowly
   * the client trickles its bytes in.
   */
  conn_set_deadline (conn, timeout_option);
  if (top->preconnect (top, readonly_option) == 0 &&
      protocol_handshake (conn) == 0) {
    conn_set_deadline (conn, 0);
    protocol_transmission (conn);
  }
  free_connection (conn);
  threadlocal_set_conn (NULL);

 out_close:
  close (sockin);
  if (sockout != sockin)
    close (sockout);
  unlock_connection ();
}

/* Opens the export once, outside any client, to learn what a client
 * would be told: nbdattach must give the kernel size and flags itself.
 */
int
probe_export (const char *exportname, struct export_info *info)
{
  struct connection *conn = new_connection (-1, -1);
  int r;

  if (conn == NULL)
    return -1;
  threadlocal_set_conn (conn);
  r = protocol_open_export (conn, exportname);
  if (r == 0) {
    info->size = conn->exportsize;
    info->eflags = conn->eflags;
    info->min_block = conn->min_block;
    info->pref_block = conn->pref_block;
    info->max_block = conn->max_block;
  }
  free_connection (conn);
  threadlocal_set_conn (NULL);
  return r;
}

/* ---- pausing kernel connections (nbdattach --upgrade, --resize) ----
 *
 * A paused reader stops between two requests with nothing of the next
 * one read (transmission.c reads no further than the request in hand
 * while kernel_pause_requested is set), answers what is in flight, and
 * leaves the socket open: the kernel sees a slow server, never a dead
 * one, and whoever serves the socket next (the same process with a
 * reopened chain, or a new nbdattach binary that inherited it) starts
 * at a request header.  A reader blocked waiting for the next request
 * polls the pipe below beside its socket, so that a pause wakes it.
 */
volatile bool kernel_pause_requested;
static int pause_pipe[2] = { -1, -1 };
static pthread_once_t pause_pipe_once = PTHREAD_ONCE_INIT;

static void
make_pause_pipe (void)
{
  if (pipe2 (pause_pipe, O_CLOEXEC) == -1)
    nbdkit_error ("pipe2: %m (connections cannot be paused)");
}

void
pause_kernel_connections (void)
{
  char c = 0;

  pthread_once (&pause_pipe_once, make_pause_pipe);
  kernel_pause_requested = true;
  if (write (pause_pipe[1], &c, 1) != 1)
    nbdkit_error ("write: %m");
}

void
resume_kernel_connections (void)
{
  char c;

  if (!kernel_pause_requested)
    return;
  kernel_pause_requested = false;
  if (pause_pipe[0] >= 0 && read (pause_pipe[0], &c, 1) != 1)
    nbdkit_error ("read: %m");
}

/* Called by a pausable connection's reader before it blocks for the
 * next request: false if it should pause instead.
 */
bool
conn_await_request (struct connection *conn)
{
  struct pollfd fds[2] = {
    { .fd = conn->sockin, .events = POLLIN },
    { .fd = pause_pipe[0], .events = POLLIN },
  };

  if (pause_pipe[0] == -1)      /* pipe2 failed */
    return true;
  for (;;) {
    if (kernel_pause_requested)
      return false;
    if (poll (fds, 2, -1) >= 0 || errno != EINTR)
      return !kernel_pause_requested;
  }
}

/* The kernel sends no flush of its own before it lets a device go (or,
 * for a pause, before another process serves it).
 */
static int
flush_after_disconnect (struct connection *conn)
{
  int r = 0, err;

  if ((conn->eflags & NBD_FLAG_SEND_FLUSH) && !conn->readonly) {
    lock_request ();
    r = backend_flush (conn->top_context, 0, &err);
    unlock_request ();
    if (r == -1)
      nbdkit_error ("flush after disconnect: %s", strerror (err));
  }
  return r;
}

/* Serves one end of a socketpair whose other end the kernel's nbd driver
 * holds.  The kernel does no handshake: the export is opened here and
 * the first bytes on the socket are requests.  Simple replies only, no
 * meta contexts.  When the kernel disconnects (NBD_CMD_DISC or EOF), the
 * chain is flushed, since the kernel sends no flush of its own first.
 * Returns 0 or -1 with FD closed; or, after pause_kernel_connections,
 * 1 (2 if the flush failed) with the chain flushed, this connection's
 * contexts closed and FD left open.
 */
int
handle_kernel_connection (int fd, const char *exportname)
{
  struct connection *conn;
  bool paused = false;
  int r = -1;

  conn = new_connection (fd, fd);
  if (conn == NULL)
    goto out_close;
  threadlocal_set_conn (conn);
  pthread_once (&pause_pipe_once, make_pause_pipe);
  conn->pausable = true;
  if (protocol_open_export (conn, exportname) == 0) {
    protocol_transmission (conn);
    paused = conn->paused;
    r = flush_after_disconnect (conn);
  }
  free_connection (conn);
  threadlocal_set_conn (NULL);
  if (paused)
    return r == -1 ? 2 : 1;

 out_close:
  close (fd);
  return r;
}

/* For a kernel transport that is not a socket (nbdattach's ublk
 * queues): a connection without a socket, with the export open on it,
 * made the calling thread's connection.  The caller runs requests on it
 * with run_local_request.  NULL on failure (the chain said why).
 */
struct connection *
open_local_connection (const char *exportname)
{
  struct connection *conn = new_connection (-1, -1);

  if (conn == NULL)
    return NULL;
  threadlocal_set_conn (conn);
  if (protocol_open_export (conn, exportname) == -1) {
    free_connection (conn);
    threadlocal_set_conn (NULL);
    return NULL;
  }
  return conn;
}

/* Flushes the chain (as after a kernel disconnect) and closes it.
 * Returns the flush's result.
 */
int
close_local_connection (struct connection *conn)
{
  int r = flush_after_disconnect (conn);

  free_connection (conn);
  threadlocal_set_conn (NULL);
  return r;
}
