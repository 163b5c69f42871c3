/* blockkit: the curl plugin's pool of libcurl easy handles.
 *
 * An easy handle keeps its connection to the web server open between
 * transfers, so reusing handles saves a TCP (and TLS) handshake per
 * read.  A handle runs one transfer at a time, so parallel reads need
 * several: the pool holds up to connections= of them, made on first
 * need, shared by every NBD connection (the data is the same whichever
 * handle fetches it, which is what keeps multi-conn truthful).  A read
 * borrows a handle, and waits when all of them are out.
 *
 * The handles also share one libcurl "share" object for the DNS cache
 * and TLS sessions, so that a handle that has to reconnect (the server
 * closed an idle connection, or restarted) resumes a TLS session
 * instead of doing a full handshake.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <pthread.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "curl-plugin.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static CURL **idle;             /* handles not lent out */
static size_t n_idle;
static unsigned n_made;         /* handles in existence (idle or lent) */

static CURLSH *share;
/* One lock per kind of shared data, as libcurl asks. */
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void
share_lock (CURL *c, curl_lock_data data, curl_lock_access access,
            void *opaque)
{
  (void) c; (void) access; (void) opaque;
  pthread_mutex_lock (&share_locks[data]);
}

static void
share_unlock (CURL *c, curl_lock_data data, void *opaque)
{
  (void) c; (void) opaque;
  pthread_mutex_unlock (&share_locks[data]);
}

/* Headers that carry secrets: their values never reach the debug log. */
static bool
is_secret_header (const char *line, size_t len)
{
  static const char *const secret[] = {
    "authorization:", "proxy-authorization:", "cookie:", "set-cookie:",
  };
  size_t i, n;

  for (i = 0; i < sizeof secret / sizeof secret[0]; ++i) {
    n = strlen (secret[i]);
    if (len >= n && strncasecmp (line, secret[i], n) == 0)
      return true;
  }
  return false;
}

/* -D curl.verbose=1: libcurl's trace, line by line, through
 * nbdkit_debug.  Bodies are not shown (they are disk data), and header
 * lines that carry credentials are shown with their value hidden.
 */
static int
debug_cb (CURL *c, curl_infotype type, char *data, size_t size, void *opaque)
{
  const char *what;
  size_t len;

  (void) c; (void) opaque;
  switch (type) {
  case CURLINFO_TEXT: what = "*"; break;
  case CURLINFO_HEADER_IN: what = "<"; break;
  case CURLINFO_HEADER_OUT: what = ">"; break;
  default: return 0;
  }
  while (size > 0) {
    len = 0;
    while (len < size && data[len] != '\n')
      ++len;
    if (len > 0 && data[len - 1] == '\r')
      --len;
    if (len > 0) {
      if (type != CURLINFO_TEXT && is_secret_header (data, len))
        nbdkit_debug ("curl %s %.*s <hidden>", what,
                      (int) (strchr (data, ':') - data + 1), data);
      else
        nbdkit_debug ("curl %s %.*s", what, (int) len, data);
    }
    while (len < size && data[len] != '\n')
      ++len;
    if (len < size)
      ++len;
    data += len;
    size -= len;
  }
  return 0;
}

#define SET(opt, val)                                                   \
  do {                                                                  \
    CURLcode r_ = curl_easy_setopt (c, (opt), (val));                   \
    if (r_ != CURLE_OK) {                                               \
      nbdkit_error ("curl: %s: %s", #opt, curl_easy_strerror (r_));     \
      goto fail;                                                        \
    }                                                                   \
  } while (0)

/* A new easy handle with every setting that does not change between
 * requests.  request.c sets the rest (range, callbacks) per transfer.
 */
CURL *
curl_new_handle (void)
{
  CURL *c = curl_easy_init ();

  if (c == NULL) {
    nbdkit_error ("curl: curl_easy_init failed");
    return NULL;
  }
  SET (CURLOPT_URL, cfg.url);
  SET (CURLOPT_PROTOCOLS_STR, curl_allowed_protocols ());
  SET (CURLOPT_REDIR_PROTOCOLS_STR, curl_allowed_protocols ());
  /* Never raise SIGALRM or SIGPIPE in a multi-threaded server. */
  SET (CURLOPT_NOSIGNAL, 1L);
  SET (CURLOPT_FAILONERROR, 0L);        /* request.c reads the status */
  if (share)
    SET (CURLOPT_SHARE, share);
  /* Larger receive chunks: fewer callbacks for a 64K..32M read. */
  SET (CURLOPT_BUFFERSIZE, 256L * 1024);
  SET (CURLOPT_FOLLOWLOCATION, cfg.followlocation ? 1L : 0L);
  SET (CURLOPT_MAXREDIRS, 20L);
  if (cfg.timeout)
    SET (CURLOPT_TIMEOUT, (long) cfg.timeout);
  if (cfg.connect_timeout)
    SET (CURLOPT_CONNECTTIMEOUT, (long) cfg.connect_timeout);
  SET (CURLOPT_TCP_KEEPALIVE, cfg.tcp_keepalive ? 1L : 0L);
  SET (CURLOPT_TCP_NODELAY, cfg.tcp_nodelay ? 1L : 0L);
  if (!cfg.sslverify) {
    SET (CURLOPT_SSL_VERIFYPEER, 0L);
    SET (CURLOPT_SSL_VERIFYHOST, 0L);
  }
  /* cainfo= and capath= with an empty value: no default store at all. */
  if (cfg.cainfo_set)
    SET (CURLOPT_CAINFO, *cfg.cainfo ? cfg.cainfo : NULL);
  if (cfg.capath_set)
    SET (CURLOPT_CAPATH, *cfg.capath ? cfg.capath : NULL);
  if (cfg.ssl_version != CURL_SSLVERSION_DEFAULT)
    SET (CURLOPT_SSLVERSION, cfg.ssl_version);
  if (cfg.ssl_cipher_list)
    SET (CURLOPT_SSL_CIPHER_LIST, cfg.ssl_cipher_list);
  if (cfg.tls13_ciphers)
    SET (CURLOPT_TLS13_CIPHERS, cfg.tls13_ciphers);
  if (cfg.user)
    SET (CURLOPT_USERNAME, cfg.user);
  if (cfg.password)
    SET (CURLOPT_PASSWORD, cfg.password);
  if (cfg.proxy)
    SET (CURLOPT_PROXY, cfg.proxy);
  if (cfg.proxy_user)
    SET (CURLOPT_PROXYUSERNAME, cfg.proxy_user);
  if (cfg.proxy_password)
    SET (CURLOPT_PROXYPASSWORD, cfg.proxy_password);
  if (cfg.cookie)
    SET (CURLOPT_COOKIE, cfg.cookie);
  if (cfg.cookiefile)
    SET (CURLOPT_COOKIEFILE, cfg.cookiefile);
  if (cfg.headers)
    SET (CURLOPT_HTTPHEADER, cfg.headers);
  if (cfg.user_agent)
    SET (CURLOPT_USERAGENT, cfg.user_agent);
  if (cfg.unix_socket_path)
    SET (CURLOPT_UNIX_SOCKET_PATH, cfg.unix_socket_path);
#if LIBCURL_VERSION_NUM >= 0x074b00
  if (cfg.aws_sigv4) {
    SET (CURLOPT_AWS_SIGV4, cfg.aws_sigv4);
    /* libcurl signs with the key pair given as user name and password;
     * HTTP authentication is off so nothing else is sent.
     */
    SET (CURLOPT_HTTPAUTH, (long) CURLAUTH_AWS_SIGV4);
  }
#endif
  if (curl_debug_verbose) {
    SET (CURLOPT_VERBOSE, 1L);
    SET (CURLOPT_DEBUGFUNCTION, debug_cb);
  }
  return c;

 fail:
  curl_easy_cleanup (c);
  return NULL;
}

int
curl_pool_init (void)
{
  size_t i;

  idle = calloc (cfg.connections, sizeof *idle);
  if (idle == NULL) {
    nbdkit_error ("curl: calloc: %m");
    return -1;
  }
  for (i = 0; i < CURL_LOCK_DATA_LAST; ++i)
    pthread_mutex_init (&share_locks[i], NULL);
  /* Without the share the handles still work, only reconnections cost
   * more: a failure here is not fatal.
   */
  share = curl_share_init ();
  if (share) {
    curl_share_setopt (share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt (share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt (share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt (share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  return 0;
}

void
curl_pool_free (void)
{
  size_t i;

  for (i = 0; i < n_idle; ++i)
    curl_easy_cleanup (idle[i]);
  free (idle);
  idle = NULL;
  n_idle = n_made = 0;
  if (share)
    curl_share_cleanup (share);
  share = NULL;
}

CURL *
curl_pool_get (void)
{
  CURL *c;

  pthread_mutex_lock (&pool_lock);
  while (n_idle == 0 && n_made >= cfg.connections)
    pthread_cond_wait (&pool_cond, &pool_lock);
  if (n_idle > 0) {
    c = idle[--n_idle];
    pthread_mutex_unlock (&pool_lock);
    return c;
  }
  /* Make a new one outside the lock: the others stay available. */
  n_made++;
  pthread_mutex_unlock (&pool_lock);
  c = curl_new_handle ();
  if (c == NULL) {
    pthread_mutex_lock (&pool_lock);
    n_made--;
    pthread_cond_signal (&pool_cond);
    pthread_mutex_unlock (&pool_lock);
  }
  return c;
}

void
curl_pool_put (CURL *c)
{
  pthread_mutex_lock (&pool_lock);
  idle[n_idle++] = c;
  pthread_cond_signal (&pool_cond);
  pthread_mutex_unlock (&pool_lock);
}
