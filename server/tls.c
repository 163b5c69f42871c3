/* blockkit: TLS for client connections (GnuTLS).
 *
 * The server loads its credentials once at startup (tls_load): X.509
 * certificates from a directory laid out as the established server has
 * it (ca-cert.pem, server-cert.pem, server-key.pem, optional
 * ca-crl.pem), or pre-shared keys from a file in psktool's
 * "username:hexkey" format.  A client upgrades its connection with
 * NBD_OPT_STARTTLS (handshake-tls.c), which calls tls_start here; from
 * then on every byte of that connection goes through tls_recv and
 * tls_send_iov instead of the socket, which conn-io.c arranges.
 *
 * GnuTLS lets one thread receive while another sends on the same
 * session, which is exactly the reader/worker split of transmission.c;
 * sends are already serialised by the connection's send lock.
 *
 * Handshake failures are logged with GnuTLS's own reason and end only
 * that connection.  The handshake obeys the connection's deadline
 * (--timeout), so a client that stalls mid-handshake is dropped.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "internal.h"
#include "tls.h"

int tls_mode;                   /* --tls: TLS_OFF, TLS_ON, TLS_REQUIRE */
const char *tls_certificates_dir;  /* --tls-certificates */
const char *tls_psk_file;       /* --tls-psk */
bool tls_verify_peer;           /* --tls-verify-peer */

static gnutls_certificate_credentials_t x509_creds;
static gnutls_psk_server_credentials_t psk_creds;
static char *loaded_dir;        /* the directory the certificates came from */

/* How many bytes of replies are corked before they are flushed (see
 * tls_send_iov).
 */
#define CORK_FLUSH (256 * 1024)

/* Payloads at least this large are sent without the cork. */
#define DIRECT_MIN (128 * 1024)

static bool
is_file (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static char *
path_in (const char *dir, const char *file)
{
  char *p;

  if (asprintf (&p, "%s/%s", dir, file) == -1) {
    perror ("asprintf");
    exit (EXIT_FAILURE);
  }
  return p;
}

/* Without --tls-certificates=DIR: the user's own directory first (for a
 * server run by a user), then the system's.
 */
static const char *
default_certificates_dir (void)
{
  static char *home_dir;
  const char *home = getenv ("HOME");

  if (home && getuid () != 0) {
    char *cert;
    bool found;

    free (home_dir);
    home_dir = path_in (home, ".pki/blockkit");
    cert = path_in (home_dir, "server-cert.pem");
    found = is_file (cert);
    free (cert);
    if (found)
      return home_dir;
  }
  return SYSCONFDIR "/pki/blockkit";
}

static void __attribute__ ((noreturn))
tls_load_failed (const char *what, const char *path, int r)
{
  fprintf (stderr, "%s: TLS: %s %s: %s\n", program_name, what, path,
           r ? gnutls_strerror (r) : strerror (errno));
  exit (EXIT_FAILURE);
}

static void
load_x509 (void)
{
  const char *dir = tls_certificates_dir ? tls_certificates_dir
    : default_certificates_dir ();
  char *ca = path_in (dir, "ca-cert.pem");
  char *cert = path_in (dir, "server-cert.pem");
  char *key = path_in (dir, "server-key.pem");
  char *crl = path_in (dir, "ca-crl.pem");
  int r;

  if (!is_file (cert) || !is_file (key)) {
    fprintf (stderr, "%s: TLS: no server certificate in %s (it needs "
             "server-cert.pem and server-key.pem, and ca-cert.pem for "
             "--tls-verify-peer; see blockkit(1), TLS)\n", program_name, dir);
    exit (EXIT_FAILURE);
  }
  r = gnutls_certificate_allocate_credentials (&x509_creds);
  if (r < 0)
    tls_load_failed ("allocating credentials for", dir, r);
  r = gnutls_certificate_set_x509_key_file (x509_creds, cert, key,
                                            GNUTLS_X509_FMT_PEM);
  if (r < 0)
    tls_load_failed ("loading the server certificate and key", cert, r);
  if (is_file (ca)) {
    r = gnutls_certificate_set_x509_trust_file (x509_creds, ca,
                                                GNUTLS_X509_FMT_PEM);
    if (r < 0)
      tls_load_failed ("loading the CA certificate", ca, r);
  }
  else if (tls_verify_peer) {
    fprintf (stderr, "%s: TLS: --tls-verify-peer needs the CA certificate "
             "%s\n", program_name, ca);
    exit (EXIT_FAILURE);
  }
  if (is_file (crl)) {
    r = gnutls_certificate_set_x509_crl_file (x509_creds, crl,
                                              GNUTLS_X509_FMT_PEM);
    if (r < 0)
      tls_load_failed ("loading the revocation list", crl, r);
  }
  loaded_dir = strdup (dir);
  debug ("TLS: certificates loaded from %s", dir);
  free (ca);
  free (cert);
  free (key);
  free (crl);
}

static void
load_psk (void)
{
  int r;

  /* GnuTLS reads the file only when a client names a user: check now
   * that it is there, so a typo is a startup error, not a mystery.
   */
  if (access (tls_psk_file, R_OK) == -1)
    tls_load_failed ("cannot read the PSK file", tls_psk_file, 0);
  r = gnutls_psk_allocate_server_credentials (&psk_creds);
  if (r < 0)
    tls_load_failed ("allocating credentials for", tls_psk_file, r);
  r = gnutls_psk_set_server_credentials_file (psk_creds, tls_psk_file);
  if (r < 0)
    tls_load_failed ("loading the PSK file", tls_psk_file, r);
  debug ("TLS: pre-shared keys from %s", tls_psk_file);
}

void
tls_load (void)
{
  if (tls_mode == TLS_OFF) {
    if (tls_certificates_dir || tls_psk_file || tls_verify_peer)
      debug ("TLS options given with --tls=off: ignored");
    return;
  }
  if (tls_psk_file && tls_verify_peer) {
    fprintf (stderr, "%s: --tls-verify-peer checks X.509 client "
             "certificates: it cannot be used with --tls-psk\n",
             program_name);
    exit (EXIT_FAILURE);
  }
  if (tls_psk_file)
    load_psk ();
  else
    load_x509 ();
}

void
tls_unload (void)
{
  if (x509_creds)
    gnutls_certificate_free_credentials (x509_creds);
  if (psk_creds)
    gnutls_psk_free_server_credentials (psk_creds);
  x509_creds = NULL;
  psk_creds = NULL;
  free (loaded_dir);
  loaded_dir = NULL;
}

const char *
tls_certificates_loaded_from (void)
{
  return loaded_dir;
}

/* The client's certificate must chain to our CA and be valid now. */
static int
verify_client (gnutls_session_t s)
{
  unsigned status = 0;
  gnutls_datum_t why = { NULL, 0 };
  int r;

  r = gnutls_certificate_verify_peers3 (s, NULL, &status);
  if (r < 0) {
    nbdkit_error ("TLS: verifying the client certificate: %s",
                  gnutls_strerror (r));
    return -1;
  }
  if (status == 0)
    return 0;
  if (gnutls_certificate_verification_status_print
      (status, GNUTLS_CRT_X509, &why, 0) == 0) {
    nbdkit_error ("TLS: client certificate rejected: %s", why.data);
    gnutls_free (why.data);
  }
  else
    nbdkit_error ("TLS: client certificate rejected (status 0x%x)", status);
  return -1;
}

/* TIMEOUT_MS: how long the TLS handshake may take, 0 for ever. */
int
tls_start (struct connection *conn, unsigned timeout_ms)
{
  gnutls_session_t s;
  int r;

  r = gnutls_init (&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
  if (r < 0) {
    nbdkit_error ("TLS: gnutls_init: %s", gnutls_strerror (r));
    return -1;
  }
  if (psk_creds) {
    r = gnutls_priority_set_direct (s, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK",
                                    NULL);
    if (r >= 0)
      r = gnutls_credentials_set (s, GNUTLS_CRD_PSK, psk_creds);
  }
  else {
    r = gnutls_set_default_priority (s);
    if (r >= 0)
      r = gnutls_credentials_set (s, GNUTLS_CRD_CERTIFICATE, x509_creds);
    if (tls_verify_peer)
      gnutls_certificate_server_set_request (s, GNUTLS_CERT_REQUIRE);
  }
  if (r < 0) {
    nbdkit_error ("TLS: setting up the session: %s", gnutls_strerror (r));
    gnutls_deinit (s);
    return -1;
  }
  gnutls_transport_set_int2 (s, conn->sockin, conn->sockout);

  /* GnuTLS waits on the socket itself, so it is told how long it may. */
  if (timeout_ms)
    gnutls_handshake_set_timeout (s, timeout_ms);
  do
    r = gnutls_handshake (s);
  while (r < 0 && !gnutls_error_is_fatal (r) && !quit);
  if (r < 0) {
    nbdkit_error ("TLS handshake failed: %s", gnutls_strerror (r));
    gnutls_deinit (s);
    return -1;
  }
  gnutls_handshake_set_timeout (s, 0);
  if (tls_verify_peer && verify_client (s) == -1) {
    gnutls_deinit (s);
    return -1;
  }
  conn->tls = s;
  if (verbose) {
    char *desc = gnutls_session_get_desc (s);
    const char *user = psk_creds ? gnutls_psk_server_get_username (s) : NULL;

    debug ("TLS: session %s%s%s", desc ? desc : "",
           user ? ", PSK user " : "", user ? user : "");
    gnutls_free (desc);
  }
  return 0;
}

/* Ends the session politely (close_notify), without waiting for the
 * client's answer, which a departing client may never send.
 */
void
tls_end (struct connection *conn)
{
  if (conn->tls == NULL)
    return;
  if (conn->running)
    gnutls_bye (conn->tls, GNUTLS_SHUT_WR);
  gnutls_deinit (conn->tls);
  conn->tls = NULL;
}

bool
tls_pending (struct connection *conn)
{
  return gnutls_record_check_pending (conn->tls) > 0;
}

ssize_t
tls_recv (struct connection *conn, void *buf, size_t len)
{
  for (;;) {
    ssize_t r = gnutls_record_recv (conn->tls, buf, len);

    if (r >= 0)
      return r;
    if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN) {
      if (quit) {
        errno = ESHUTDOWN;
        return -1;
      }
      continue;
    }
    /* A client that closes without close_notify has simply gone. */
    if (r == GNUTLS_E_PREMATURE_TERMINATION)
      return 0;
    debug ("TLS: receiving: %s", gnutls_strerror (r));
    errno = EIO;
    return -1;
  }
}

/* Flushes the corked records, waiting until all are sent. */
static int
uncork (gnutls_session_t s)
{
  int r;

  do
    r = gnutls_record_uncork (s, GNUTLS_RECORD_WAIT);
  while (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN);
  if (r < 0) {
    debug ("TLS: sending: %s", gnutls_strerror (r));
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
send_all (gnutls_session_t s, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t r = gnutls_record_send (s, p, len);

    if (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_AGAIN)
      continue;
    if (r < 0) {
      debug ("TLS: sending: %s", gnutls_strerror (r));
      errno = EIO;
      return -1;
    }
    p += r;
    len -= r;
  }
  return 0;
}

/* Replies are corked: GnuTLS packs the bytes into full-size records and
 * flushes them together with one writev.  Uncorked, every iovec (a
 * 16-byte reply header too) would be a record and a system call of its
 * own, which costs the client as much as us.  A large payload (a big
 * read) is not corked but encrypted from where it lies, a record at a
 * time: the cork's copy of it would cost more than the calls it saves.
 */
int
tls_send_iov (struct connection *conn, const struct iovec *iov, int iovcnt)
{
  gnutls_session_t s = conn->tls;
  size_t corked = 0;
  int i;

  gnutls_record_cork (s);
  for (i = 0; i < iovcnt; ++i) {
    const char *p = iov[i].iov_base;
    size_t len = iov[i].iov_len;

    if (len >= DIRECT_MIN) {
      if (uncork (s) == -1 || send_all (s, p, len) == -1)
        return -1;
      gnutls_record_cork (s);
      corked = 0;
      continue;
    }
    while (len > 0) {
      size_t n = len < CORK_FLUSH - corked ? len : CORK_FLUSH - corked;

      if (send_all (s, p, n) == -1)
        return -1;
      p += n;
      len -= n;
      corked += n;
      if (corked == CORK_FLUSH) {
        if (uncork (s) == -1)
          return -1;
        gnutls_record_cork (s);
        corked = 0;
      }
    }
  }
  return uncork (s);
}

/* The Distinguished Name of the client's certificate, or of its issuer:
 * "" when there is none (no TLS, PSK, no client certificate).
 */
static char *
peer_dn (bool issuer)
{
  struct connection *conn = threadlocal_get_conn ();
  const gnutls_datum_t *certs;
  unsigned n = 0;
  gnutls_x509_crt_t crt;
  gnutls_datum_t dn = { NULL, 0 };
  char *ret;
  int r;

  if (conn == NULL || conn->tls == NULL ||
      gnutls_certificate_type_get (conn->tls) != GNUTLS_CRT_X509 ||
      (certs = gnutls_certificate_get_peers (conn->tls, &n)) == NULL ||
      n == 0)
    return strdup ("");
  if (gnutls_x509_crt_init (&crt) < 0)
    return NULL;
  r = gnutls_x509_crt_import (crt, &certs[0], GNUTLS_X509_FMT_DER);
  if (r >= 0)
    r = issuer ? gnutls_x509_crt_get_issuer_dn3 (crt, &dn, 0)
      : gnutls_x509_crt_get_dn3 (crt, &dn, 0);
  gnutls_x509_crt_deinit (crt);
  if (r < 0) {
    nbdkit_error ("TLS: reading the client certificate's DN: %s",
                  gnutls_strerror (r));
    return NULL;
  }
  ret = strndup ((const char *) dn.data, dn.size);
  gnutls_free (dn.data);
  return ret;
}

char *
nbdkit_peer_tls_dn (void)
{
  return peer_dn (false);
}

char *
nbdkit_peer_tls_issuer_dn (void)
{
  return peer_dn (true);
}

/* The PSK username the client authenticated as, "" if none (a blockkit
 * extension: the established server has no such call).
 */
char *
nbdkit_peer_tls_username (void)
{
  struct connection *conn = threadlocal_get_conn ();
  const char *user = NULL;

  if (conn && conn->tls && psk_creds)
    user = gnutls_psk_server_get_username (conn->tls);
  return strdup (user ? user : "");
}
