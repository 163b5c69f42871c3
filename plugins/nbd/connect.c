/* blockkit: making a connection of the nbd plugin to the other server.
 *
 * A new libnbd handle gets the plugin's settings (export, TLS, the
 * base:allocation context), connects to whichever address was
 * configured and goes through the handshake, all with libnbd's
 * non-blocking calls driven by a poll loop here, so that a server that
 * accepts and then never answers costs connect-timeout= seconds, not a
 * hung client.  retry= repeats a failed attempt.  With dynamic-export
 * the handshake stops in libnbd's option mode, so that the client's
 * export name can be asked for (or the export list fetched for an
 * NBD_OPT_LIST of our own client).  conn.c runs the handle afterwards.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <poll.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-plugin.h"

int64_t
nbdplug_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Settings that are the same for every kind of address.  OPT_MODE
 * stops the handshake before NBD_OPT_GO.
 */
static int
set_up_handle (struct nbd_handle *h, unsigned index, bool opt_mode)
{
  char name[32];

  snprintf (name, sizeof name, "nbd-plugin-%u", index);
  if (nbd_set_handle_name (h, name) == -1 ||
      nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1 ||
      nbd_set_full_info (h, true) == -1 ||
      nbd_set_request_block_size (h, true) == -1)
    return -1;
  /* The server's buffer is overwritten by the reply or the request
   * fails: zeroing it first would only cost time.
   */
  if (nbd_set_pread_initialize (h, false) == -1)
    return -1;
  if (cfg.uri == NULL && nbd_set_export_name (h, cfg.export) == -1)
    return -1;
  if (opt_mode && nbd_set_opt_mode (h, true) == -1)
    return -1;

  if (cfg.tls != -1 && nbd_set_tls (h, cfg.tls) == -1)
    return -1;
  if (cfg.tls_certificates &&
      nbd_set_tls_certificates (h, cfg.tls_certificates) == -1)
    return -1;
  if (cfg.tls_verify != -1 &&
      nbd_set_tls_verify_peer (h, cfg.tls_verify) == -1)
    return -1;
  if (cfg.tls_username &&
      nbd_set_tls_username (h, cfg.tls_username) == -1)
    return -1;
  if (cfg.tls_psk && nbd_set_tls_psk_file (h, cfg.tls_psk) == -1)
    return -1;
  return 0;
}

/* Starts the connect for whichever address was configured.  Returns
 * -2 for a failure that retrying cannot mend.
 */
static int
start_connect (struct nbd_handle *h)
{
  static bool socket_fd_used;

  if (cfg.uri)
    return nbd_aio_connect_uri (h, cfg.uri);
  if (cfg.socket)
    return nbd_aio_connect_unix (h, cfg.socket);
  if (cfg.hostname)
    return nbd_aio_connect_tcp (h, cfg.hostname, cfg.port);
  if (cfg.have_vsock) {
    uint32_t port;
    if (nbdkit_parse_uint32_t ("port", cfg.port, &port) == -1)
      return -2;
    return nbd_aio_connect_vsock (h, cfg.vsock_cid, port);
  }
  if (cfg.socket_fd >= 0) {
    /* libnbd owns the socket from here on: it cannot be connected a
     * second time, so a lost connection cannot be made again.
     */
    if (socket_fd_used) {
      nbdkit_error ("nbd: socket-fd=%d was already used and lost; it "
                    "cannot be reconnected", cfg.socket_fd);
      return -2;
    }
    socket_fd_used = true;
    return nbd_aio_connect_socket (h, cfg.socket_fd);
  }
  return nbd_aio_connect_command (h, cfg.command);
}

/* An option (GO, LIST) in flight: its completion callback says when. */
struct opt_wait {
  bool done;
  int err;
};

static int
opt_complete (void *user_data, int *error)
{
  struct opt_wait *w = user_data;

  w->done = true;
  w->err = *error;
  return 1;
}

/* One export of the server's list, for our client's NBD_OPT_LIST. */
static int
add_listed (void *user_data, const char *name, const char *description)
{
  nbdkit_add_export (user_data, name, description);
  return 0;
}

/* What drive() waits for. */
enum until { UNTIL_HANDSHAKE, UNTIL_OPTION };

static bool
reached (struct nbd_handle *h, enum until until, const struct opt_wait *w)
{
  if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h))
    return true;
  if (until == UNTIL_OPTION)
    return w->done;
  /* The handshake is over when the handle is ready, or (option mode)
   * waiting for us to send an option.
   */
  return !nbd_aio_is_connecting (h) &&
    (nbd_aio_is_ready (h) || nbd_aio_is_negotiating (h));
}

/* Runs libnbd's state machine until UNTIL is reached or the deadline
 * (DEADLINE ms, 0 for none) passes.  Returns 0, or -1 with the reason
 * in *MSG (a copy).
 */
static int
drive (struct nbd_handle *h, enum until until, const struct opt_wait *w,
       int64_t deadline, char **msg)
{
  while (!reached (h, until, w)) {
    struct pollfd pfd;
    unsigned dir = nbd_aio_get_direction (h);
    int timeout = -1, r;

    if (deadline) {
      int64_t left = deadline - nbdplug_now_ms ();
      if (left <= 0) {
        if (asprintf (msg, "no answer within connect-timeout=%u s",
                      cfg.connect_timeout) == -1)
          *msg = NULL;
        return -1;
      }
      timeout = (int) (left < 1000 ? left : 1000);
    }
    pfd.fd = nbd_aio_get_fd (h);
    pfd.events = 0;
    if (dir & LIBNBD_AIO_DIRECTION_READ)
      pfd.events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
      pfd.events |= POLLOUT;
    pfd.revents = 0;
    r = poll (&pfd, 1, timeout);
    if (r == -1 && errno != EINTR) {
      if (asprintf (msg, "poll: %s", strerror (errno)) == -1)
        *msg = NULL;
      return -1;
    }
    r = 0;
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
      r = nbd_aio_notify_read (h);
    else if (pfd.revents & POLLOUT)
      r = nbd_aio_notify_write (h);
    if (r == -1) {
      *msg = strdup (nbd_get_error ());
      return -1;
    }
  }
  if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h)) {
    *msg = strdup (nbd_get_error () ? nbd_get_error ()
                   : "the server ended the handshake");
    return -1;
  }
  return 0;
}

/* A new handle through the handshake: ready for requests on EXPORT
 * (NULL: the configured one), or with LIST in option mode having
 * listed the server's exports into LIST.
 */
static struct nbd_handle *
try_connect (unsigned index, const char *export,
             struct nbdkit_exports *list, char **msg, bool *fatal)
{
  struct nbd_handle *h = nbd_create ();
  int64_t deadline = cfg.connect_timeout ?
    nbdplug_now_ms () + (int64_t) cfg.connect_timeout * 1000 : 0;
  struct opt_wait w = { false, 0 };
  nbd_completion_callback cb = { .callback = opt_complete, .user_data = &w };
  int r;

  *msg = NULL;
  *fatal = false;
  if (h == NULL) {
    *msg = strdup (nbd_get_error ());
    *fatal = true;
    return NULL;
  }
  if (set_up_handle (h, index, export != NULL || list != NULL) == -1) {
    *msg = strdup (nbd_get_error ());
    *fatal = true;              /* a setting is wrong: retrying won't help */
    goto fail;
  }
  r = start_connect (h);
  if (r == -2) {
    *fatal = true;
    goto fail;
  }
  if (r == -1 || drive (h, UNTIL_HANDSHAKE, &w, deadline, msg) == -1)
    goto fail;

  if (list) {
    nbd_list_callback lcb = { .callback = add_listed, .user_data = list };
    if (nbd_aio_opt_list (h, lcb, cb) == -1 ||
        drive (h, UNTIL_OPTION, &w, deadline, msg) == -1)
      goto fail;
    if (w.err) {
      if (asprintf (msg, "the server refused to list its exports: %s",
                    strerror (w.err)) == -1)
        *msg = NULL;
      goto fail;
    }
    nbd_aio_opt_abort (h);      /* polite; the handle is closed anyway */
    return h;
  }
  if (export) {
    if (nbd_set_export_name (h, export) == -1 ||
        nbd_aio_opt_go (h, cb) == -1 ||
        drive (h, UNTIL_OPTION, &w, deadline, msg) == -1)
      goto fail;
    if (w.err || !nbd_aio_is_ready (h)) {
      if (asprintf (msg, "export \"%s\": %s", export,
                    nbd_get_error () ? nbd_get_error ()
                    : strerror (w.err ? w.err : EINVAL)) == -1)
        *msg = NULL;
      *fatal = true;            /* no such export: retrying won't help */
      goto fail;
    }
  }
  return h;

 fail:
  if (*msg == NULL && nbd_get_error ())
    *msg = strdup (nbd_get_error ());
  nbd_close (h);
  return NULL;
}

struct nbd_handle *
nbdplug_connect (unsigned index, const char *export,
                 struct nbdkit_exports *list)
{
  struct nbd_handle *h = NULL;
  unsigned attempt;
  char *msg = NULL;
  bool fatal = false;
  const char *hint;

  for (attempt = 0; attempt <= cfg.retry; ++attempt) {
    if (attempt > 0) {
      nbdkit_debug ("nbd: connect to %s failed (%s), retry %u of %u",
                    nbdplug_describe_server (), msg ? msg : "?",
                    attempt, cfg.retry);
      /* nbdkit_nanosleep returns early when the server shuts down. */
      if (nbdkit_nanosleep (1, 0) == -1)
        break;
    }
    free (msg);
    h = try_connect (index, export, list, &msg, &fatal);
    if (h || fatal)
      break;
  }
  if (h) {
    free (msg);
    return h;
  }

  /* GnuTLS's words for a failed check are terse: say what to look at. */
  hint = msg && strstr (msg, "certificate verification") ?
    " (the server's certificate is not signed by the CA in "
    "tls-certificates=, or not for this host name)" : "";
  nbdkit_error ("nbd: cannot connect to %s: %s%s",
                nbdplug_describe_server (),
                msg ? msg : "unknown error", hint);
  free (msg);
  nbdkit_set_error (EIO);
  return NULL;
}
