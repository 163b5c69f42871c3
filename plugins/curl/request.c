/* blockkit: the curl plugin's transfers.
 *
 * Two things happen over the wire: the size probe at startup (a HEAD,
 * or a ranged GET when the server refuses HEAD, as signed S3 URLs do,
 * or gives no length), and the reads (a GET with a Range header for
 * exactly the bytes asked for, written straight into the caller's
 * buffer).  A web server is free to ignore Range and send the whole
 * file with 200: that is detected from the status before any byte is
 * copied, the transfer is abandoned, and the server is refused with a
 * message saying so, because serving the first bytes of a file as if
 * they were the bytes at an offset would corrupt whatever reads them.
 *
 * Every failure becomes one nbdkit_error naming the URL (never its
 * user:password@) and what went wrong: the HTTP status and reason, or
 * libcurl's own description of a transfer error.  The errno is EIO
 * (EPERM for 401 and 403), which the retry filter acts on.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <inttypes.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "curl-plugin.h"

/* What one transfer is doing, and what it learned from the headers. */
struct xfer {
  char *buf;                    /* destination, NULL for HEAD */
  uint32_t count;               /* bytes asked for */
  uint64_t offset;
  int64_t size;                 /* the disk's size, -1 while unknown */
  size_t got;                   /* bytes copied into buf */
  CURL *c;
  bool checked;                 /* the first body bytes were vetted */
  bool http;                    /* ... and came over HTTP(S) */
  bool ignored_range;           /* 200 with the whole body: abandoned */
  bool bad_range;               /* 206, but not the range asked for */
  bool too_much;                /* more bytes than asked for */
  long status;                  /* from the last status line */
  char reason[64];              /* its reason phrase (HTTP/1 only) */
  bool have_range;              /* a Content-Range header was seen */
  uint64_t range_start, range_end;
  int64_t range_total;          /* -1 if "*" */
  char errbuf[CURL_ERROR_SIZE];
};

static bool
is_http (CURL *c)
{
  char *scheme = NULL;

  /* The scheme of the last request, after any redirect. */
  if (curl_easy_getinfo (c, CURLINFO_SCHEME, &scheme) != CURLE_OK ||
      scheme == NULL)
    return strncasecmp (cfg.url, "http", 4) == 0;
  return strncasecmp (scheme, "http", 4) == 0;
}

/* Header lines, one per call.  A new status line starts a new response
 * (after a redirect or a 100 Continue), so it resets what was learned.
 */
static size_t
header_cb (char *line, size_t size, size_t n, void *opaque)
{
  struct xfer *x = opaque;
  size_t len = size * n;
  char tmp[160];
  const char *p;
  uint64_t a, b;
  int64_t t;

  if (len >= sizeof tmp)
    return len;                 /* no header we care about is that long */
  memcpy (tmp, line, len);
  tmp[len] = '\0';
  tmp[strcspn (tmp, "\r\n")] = '\0';

  if (strncmp (tmp, "HTTP/", 5) == 0) {
    x->have_range = false;
    x->reason[0] = '\0';
    p = strchr (tmp, ' ');
    if (p) {
      x->status = strtol (p + 1, NULL, 10);
      p = strchr (p + 1, ' ');
      if (p)
        snprintf (x->reason, sizeof x->reason, "%s", p + 1);
    }
  }
  else if (strncasecmp (tmp, "Content-Range:", 14) == 0) {
    p = tmp + 14;
    p += strspn (p, " \t");
    if (strncasecmp (p, "bytes ", 6) == 0) {
      p += 6;
      if (sscanf (p, "%" SCNu64 "-%" SCNu64 "/%" SCNd64, &a, &b, &t) == 3) {
        x->have_range = true;
        x->range_start = a;
        x->range_end = b;
        x->range_total = t;
      }
      else if (sscanf (p, "%" SCNu64 "-%" SCNu64 "/*", &a, &b) == 2) {
        x->have_range = true;
        x->range_start = a;
        x->range_end = b;
        x->range_total = -1;
      }
    }
  }
  return len;
}

/* Decides, at the first body bytes of an HTTP response, whether they are
 * the bytes asked for.  Returns false to abandon the transfer.
 */
static bool
vet_response (struct xfer *x)
{
  long code = 0;

  curl_easy_getinfo (x->c, CURLINFO_RESPONSE_CODE, &code);
  if (code == 206) {
    /* Right status, but the range must be the one asked for (a proxy
     * or a confused server could send another).
     */
    if (!x->have_range || x->range_start != x->offset ||
        x->range_end != x->offset + x->count - 1) {
      x->bad_range = true;
      return false;
    }
    return true;
  }
  if (code == 200) {
    /* The whole body is only right when it is what was asked for. */
    if (x->offset == 0 && x->size >= 0 && (uint64_t) x->size == x->count)
      return true;
    x->ignored_range = true;
    return false;
  }
  /* An error page (4xx, 5xx) or a redirect's body: discarded, and
   * reported from the status after the transfer.
   */
  return true;
}

static size_t
write_cb (char *data, size_t size, size_t n, void *opaque)
{
  struct xfer *x = opaque;
  size_t len = size * n;
  long code = 0;

  if (!x->checked) {
    x->checked = true;
    x->http = is_http (x->c);
    if (x->http && !vet_response (x))
      return 0;                 /* abandons the transfer */
  }
  if (x->http) {
    curl_easy_getinfo (x->c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206)
      return len;
  }
  if (x->buf == NULL)
    return len;
  if (len > x->count - x->got) {
    x->too_much = true;
    return 0;
  }
  memcpy (x->buf + x->got, data, len);
  x->got += len;
  return len;
}

/* The URL for messages: the one given, and where a redirect led. */
static void
describe_url (CURL *c, char *out, size_t n)
{
  char *eff = NULL, *safe;
  long redirects = 0;

  snprintf (out, n, "%s", cfg.safe_url);
  /* Only after a redirect: libcurl may spell even the URL it was given
   * differently (a "/" added to an empty path, say).
   */
  if (curl_easy_getinfo (c, CURLINFO_REDIRECT_COUNT, &redirects) == CURLE_OK &&
      redirects > 0 &&
      curl_easy_getinfo (c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK &&
      eff) {
    safe = curl_strip_credentials (eff);
    if (safe) {
      snprintf (out, n, "%s (redirected to %s)", cfg.safe_url, safe);
      free (safe);
    }
  }
}

/* Runs the transfer set up on C with X as its state.  Returns the
 * libcurl result; the per-transfer options are cleared afterwards so
 * that the handle holds no pointer into this stack frame.
 */
static CURLcode
perform (CURL *c, struct xfer *x)
{
  CURLcode rc;

  x->c = c;
  x->status = 0;
  x->range_total = -1;
  x->errbuf[0] = '\0';
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, x);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, x->errbuf);
  rc = curl_easy_perform (c);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, NULL);
  return rc;
}

/* Reports a failed transfer (libcurl error or HTTP status), sets errno
 * and returns -1.  WHAT says what was being done.
 */
static int
report (CURL *c, struct xfer *x, CURLcode rc, const char *what)
{
  char url[2048];
  long code = 0;
  curl_off_t len = -1;

  describe_url (c, url, sizeof url);
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);

  if (x->ignored_range) {
    curl_easy_getinfo (c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    nbdkit_error ("curl: %s: the server ignores Range requests: asked for "
                  "bytes %" PRIu64 "-%" PRIu64 ", it answered 200 with the "
                  "whole body (%" PRId64 " bytes); a disk can only be served "
                  "from a server that supports byte ranges",
                  url, x->offset, x->offset + x->count - 1, (int64_t) len);
    errno = EIO;
    return -1;
  }
  if (x->bad_range) {
    if (x->have_range)
      nbdkit_error ("curl: %s: %s: asked for bytes %" PRIu64 "-%" PRIu64
                    ", the server sent bytes %" PRIu64 "-%" PRIu64,
                    url, what, x->offset, x->offset + x->count - 1,
                    x->range_start, x->range_end);
    else
      nbdkit_error ("curl: %s: %s: 206 Partial Content without a "
                    "Content-Range header", url, what);
    errno = EIO;
    return -1;
  }
  if (x->too_much) {
    nbdkit_error ("curl: %s: %s: the server sent more than the %" PRIu32
                  " bytes asked for", url, what, x->count);
    errno = EIO;
    return -1;
  }
  if (rc != CURLE_OK) {
    /* libcurl's error buffer is the more specific message. */
    nbdkit_error ("curl: %s: %s: %s", url, what,
                  x->errbuf[0] ? x->errbuf : curl_easy_strerror (rc));
    errno = EIO;
    return -1;
  }
  if (is_http (c) && code >= 300) {
    nbdkit_error ("curl: %s: %s: HTTP %ld%s%s%s", url, what, code,
                  x->reason[0] ? " (" : "", x->reason,
                  x->reason[0] ? ")" : "");
    errno = (code == 401 || code == 403) ? EPERM : EIO;
    return -1;
  }
  nbdkit_error ("curl: %s: %s: failed", url, what);
  errno = EIO;
  return -1;
}

int
curl_read_range (CURL *c, void *buf, uint32_t count, uint64_t offset,
                 int64_t size)
{
  struct xfer x;
  char range[64], what[96];
  CURLcode rc;
  long code = 0;

  memset (&x, 0, sizeof x);
  x.buf = buf;
  x.count = count;
  x.offset = offset;
  x.size = size;
  snprintf (range, sizeof range, "%" PRIu64 "-%" PRIu64,
            offset, offset + count - 1);
  snprintf (what, sizeof what, "reading %" PRIu32 " bytes at offset %"
            PRIu64, count, offset);
  curl_easy_setopt (c, CURLOPT_RANGE, range);
  rc = perform (c, &x);
  curl_easy_setopt (c, CURLOPT_RANGE, NULL);

  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK || x.ignored_range || x.bad_range || x.too_much ||
      (is_http (c) && code != 200 && code != 206))
    return report (c, &x, rc, what);
  if (x.got != count) {
    char url[2048];

    describe_url (c, url, sizeof url);
    nbdkit_error ("curl: %s: %s: the server sent %zu bytes (has the file "
                  "shrunk?)", url, what, x.got);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* HEAD: the size from Content-Length, or -1 when the server refuses
 * HEAD or gives no length (the caller then asks with a ranged GET).
 * Returns -2 after reporting a transfer error, which a GET would only
 * repeat.
 */
static int64_t
head_size (CURL *c)
{
  struct xfer x;
  curl_off_t len = -1;
  long code = 0;
  CURLcode rc;

  memset (&x, 0, sizeof x);
  curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
  rc = perform (c, &x);
  curl_easy_setopt (c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt (c, CURLOPT_HTTPGET, 1L);
  if (rc != CURLE_OK) {
    report (c, &x, rc, "asking for the size (HEAD)");
    return -2;
  }
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);
  if (is_http (c) && (code == 401 || code == 404 || code == 407 ||
                      code == 410)) {
    /* Not there, or not without credentials: a GET would say the same
     * (a server that wants GET only answers 403 or 405).
     */
    report (c, &x, rc, "asking for the size (HEAD)");
    return -2;
  }
  if (is_http (c) && (code < 200 || code >= 300)) {
    nbdkit_debug ("curl: HEAD answered %ld: asking with a ranged GET",
                  code);
    return -1;
  }
  curl_easy_getinfo (c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
  if (len < 0)
    nbdkit_debug ("curl: HEAD gave no length: asking with a ranged GET");
  return len;
}

int64_t
curl_probe_size (void)
{
  CURL *c = curl_new_handle ();
  struct xfer x;
  char byte, what[64];
  CURLcode rc;
  long code = 0;
  int64_t size;

  if (c == NULL)
    return -1;
  size = head_size (c);
  if (size == -2)
    goto fail;
  if (size == 0)
    goto done;                  /* an empty disk: nothing to read */

  /* One byte by a ranged GET, whether or not HEAD gave the size: it is
   * the check that the server honours Range at all, and when HEAD did
   * not work its Content-Range gives the size.
   */
  memset (&x, 0, sizeof x);
  x.buf = &byte;
  x.count = 1;
  x.size = size;
  snprintf (what, sizeof what, "%s", size >= 0 ?
            "checking that the server honours Range" :
            "asking for the size (GET with Range: bytes=0-0)");
  curl_easy_setopt (c, CURLOPT_RANGE, "0-0");
  rc = perform (c, &x);
  curl_easy_setopt (c, CURLOPT_RANGE, NULL);
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK || x.ignored_range || x.bad_range || x.too_much ||
      (is_http (c) && code != 200 && code != 206)) {
    report (c, &x, rc, what);
    goto fail;
  }
  if (size < 0) {
    if (!x.have_range || x.range_total < 0) {
      nbdkit_error ("curl: %s: the size is unknown: HEAD gave none and the "
                    "ranged GET no Content-Range total", cfg.safe_url);
      goto fail;
    }
    size = x.range_total;
  }
  else if (x.have_range && x.range_total >= 0 && x.range_total != size) {
    nbdkit_error ("curl: %s: HEAD says %" PRId64 " bytes, a ranged GET says "
                  "%" PRId64 ": the size is unclear", cfg.safe_url, size,
                  x.range_total);
    goto fail;
  }
 done:
  curl_easy_cleanup (c);
  nbdkit_debug ("curl: %s: %" PRId64 " bytes", cfg.safe_url, size);
  return size;

 fail:
  curl_easy_cleanup (c);
  return -1;
}
