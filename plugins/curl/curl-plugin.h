/* blockkit: what the curl plugin's files share.
 *
 * The plugin is split by job: config.c parses and checks the keys,
 * pool.c makes libcurl easy handles with those settings and lends them
 * to requests (a fixed-size pool, so a connection to the web server is
 * kept and reused instead of opened per request), request.c performs
 * one ranged GET or the size probe on a borrowed handle and turns every
 * failure into a clear message and an errno, and curl.c is the plugin
 * itself.  This header is the contract between them.
 */

#ifndef BLOCKKIT_CURL_PLUGIN_H
#define BLOCKKIT_CURL_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

/* Everything the keys set.  Filled by config.c, read-only afterwards
 * (requests on many threads read it without a lock).
 */
struct curl_settings {
  const char *url;                /* url=, as given (may hold user:pw@) */
  char *safe_url;                 /* url with any user:password@ removed */
  unsigned connections;           /* connections=, the pool's size */
  bool sslverify;                 /* sslverify= */
  const char *cainfo;             /* cainfo= ("" = no default store) */
  const char *capath;             /* capath= */
  bool cainfo_set, capath_set;
  const char *user;               /* user= */
  char *password;                 /* password=, after nbdkit_read_password */
  const char *proxy;              /* proxy= */
  const char *proxy_user;         /* proxy-user= */
  char *proxy_password;           /* proxy-password= */
  char *cookie;                   /* cookie=, after nbdkit_read_password */
  const char *cookiefile;         /* cookiefile= */
  struct curl_slist *headers;     /* header=, each one */
  const char *user_agent;         /* user-agent= */
  const char *aws_sigv4;          /* aws-sigv4= */
  const char *protocols;          /* protocols= (checked subset) */
  const char *unix_socket_path;   /* unix-socket-path= */
  long ssl_version;               /* ssl-version=, CURL_SSLVERSION_* */
  const char *ssl_cipher_list;    /* ssl-cipher-list= */
  const char *tls13_ciphers;      /* tls13-ciphers= */
  unsigned timeout;               /* timeout=, seconds, 0 = libcurl's */
  unsigned connect_timeout;       /* connect-timeout=, seconds */
  bool followlocation;            /* followlocation= */
  bool tcp_keepalive;             /* tcp-keepalive= */
  bool tcp_nodelay;               /* tcp-nodelay= */
};
extern struct curl_settings cfg;

/* -D curl.verbose=1: libcurl's own trace, through nbdkit_debug, with
 * credentials hidden.
 */
extern int curl_debug_verbose;

/* config.c */
extern int curl_plugin_config (const char *key, const char *value);
extern int curl_plugin_config_complete (void);
extern void curl_plugin_free_config (void);
extern char *curl_strip_credentials (const char *url);
extern const char *curl_allowed_protocols (void);
#define CURL_PLUGIN_CONFIG_HELP \
  "[url=]URL                The disk image (http, https, ftp, ftps, file, sftp).\n" \
  "connections=N            Parallel requests (pool of handles), default 4.\n" \
  "user=NAME password=PW    Credentials (password=- or +FILE or -FD).\n" \
  "aws-sigv4=PROVIDER       S3/AWS signing (e.g. aws:amz:us-east-1:s3).\n" \
  "sslverify=false          Do not verify the server's certificate.\n" \
  "cainfo=FILE capath=DIR   Trusted CAs.\n" \
  "header=HEADER            Extra request header (repeatable).\n" \
  "cookie=COOKIE            Cookie to send (or - or +FILE or -FD).\n" \
  "proxy=PROXY              Use a proxy.\n" \
  "timeout=SECS             Bound each request.\n" \
  "followlocation=false     Do not follow redirects.\n" \
  "user-agent=STRING        User-Agent header.\n" \
  "(see blockkit-curl-plugin(1) for the rest)"

/* pool.c */
extern int curl_pool_init (void);
extern void curl_pool_free (void);
extern CURL *curl_pool_get (void);
extern void curl_pool_put (CURL *c);
extern CURL *curl_new_handle (void);

/* request.c */
extern int64_t curl_probe_size (void);
extern int curl_read_range (CURL *c, void *buf, uint32_t count,
                            uint64_t offset, int64_t size);

#endif /* BLOCKKIT_CURL_PLUGIN_H */
