/* blockkit: the curl plugin's configuration.
 *
 * Parses the keys (those of the established curl plugin, plus
 * connections=, connect-timeout= and aws-sigv4=), reads secrets with
 * nbdkit_read_password so that password=-, password=+FILE and
 * password=-FD work as users expect, and checks at .config_complete
 * that the settings make sense together, so that a mistake is reported
 * when the server starts, not when the first client reads.  Also here:
 * the one function that makes a URL safe to print (no user:password@),
 * used by every message that names the URL.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "curl-plugin.h"

struct curl_settings cfg = {
  .connections = 4,
  .sslverify = true,
  .followlocation = true,
  .tcp_nodelay = true,
  .ssl_version = CURL_SSLVERSION_DEFAULT,
};

/* Protocols whose transfers libcurl can start at a byte offset
 * (CURLOPT_RANGE works for them).  Anything else could only be read
 * from the start, which is no way to serve a disk.
 */
static const char *const range_protocols[] = {
  "http", "https", "ftp", "ftps", "file", "sftp",
};
#define N_RANGE_PROTOCOLS (sizeof range_protocols / sizeof range_protocols[0])

/* The comma-separated list given to CURLOPT_PROTOCOLS_STR: the range
 * protocols this libcurl was built with, narrowed by protocols=.
 */
static char allowed[128];

/* Keys of the established plugin that this one does not provide: named,
 * so that the user is told exactly that rather than "unknown key".
 */
static const char *const unsupported_keys[] = {
  "cookiejar", "cookie-script", "cookie-script-renew",
  "header-script", "header-script-renew",
};

static bool
libcurl_has_protocol (const char *proto)
{
  const curl_version_info_data *info = curl_version_info (CURLVERSION_NOW);
  const char *const *p;

  for (p = info->protocols; *p; ++p)
    if (strcasecmp (*p, proto) == 0)
      return true;
  return false;
}

static bool
is_range_protocol (const char *proto, size_t len)
{
  size_t i;

  for (i = 0; i < N_RANGE_PROTOCOLS; ++i)
    if (strlen (range_protocols[i]) == len &&
        strncasecmp (range_protocols[i], proto, len) == 0)
      return true;
  return false;
}

/* Appends PROTO (LEN bytes) to the allowed list, if libcurl has it. */
static int
allow (const char *proto, size_t len)
{
  char name[16];
  size_t used = strlen (allowed);

  if (len >= sizeof name)
    return 0;
  memcpy (name, proto, len);
  name[len] = '\0';
  if (!libcurl_has_protocol (name))
    return 0;
  if (used + len + 2 > sizeof allowed)
    return -1;
  snprintf (allowed + used, sizeof allowed - used, "%s%s",
            used ? "," : "", name);
  return 0;
}

const char *
curl_allowed_protocols (void)
{
  return allowed;
}

char *
curl_strip_credentials (const char *url)
{
  const char *auth, *end, *at = NULL, *p;
  char *r;

  if (url == NULL)
    return strdup ("(no url)");
  /* The userinfo, when there is one, is between "://" and the last '@'
   * before the path, query or fragment starts.
   */
  auth = strstr (url, "://");
  if (auth == NULL)
    return strdup (url);
  auth += 3;
  end = auth + strcspn (auth, "/?#");
  for (p = auth; p < end; ++p)
    if (*p == '@')
      at = p;
  if (at == NULL)
    return strdup (url);
  r = malloc (strlen (url) + 1);
  if (r == NULL)
    return NULL;
  memcpy (r, url, auth - url);
  strcpy (r + (auth - url), at + 1);
  return r;
}

static int
parse_seconds (const char *key, const char *value, unsigned *out)
{
  unsigned v;

  if (nbdkit_parse_unsigned (key, value, &v) == -1)
    return -1;
  if (v > 86400 * 365) {
    nbdkit_error ("curl: %s=%s: too large", key, value);
    return -1;
  }
  *out = v;
  return 0;
}

static int
parse_flag (const char *key, const char *value, bool *out)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1) {
    nbdkit_error ("curl: %s=%s: not a boolean", key, value);
    return -1;
  }
  *out = r;
  return 0;
}

static int
parse_ssl_version (const char *value)
{
  static const struct { const char *name; long v; } versions[] = {
    { "default", CURL_SSLVERSION_DEFAULT },
    { "tlsv1", CURL_SSLVERSION_TLSv1 },
    { "sslv2", CURL_SSLVERSION_SSLv2 },
    { "sslv3", CURL_SSLVERSION_SSLv3 },
    { "tlsv1.0", CURL_SSLVERSION_TLSv1_0 },
    { "tlsv1.1", CURL_SSLVERSION_TLSv1_1 },
    { "tlsv1.2", CURL_SSLVERSION_TLSv1_2 },
    { "tlsv1.3", CURL_SSLVERSION_TLSv1_3 },
  };
  size_t i;

  for (i = 0; i < sizeof versions / sizeof versions[0]; ++i)
    if (strcasecmp (value, versions[i].name) == 0) {
      cfg.ssl_version = versions[i].v;
      return 0;
    }
  nbdkit_error ("curl: ssl-version=%s: expected one of tlsv1, tlsv1.0, "
                "tlsv1.1, tlsv1.2, tlsv1.3, sslv2, sslv3", value);
  return -1;
}

/* protocols=P,P,...: each must be one of the range protocols. */
static int
parse_protocols (const char *value)
{
  const char *p = value;
  size_t len;

  do {
    len = strcspn (p, ",");
    if (len == 0 || !is_range_protocol (p, len)) {
      nbdkit_error ("curl: protocols=%s: \"%.*s\" is not a protocol this "
                    "plugin can read a disk over (those that support byte "
                    "ranges: http, https, ftp, ftps, file, sftp)",
                    value, (int) len, p);
      return -1;
    }
    p += len;
  } while (*p++ == ',');
  cfg.protocols = value;
  return 0;
}

int
curl_plugin_config (const char *key, const char *value)
{
  size_t i;

  for (i = 0; i < sizeof unsupported_keys / sizeof unsupported_keys[0]; ++i)
    if (strcmp (key, unsupported_keys[i]) == 0) {
      nbdkit_error ("curl: %s= is not provided by blockkit's curl plugin "
                    "(see blockkit-curl-plugin(1))", key);
      return -1;
    }

  if (strcmp (key, "url") == 0 || strcmp (key, "uri") == 0)
    cfg.url = value;
  else if (strcmp (key, "connections") == 0) {
    if (nbdkit_parse_unsigned (key, value, &cfg.connections) == -1)
      return -1;
    if (cfg.connections < 1 || cfg.connections > 256) {
      nbdkit_error ("curl: connections=%s: must be between 1 and 256",
                    value);
      return -1;
    }
  }
  else if (strcmp (key, "sslverify") == 0)
    return parse_flag (key, value, &cfg.sslverify);
  else if (strcmp (key, "cainfo") == 0) {
    cfg.cainfo = value;
    cfg.cainfo_set = true;
  }
  else if (strcmp (key, "capath") == 0) {
    cfg.capath = value;
    cfg.capath_set = true;
  }
  else if (strcmp (key, "user") == 0)
    cfg.user = value;
  else if (strcmp (key, "password") == 0) {
    free (cfg.password);
    cfg.password = NULL;
    if (nbdkit_read_password (value, &cfg.password) == -1)
      return -1;
  }
  else if (strcmp (key, "proxy") == 0)
    cfg.proxy = value;
  else if (strcmp (key, "proxy-user") == 0)
    cfg.proxy_user = value;
  else if (strcmp (key, "proxy-password") == 0) {
    free (cfg.proxy_password);
    cfg.proxy_password = NULL;
    if (nbdkit_read_password (value, &cfg.proxy_password) == -1)
      return -1;
  }
  else if (strcmp (key, "cookie") == 0) {
    /* The same forms as a password, since a cookie is often one. */
    free (cfg.cookie);
    cfg.cookie = NULL;
    if (nbdkit_read_password (value, &cfg.cookie) == -1)
      return -1;
  }
  else if (strcmp (key, "cookiefile") == 0)
    cfg.cookiefile = value;
  else if (strcmp (key, "header") == 0) {
    struct curl_slist *l = curl_slist_append (cfg.headers, value);
    if (l == NULL) {
      nbdkit_error ("curl: header=: out of memory");
      return -1;
    }
    cfg.headers = l;
  }
  else if (strcmp (key, "user-agent") == 0)
    cfg.user_agent = value;
  else if (strcmp (key, "aws-sigv4") == 0)
    cfg.aws_sigv4 = value;
  else if (strcmp (key, "protocols") == 0)
    return parse_protocols (value);
  else if (strcmp (key, "unix-socket-path") == 0)
    cfg.unix_socket_path = value;
  else if (strcmp (key, "ssl-version") == 0)
    return parse_ssl_version (value);
  else if (strcmp (key, "ssl-cipher-list") == 0)
    cfg.ssl_cipher_list = value;
  else if (strcmp (key, "tls13-ciphers") == 0)
    cfg.tls13_ciphers = value;
  else if (strcmp (key, "timeout") == 0)
    return parse_seconds (key, value, &cfg.timeout);
  else if (strcmp (key, "connect-timeout") == 0)
    return parse_seconds (key, value, &cfg.connect_timeout);
  else if (strcmp (key, "followlocation") == 0)
    return parse_flag (key, value, &cfg.followlocation);
  else if (strcmp (key, "tcp-keepalive") == 0)
    return parse_flag (key, value, &cfg.tcp_keepalive);
  else if (strcmp (key, "tcp-nodelay") == 0)
    return parse_flag (key, value, &cfg.tcp_nodelay);
  else {
    nbdkit_error ("curl: unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

/* Builds the allowed protocol list: protocols= if given, else all the
 * range protocols; either way only those libcurl was built with.
 */
static int
build_allowed (void)
{
  const char *p;
  size_t len, i;

  allowed[0] = '\0';
  if (cfg.protocols) {
    for (p = cfg.protocols; ; p += len + 1) {
      len = strcspn (p, ",");
      if (allow (p, len) == -1)
        return -1;
      if (p[len] == '\0')
        break;
    }
  }
  else {
    for (i = 0; i < N_RANGE_PROTOCOLS; ++i)
      if (allow (range_protocols[i], strlen (range_protocols[i])) == -1)
        return -1;
  }
  if (allowed[0] == '\0') {
    nbdkit_error ("curl: libcurl here was built without any of the "
                  "protocols asked for (%s)",
                  cfg.protocols ? cfg.protocols : "http,https,...");
    return -1;
  }
  return 0;
}

/* The URL's scheme must be given and be one of the allowed protocols:
 * libcurl would otherwise guess "http" for "example.com/disk", and
 * fail only at the first request for a scheme it refuses.
 */
static int
check_scheme (void)
{
  const char *sep = strstr (cfg.url, "://");
  size_t len = sep ? (size_t) (sep - cfg.url) : 0;
  const char *p = allowed;
  size_t plen;

  if (sep == NULL || len == 0) {
    nbdkit_error ("curl: url=%s: no scheme (write http://, https://, "
                  "ftp://, file://, ...)", cfg.safe_url);
    return -1;
  }
  for (;;) {
    plen = strcspn (p, ",");
    if (plen == len && strncasecmp (p, cfg.url, len) == 0)
      return 0;
    if (p[plen] == '\0')
      break;
    p += plen + 1;
  }
  nbdkit_error ("curl: url=%s: the scheme \"%.*s\" is not allowed: this "
                "plugin reads %s (protocols that support byte ranges%s)",
                cfg.safe_url, (int) len, cfg.url, allowed,
                cfg.protocols ? ", narrowed by protocols=" :
                " and that this libcurl has");
  return -1;
}

/* S3 refuses a signed request without x-amz-content-sha256, the hash
 * of the body, and libcurl 7.88 does not add it.  Our requests (HEAD,
 * GET) have no body, so it is the SHA-256 of nothing; libcurl signs the
 * header with the others it is given.  A user's own wins.
 */
static int
add_content_sha256 (void)
{
  static const char name[] = "x-amz-content-sha256";
  const struct curl_slist *h;
  struct curl_slist *l;

  for (h = cfg.headers; h; h = h->next)
    if (strncasecmp (h->data, name, sizeof name - 1) == 0 &&
        (h->data[sizeof name - 1] == ':' || h->data[sizeof name - 1] == ';'))
      return 0;
  l = curl_slist_append (cfg.headers, "x-amz-content-sha256: "
                         "e3b0c44298fc1c149afbf4c8996fb924"
                         "27ae41e4649b934ca495991b7852b855");
  if (l == NULL) {
    nbdkit_error ("curl: out of memory");
    return -1;
  }
  cfg.headers = l;
  return 0;
}

int
curl_plugin_config_complete (void)
{
  const curl_version_info_data *info = curl_version_info (CURLVERSION_NOW);

  if (cfg.url == NULL) {
    nbdkit_error ("curl: url= is required: the URL of the disk image");
    return -1;
  }
  cfg.safe_url = curl_strip_credentials (cfg.url);
  if (cfg.safe_url == NULL) {
    nbdkit_error ("curl: out of memory");
    return -1;
  }
  if (build_allowed () == -1 || check_scheme () == -1)
    return -1;

  if (cfg.password && cfg.user == NULL &&
      strchr (cfg.url, '@') == NULL) {
    /* libcurl would send the password with an empty user name. */
    nbdkit_error ("curl: password= without user=");
    return -1;
  }
  if (cfg.aws_sigv4) {
    /* CURLOPT_AWS_SIGV4 arrived in libcurl 7.75.0; a build against an
     * older one would not know the option, and a newer build running
     * on an older library would have it ignored, sending unsigned
     * requests.  Both are refused.
     */
#if LIBCURL_VERSION_NUM < 0x074b00
    nbdkit_error ("curl: aws-sigv4= needs libcurl >= 7.75.0 at build time "
                  "(built with %s)", LIBCURL_VERSION);
    return -1;
#endif
    if (info->version_num < 0x074b00) {
      nbdkit_error ("curl: aws-sigv4= needs libcurl >= 7.75.0 "
                    "(this one is %s)", info->version);
      return -1;
    }
    if (cfg.user == NULL || cfg.password == NULL) {
      nbdkit_error ("curl: aws-sigv4= signs with user= (the access key "
                    "id) and password= (the secret key): give both");
      return -1;
    }
    if (add_content_sha256 () == -1)
      return -1;
  }
  if (cfg.timeout && cfg.connect_timeout > cfg.timeout)
    nbdkit_debug ("curl: connect-timeout=%u is longer than timeout=%u, "
                  "which bounds the whole request",
                  cfg.connect_timeout, cfg.timeout);
  return 0;
}

void
curl_plugin_free_config (void)
{
  free (cfg.safe_url);
  free (cfg.password);
  free (cfg.proxy_password);
  free (cfg.cookie);
  curl_slist_free_all (cfg.headers);
  cfg.safe_url = cfg.password = cfg.proxy_password = cfg.cookie = NULL;
  cfg.headers = NULL;
}
