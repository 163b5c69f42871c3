/* blockkit: the fixed newstyle handshake (and oldstyle, on request).
 *
 * The option loop is strict about lengths: every option payload is read
 * whole before it is parsed, every length inside it is checked against
 * what was read, and a malformed option gets NBD_REP_ERR_INVALID without
 * ending the connection.  Only a client that breaks framing (bad magic,
 * a hopelessly large option, EOF) is disconnected.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "conn-io.h"
#include "minmax.h"
#include "nbd-protocol.h"
#include "tls.h"

/* More options than any real client sends before GO. */
#define MAX_OPTIONS 256

/* An oversized option up to this size is read and thrown away (so the
 * client hears ERR_TOO_BIG); anything bigger ends the connection.
 */
#define MAX_OPTION_DISCARD (16 * 1024 * 1024)

#define META_BASE_ALLOCATION "base:allocation"
#define META_BASE_ALLOCATION_ID 1

unsigned mask_handshake_option = ~0u;
bool no_meta_contexts_option;

int
send_option_reply (struct connection *conn, uint32_t option, uint32_t reply,
                   const void *payload, uint32_t len)
{
  struct nbd_fixed_new_option_reply hdr = {
    .magic = htobe64 (NBD_REP_MAGIC),
    .option = htobe32 (option),
    .reply = htobe32 (reply),
    .replylen = htobe32 (len),
  };
  struct iovec iov[2] = {
    { .iov_base = &hdr, .iov_len = sizeof hdr },
    { .iov_base = (void *) payload, .iov_len = len },
  };

  return conn_send_iov (conn, iov, len ? 2 : 1);
}

/* An error reply carrying a message for the human behind the client. */
int
send_option_error (struct connection *conn, uint32_t option, uint32_t reply,
                   const char *fmt, ...)
{
  char msg[256];
  va_list args;
  int len;

  va_start (args, fmt);
  len = vsnprintf (msg, sizeof msg, fmt, args);
  va_end (args);
  if (len < 0)
    len = 0;
  if ((size_t) len >= sizeof msg)
    len = sizeof msg - 1;
  debug ("option %" PRIu32 ": replying error 0x%" PRIx32 ": %s",
         option, reply, msg);
  return send_option_reply (conn, option, reply, msg, len);
}

static int
send_info_export (struct connection *conn, uint32_t option)
{
  struct {
    uint16_t type;
    uint64_t size;
    uint16_t eflags;
  } NBD_PACKED info = {
    .type = htobe16 (NBD_INFO_EXPORT),
    .size = htobe64 (conn->exportsize),
    .eflags = htobe16 (conn->eflags),
  };

  return send_option_reply (conn, option, NBD_REP_INFO, &info, sizeof info);
}

static int
send_info_string (struct connection *conn, uint32_t option, uint16_t type,
                  const char *str)
{
  size_t len = MIN (strlen (str), (size_t) NBDKIT_EXPORT_NAME_MAX);
  char buf[2 + NBDKIT_EXPORT_NAME_MAX];
  uint16_t t = htobe16 (type);

  memcpy (buf, &t, 2);
  memcpy (buf + 2, str, len);
  return send_option_reply (conn, option, NBD_REP_INFO, buf, 2 + len);
}

static int
send_info_block_size (struct connection *conn, uint32_t option)
{
  struct {
    uint16_t type;
    uint32_t minimum, preferred, maximum;
  } NBD_PACKED info = {
    .type = htobe16 (NBD_INFO_BLOCK_SIZE),
    .minimum = htobe32 (conn->min_block),
    .preferred = htobe32 (conn->pref_block),
    .maximum = htobe32 (conn->max_block),
  };

  return send_option_reply (conn, option, NBD_REP_INFO, &info, sizeof info);
}

/* ---- opening the export ---- */

int
protocol_compute_eflags (struct connection *conn)
{
  struct context *c = conn->top_context;
  uint16_t eflags = NBD_FLAG_HAS_FLAGS;
  int r;

  r = backend_can_write (c);
  if (r == -1)
    return -1;
  if (!r)
    conn->readonly = true;
  if (conn->readonly)
    eflags |= NBD_FLAG_READ_ONLY;

  if ((r = backend_can_flush (c)) == -1)
    return -1;
  if (r)
    eflags |= NBD_FLAG_SEND_FLUSH;

  if (!conn->readonly) {
    if ((r = backend_can_fua (c)) == -1)
      return -1;
    if (r != NBDKIT_FUA_NONE)
      eflags |= NBD_FLAG_SEND_FUA;
    if ((r = backend_can_trim (c)) == -1)
      return -1;
    if (r)
      eflags |= NBD_FLAG_SEND_TRIM;
    if ((r = backend_can_zero (c)) == -1)
      return -1;
    if (r != NBDKIT_ZERO_NONE) {
      eflags |= NBD_FLAG_SEND_WRITE_ZEROES;
      if ((r = backend_can_fast_zero (c)) == -1)
        return -1;
      if (r)
        eflags |= NBD_FLAG_SEND_FAST_ZERO;
    }
  }

  if ((r = backend_is_rotational (c)) == -1)
    return -1;
  if (r)
    eflags |= NBD_FLAG_ROTATIONAL;

  if ((r = backend_can_multi_conn (c)) == -1)
    return -1;
  if (r && !no_mc_option)
    eflags |= NBD_FLAG_CAN_MULTI_CONN;

  if ((r = backend_can_cache (c)) == -1)
    return -1;
  if (r != NBDKIT_CACHE_NONE)
    eflags |= NBD_FLAG_SEND_CACHE;

  if ((r = backend_can_extents (c)) == -1)
    return -1;

  /* DF only means something when reads can be split into chunks. */
  if (conn->structured_replies)
    eflags |= NBD_FLAG_SEND_DF;

  conn->eflags = eflags;
  return 0;
}

/* Closes the chain.  The caller holds the request lock. */
static void
close_export_locked (struct connection *conn)
{
  if (conn->top_context) {
    backend_finalize (conn->top_context);
    backend_close (conn->top_context);
    conn->top_context = NULL;
  }
}

void
protocol_close_export (struct connection *conn)
{
  lock_request ();
  close_export_locked (conn);
  unlock_request ();
}

/* The name the default export "" stands for.  The chain's
 * .default_export is asked once per connection and the answer kept, as
 * the established server does: a plugin may compute it expensively, and
 * LIST, INFO and GO must all agree on it.  Called with the request lock.
 */
static const char *
default_export_locked (struct connection *conn)
{
  const char *def;

  if (conn->default_export)
    return conn->default_export;
  def = top->default_export (top, conn->readonly, conn->tls != NULL);
  if (def == NULL)
    return NULL;
  conn->default_export = strdup (def);
  if (conn->default_export == NULL)
    nbdkit_error ("strdup: %m");
  return conn->default_export;
}

static int
open_export_locked (struct connection *conn, const char *exportname)
{
  struct context *c;
  uint32_t minimum, preferred, maximum;
  int64_t size;
  char *name;

  close_export_locked (conn);

  if (*exportname == '\0') {
    const char *def = default_export_locked (conn);
    if (def == NULL) {
      nbdkit_error ("no default export available");
      return -1;
    }
    exportname = def;
  }
  name = strdup (exportname);
  if (name == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  free (conn->exportname);
  conn->exportname = name;

  c = backend_open (top, conn->readonly, name, conn);
  if (c && backend_prepare (c) == -1) {
    backend_finalize (c);
    backend_close (c);
    c = NULL;
  }
  if (c == NULL)
    return -1;
  conn->top_context = c;

  size = backend_get_size (c);
  if (size == -1)
    goto err;
  if (size < 0) {
    nbdkit_error ("%s: get_size returned an invalid size %" PRIi64,
                  top->name, size);
    goto err;
  }
  conn->exportsize = size;

  if (backend_block_size (c, &minimum, &preferred, &maximum) == -1)
    goto err;
  if (minimum == 0) {
    minimum = 1;
    preferred = 4096;
    maximum = MAX_REQUEST_SIZE;
  }
  conn->min_block = minimum;
  conn->pref_block = preferred;
  conn->max_block = MIN (maximum, (uint32_t) MAX_REQUEST_SIZE);

  if (protocol_compute_eflags (conn) == -1)
    goto err;
  return 0;

 err:
  close_export_locked (conn);
  return -1;
}

/* Opens, prepares and sizes up the chain for EXPORTNAME ("" means the
 * default export).  On failure the chain is left closed.  Every call into
 * the chain here holds the request lock, so that under the
 * serialize_all_requests model the handshake's callbacks are serialized
 * with other clients' requests too.
 */
int
protocol_open_export (struct connection *conn, const char *exportname)
{
  int r;

  lock_request ();
  r = open_export_locked (conn, exportname);
  unlock_request ();
  return r;
}

/* ---- reading options ---- */

/* Reads and throws away LEN bytes of an option we will not process. */
static int
discard (struct connection *conn, uint32_t len)
{
  char buf[4096];

  while (len > 0) {
    uint32_t n = MIN (len, (uint32_t) sizeof buf);
    if (conn_recv_full (conn, buf, n) == -1)
      return -1;
    len -= n;
  }
  return 0;
}

/* Cursor over an option payload, with bounds checks on every read. */
struct cursor {
  const char *p;
  uint32_t left;
};

static bool
take (struct cursor *cur, void *out, uint32_t n)
{
  if (cur->left < n)
    return false;
  memcpy (out, cur->p, n);
  cur->p += n;
  cur->left -= n;
  return true;
}

static bool
take_u32 (struct cursor *cur, uint32_t *v)
{
  if (!take (cur, v, 4))
    return false;
  *v = be32toh (*v);
  return true;
}

static bool
take_u16 (struct cursor *cur, uint16_t *v)
{
  if (!take (cur, v, 2))
    return false;
  *v = be16toh (*v);
  return true;
}

/* Takes a 32-bit length and that many bytes; NUL-terminates into BUF. */
static bool
take_string (struct cursor *cur, char *buf, size_t bufsize)
{
  uint32_t len;

  if (!take_u32 (cur, &len) || len >= bufsize || len > cur->left)
    return false;
  take (cur, buf, len);
  buf[len] = '\0';
  return strlen (buf) == len;   /* no embedded NULs */
}

/* ---- individual options ---- */

static int
opt_list (struct connection *conn, uint32_t option, uint32_t optlen)
{
  struct nbdkit_exports *exports;
  size_t i, n;
  int r = 0;

  if (optlen != 0)
    return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                              "NBD_OPT_LIST takes no payload");

  exports = nbdkit_exports_new ();
  if (exports == NULL)
    return -1;
  lock_request ();
  r = top->list_exports (top, conn->readonly, conn->tls != NULL, exports);
  if (r == 0 && exports_uses_default (exports)) {
    const char *def = default_export_locked (conn);
    if (def && nbdkit_add_export (exports, def, NULL) == -1)
      r = -1;
  }
  unlock_request ();
  if (r == -1) {
    nbdkit_exports_free (exports);
    return send_option_error (conn, option, NBD_REP_ERR_PLATFORM,
                              "listing exports failed");
  }

  n = nbdkit_exports_count (exports);
  for (i = 0; i < n && r == 0; ++i) {
    const struct nbdkit_export e = nbdkit_get_export (exports, i);
    size_t namelen = strlen (e.name);
    size_t desclen = e.description ? strlen (e.description) : 0;
    size_t len = 4 + namelen + desclen;
    char *buf = malloc (len);
    uint32_t be;

    if (buf == NULL) {
      r = -1;
      break;
    }
    be = htobe32 (namelen);
    memcpy (buf, &be, 4);
    memcpy (buf + 4, e.name, namelen);
    if (desclen)
      memcpy (buf + 4 + namelen, e.description, desclen);
    r = send_option_reply (conn, option, NBD_REP_SERVER, buf, len);
    free (buf);
  }
  nbdkit_exports_free (exports);
  if (r == -1)
    return -1;
  return send_option_reply (conn, option, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_INFO and NBD_OPT_GO.  Returns 1 when GO succeeded. */
static int
opt_info_go (struct connection *conn, uint32_t option, const char *payload,
             uint32_t optlen)
{
  struct cursor cur = { payload, optlen };
  char name[NBDKIT_EXPORT_NAME_MAX + 1];
  uint16_t nrinfos, info = 0, i;
  bool want_name = false, want_description = false;
  const char *description;

  if (!take_string (&cur, name, sizeof name) || !take_u16 (&cur, &nrinfos) ||
      cur.left != (uint32_t) nrinfos * 2)
    return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                              "malformed NBD_OPT_INFO/GO payload");
  for (i = 0; i < nrinfos; ++i) {
    take_u16 (&cur, &info);
    if (info == NBD_INFO_NAME)
      want_name = true;
    else if (info == NBD_INFO_DESCRIPTION)
      want_description = true;
    /* EXPORT and BLOCK_SIZE are always sent; unknown ones ignored. */
  }

  if (protocol_open_export (conn, name) == -1)
    return send_option_error (conn, option, NBD_REP_ERR_UNKNOWN,
                              "export \"%s\" could not be opened "
                              "(see the server's log)", name);

  if (send_info_export (conn, option) == -1)
    return -1;
  if (want_name && send_info_string (conn, option, NBD_INFO_NAME,
                                     conn->exportname) == -1)
    return -1;
  if (want_description) {
    description = backend_export_description (conn->top_context);
    if (description &&
        send_info_string (conn, option, NBD_INFO_DESCRIPTION,
                          description) == -1)
      return -1;
  }
  if (send_info_block_size (conn, option) == -1)
    return -1;
  if (send_option_reply (conn, option, NBD_REP_ACK, NULL, 0) == -1)
    return -1;

  if (option == NBD_OPT_INFO) {
    protocol_close_export (conn);
    return 0;
  }
  return 1;
}

static int
opt_meta_context (struct connection *conn, uint32_t option,
                  const char *payload, uint32_t optlen)
{
  struct cursor cur = { payload, optlen };
  char name[NBDKIT_EXPORT_NAME_MAX + 1];
  char query[NBDKIT_EXPORT_NAME_MAX + 1];
  uint32_t nr, i;
  bool list = option == NBD_OPT_LIST_META_CONTEXT;
  bool want_base_allocation = false;
  struct {
    uint32_t id;
    char name[sizeof META_BASE_ALLOCATION - 1];
  } NBD_PACKED reply;

  if (!conn->structured_replies)
    return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                              "negotiate structured replies first");
  if (!take_string (&cur, name, sizeof name) || !take_u32 (&cur, &nr))
    return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                              "malformed meta context payload");
  /* Each query needs at least its 4-byte length: bounds nr cheaply. */
  if (nr > cur.left / 4)
    return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                              "meta context query count too large");
  for (i = 0; i < nr; ++i) {
    if (!take_string (&cur, query, sizeof query))
      return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                                "malformed meta context query");
    if (strcmp (query, META_BASE_ALLOCATION) == 0 ||
        (list && strcmp (query, "base:") == 0))
      want_base_allocation = true;
  }
  if (cur.left != 0)
    return send_option_error (conn, option, NBD_REP_ERR_INVALID,
                              "trailing bytes after meta context queries");
  if (list && nr == 0)
    want_base_allocation = true;
  /* --no-meta-contexts: every query is answered, with no context. */
  if (no_meta_contexts_option)
    want_base_allocation = false;
  if (!list)
    conn->meta_base_allocation = want_base_allocation;

  if (want_base_allocation) {
    reply.id = htobe32 (list ? 0 : META_BASE_ALLOCATION_ID);
    memcpy (reply.name, META_BASE_ALLOCATION, sizeof reply.name);
    if (send_option_reply (conn, option, NBD_REP_META_CONTEXT,
                           &reply, sizeof reply) == -1)
      return -1;
  }
  return send_option_reply (conn, option, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME: no error reply is possible, so failure ends the
 * connection.  Returns 1 when transmission can start.
 */
static int
opt_export_name (struct connection *conn, const char *payload,
                 uint32_t optlen)
{
  char name[NBDKIT_EXPORT_NAME_MAX + 1];
  struct nbd_new_handshake_finish finish = { 0 };

  if (optlen > NBDKIT_EXPORT_NAME_MAX) {
    nbdkit_error ("NBD_OPT_EXPORT_NAME: export name too long");
    return -1;
  }
  memcpy (name, payload, optlen);
  name[optlen] = '\0';
  if (strlen (name) != optlen) {
    nbdkit_error ("NBD_OPT_EXPORT_NAME: export name contains NUL");
    return -1;
  }
  if (protocol_open_export (conn, name) == -1)
    return -1;

  finish.exportsize = htobe64 (conn->exportsize);
  finish.eflags = htobe16 (conn->eflags);
  if (conn_send_full (conn, &finish,
                      conn->no_zeroes ? 10 : sizeof finish) == -1)
    return -1;
  return 1;
}

/* ---- the option loop ---- */

static int
negotiate_options (struct connection *conn)
{
  unsigned nr_options;
  char *payload = NULL;
  int r = -1;

  payload = malloc (MAX_OPTION_LENGTH);
  if (payload == NULL)
    return -1;

  for (nr_options = 0; nr_options < MAX_OPTIONS; ++nr_options) {
    struct nbd_new_option opt;
    uint32_t option, optlen;

    if (conn_recv_full (conn, &opt, sizeof opt) == -1) {
      debug ("client closed the connection during the handshake");
      goto out;
    }
    if (be64toh (opt.version) != NBD_NEW_VERSION) {
      nbdkit_error ("client sent an option with a bad magic: "
                    "disconnecting");
      goto out;
    }
    option = be32toh (opt.option);
    optlen = be32toh (opt.optlen);
    debug ("option %" PRIu32 " length %" PRIu32, option, optlen);

    if (optlen > MAX_OPTION_LENGTH) {
      if (option == NBD_OPT_EXPORT_NAME || optlen > MAX_OPTION_DISCARD ||
          discard (conn, optlen) == -1) {
        nbdkit_error ("client sent an oversized option (%" PRIu32
                      " bytes): disconnecting", optlen);
        goto out;
      }
      if (send_option_error (conn, option, NBD_REP_ERR_TOO_BIG,
                             "option payload too large") == -1)
        goto out;
      continue;
    }
    if (conn_recv_full (conn, payload, optlen) == -1)
      goto out;

    /* A non-fixed newstyle client can only say EXPORT_NAME. */
    if (!conn->fixed_newstyle && option != NBD_OPT_EXPORT_NAME) {
      nbdkit_error ("client is not fixed newstyle and sent option %"
                    PRIu32 ": disconnecting", option);
      goto out;
    }

    if (tls_option_refused (conn, option)) {
      if (option == NBD_OPT_EXPORT_NAME) {
        nbdkit_error ("client sent NBD_OPT_EXPORT_NAME before TLS, which "
                      "is required (--tls=require): disconnecting");
        goto out;
      }
      if (send_option_error (conn, option, NBD_REP_ERR_TLS_REQD,
                             "TLS is required: send NBD_OPT_STARTTLS "
                             "first") == -1)
        goto out;
      continue;
    }

    switch (option) {
    case NBD_OPT_STARTTLS:
      if (opt_starttls (conn, optlen) == -1)
        goto out;
      break;

    case NBD_OPT_EXPORT_NAME:
      r = opt_export_name (conn, payload, optlen);
      if (r == 1)
        r = 0;
      goto out;

    case NBD_OPT_ABORT:
      send_option_reply (conn, option, NBD_REP_ACK, NULL, 0);
      debug ("client sent NBD_OPT_ABORT");
      goto out;

    case NBD_OPT_LIST:
      if (opt_list (conn, option, optlen) == -1)
        goto out;
      break;

    case NBD_OPT_INFO:
    case NBD_OPT_GO: {
      int ret = opt_info_go (conn, option, payload, optlen);
      if (ret == -1)
        goto out;
      if (ret == 1) {
        r = 0;
        goto out;
      }
      break;
    }

    case NBD_OPT_STRUCTURED_REPLY:
      if (optlen != 0)
        r = send_option_error (conn, option, NBD_REP_ERR_INVALID,
                               "NBD_OPT_STRUCTURED_REPLY takes no payload");
      else if (no_sr_option)
        r = send_option_error (conn, option, NBD_REP_ERR_UNSUP,
                               "structured replies are disabled (--no-sr)");
      else if (conn->structured_replies)
        r = send_option_error (conn, option, NBD_REP_ERR_INVALID,
                               "structured replies already negotiated");
      else {
        conn->structured_replies = true;
        r = send_option_reply (conn, option, NBD_REP_ACK, NULL, 0);
      }
      if (r == -1)
        goto out;
      r = -1;
      break;

    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
      if (opt_meta_context (conn, option, payload, optlen) == -1)
        goto out;
      break;

    default:
      if (send_option_error (conn, option, NBD_REP_ERR_UNSUP,
                             "option %" PRIu32 " is not supported",
                             option) == -1)
        goto out;
      break;
    }
  }
  nbdkit_error ("client sent more than %d options: disconnecting",
                MAX_OPTIONS);

 out:
  free (payload);
  return r;
}

static int
oldstyle_handshake (struct connection *conn)
{
  struct nbd_old_handshake hs = { 0 };

  if (protocol_open_export (conn, exportname_option ? exportname_option : "")
      == -1)
    return -1;
  hs.nbdmagic = htobe64 (NBD_MAGIC);
  hs.version = htobe64 (NBD_OLD_VERSION);
  hs.exportsize = htobe64 (conn->exportsize);
  hs.gflags = 0;
  hs.eflags = htobe16 (conn->eflags);
  return conn_send_full (conn, &hs, sizeof hs);
}

int
protocol_handshake (struct connection *conn)
{
  /* --mask-handshake takes global flags away (to test clients). */
  uint16_t gflags = (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) &
    mask_handshake_option;
  struct nbd_new_handshake hs = {
    .nbdmagic = htobe64 (NBD_MAGIC),
    .version = htobe64 (NBD_NEW_VERSION),
    .gflags = htobe16 (gflags),
  };
  uint32_t cflags;

  if (oldstyle_option)
    return oldstyle_handshake (conn); /* main.c refuses it with --tls */

  if (conn_send_full (conn, &hs, sizeof hs) == -1)
    return -1;
  if (conn_recv_full (conn, &cflags, sizeof cflags) == -1)
    return -1;
  cflags = be32toh (cflags);
  /* The client flags share the global flags' bits: it may only set
   * what was offered.
   */
  if (cflags & ~(uint32_t) gflags) {
    nbdkit_error ("client sent handshake flags 0x%" PRIx32 " that were "
                  "not offered (0x%" PRIx16 "): disconnecting",
                  cflags, gflags);
    return -1;
  }
  conn->fixed_newstyle = cflags & NBD_FLAG_C_FIXED_NEWSTYLE;
  conn->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

  return negotiate_options (conn);
}
