/* blockkit: the curl plugin, serving a disk image read over HTTP(S), FTP,
 * SFTP or file:// through libcurl, including S3 objects (aws-sigv4=).
 *
 * The image is read-only here (--filter=cow gives a writable disk over
 * it).  Its size is learned once, when the server gets ready, so that an
 * unreachable URL, a 404, a failed certificate check or a server that
 * ignores Range stops the server at startup with the reason.  Each read
 * is one ranged GET on an easy handle borrowed from the pool (pool.c);
 * the plugin uses the parallel thread model, so up to connections=
 * reads are on the wire at once, whichever NBD connections they came
 * from.  The data does not depend on the handle, so multi-conn is
 * advertised.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "curl-plugin.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

NBDKIT_DLL_PUBLIC int curl_debug_verbose = 0;

static int64_t size = -1;       /* learned at .get_ready */

/* A connection's handle: nothing per connection is needed (the pool is
 * global), but .open must return something that is not NULL.
 */
static char connection_token;

static void
curl_load (void)
{
  /* Before any thread exists, as libcurl requires. */
  if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    nbdkit_error ("curl: libcurl failed to initialize");
    exit (EXIT_FAILURE);
  }
}

static void
curl_unload (void)
{
  curl_pool_free ();
  curl_plugin_free_config ();
  curl_global_cleanup ();
}

static int
curl_get_ready (void)
{
  if (curl_pool_init () == -1)
    return -1;
  size = curl_probe_size ();
  return size < 0 ? -1 : 0;
}

static void
curl_dump_plugin (void)
{
  const curl_version_info_data *info = curl_version_info (CURLVERSION_NOW);
  const char *const *p;

  printf ("curl_version=%s\n", info->version);
  printf ("curl_ssl_version=%s\n", info->ssl_version ? info->ssl_version : "");
  printf ("curl_protocols=");
  for (p = info->protocols; *p; ++p)
    printf ("%s%s", p == info->protocols ? "" : ",", *p);
  printf ("\n");
#if LIBCURL_VERSION_NUM >= 0x074b00
  printf ("curl_aws_sigv4=%s\n", info->version_num >= 0x074b00 ? "yes" : "no");
#else
  printf ("curl_aws_sigv4=no\n");
#endif
}

static void *
curl_open (int readonly)
{
  (void) readonly;
  return &connection_token;
}

static int64_t
curl_get_size (void *handle)
{
  (void) handle;
  return size;
}

static int
curl_can_write (void *handle)
{
  (void) handle;
  return 0;
}

static int
curl_can_multi_conn (void *handle)
{
  (void) handle;
  return 1;
}

static int
curl_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  CURL *c;
  int r, err;

  (void) handle; (void) flags;
  if (count == 0)
    return 0;
  c = curl_pool_get ();
  if (c == NULL) {
    errno = ENOMEM;
    return -1;
  }
  r = curl_read_range (c, buf, count, offset, size);
  err = errno;
  curl_pool_put (c);
  errno = err;
  return r;
}

static struct nbdkit_plugin plugin = {
  .name = "curl",
  .longname = "blockkit curl plugin",
  .version = PACKAGE_VERSION,
  .description = "Serve a disk image read over HTTP(S), FTP, SFTP or S3",
  .load = curl_load,
  .unload = curl_unload,
  .config = curl_plugin_config,
  .config_complete = curl_plugin_config_complete,
  .config_help = CURL_PLUGIN_CONFIG_HELP,
  .magic_config_key = "url",
  .get_ready = curl_get_ready,
  .dump_plugin = curl_dump_plugin,
  .open = curl_open,
  .get_size = curl_get_size,
  .can_write = curl_can_write,
  .can_multi_conn = curl_can_multi_conn,
  .pread = curl_pread,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
