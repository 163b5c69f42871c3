/* The plugin under the test filters (test-filter-order.sh,
 * test-filter-contexts.sh, test-filter-fallbacks.sh): a RAM disk that
 * appends every callback it receives to the call log (test-layer-log.h),
 * as layer "plugin".
 *
 *   orderlog=PATH              the call log (required)
 *   size=SIZE                  disk size (default 1M)
 *   zero=yes|no                what .can_zero says (no: the server
 *                              emulates zero with .pwrite at this layer)
 *   fua=native|emulate|none    what .can_fua says
 *
 * Each .open gets a number, counted from 1, and every later line about
 * that handle ends with " #N", so that a test can tell contexts apart.
 * Data lines: "pread COUNT OFFSET #N", "pwrite COUNT OFFSET fua=F
 * data=zero|nonzero #N", "zero COUNT OFFSET fua=F #N", "trim COUNT
 * OFFSET fua=F #N", "flush #N", "cache COUNT OFFSET #N".
 * Queries (get_size, can_*) are not logged: which ones the server asks,
 * and when, is its own business.
 */
#include <config.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#include "test-layer-log.h"

static int64_t size = 1024 * 1024;
static bool have_log;
static bool can_zero = true;
static int fua = NBDKIT_FUA_NATIVE;
static unsigned char *disk;

/* Handle numbers. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_id = 1;
struct handle {
  unsigned id;
};

static void
tl_load (void)
{
  layer_log_name ("plugin");
  layer_log ("load");
}

static void
tl_unload (void)
{
  layer_log ("unload");
  layer_log_close ();
  free (disk);
}

static int
tl_config (const char *key, const char *value)
{
  layer_log ("config %s", key);
  if (strcmp (key, "orderlog") == 0) {
    have_log = true;
    return layer_log_config (key, value);
  }
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    return size == -1 ? -1 : 0;
  }
  if (strcmp (key, "zero") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    can_zero = r;
    return 0;
  }
  if (strcmp (key, "fua") == 0) {
    if (strcmp (value, "native") == 0)
      fua = NBDKIT_FUA_NATIVE;
    else if (strcmp (value, "emulate") == 0)
      fua = NBDKIT_FUA_EMULATE;
    else if (strcmp (value, "none") == 0)
      fua = NBDKIT_FUA_NONE;
    else {
      nbdkit_error ("fua=%s: expected native, emulate or none", value);
      return -1;
    }
    return 0;
  }
  nbdkit_error ("testlayers: unknown parameter %s=%s", key, value);
  return -1;
}

static int
tl_config_complete (void)
{
  layer_log ("config_complete");
  if (!have_log) {
    nbdkit_error ("the orderlog=PATH parameter is required");
    return -1;
  }
  if (size < 4096 || size > 64 * 1024 * 1024) {
    nbdkit_error ("size=%" PRIi64 ": must be between 4K and 64M", size);
    return -1;
  }
  return 0;
}

static int
tl_thread_model (void)
{
  layer_log ("thread_model");
  return NBDKIT_THREAD_MODEL_PARALLEL;
}

static int
tl_get_ready (void)
{
  layer_log ("get_ready");
  disk = calloc (1, size);
  if (disk == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  return 0;
}

static int
tl_after_fork (void)
{
  layer_log ("after_fork");
  return 0;
}

static void
tl_cleanup (void)
{
  layer_log ("cleanup");
}

static int
tl_preconnect (int readonly)
{
  layer_log ("preconnect");
  return 0;
}

static int
tl_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  layer_log ("list_exports");
  return nbdkit_use_default_export (exports);
}

static const char *
tl_default_export (int readonly, int is_tls)
{
  layer_log ("default_export");
  return "";
}

static void *
tl_open (int readonly)
{
  struct handle *h = malloc (sizeof *h);

  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  pthread_mutex_lock (&lock);
  h->id = next_id++;
  pthread_mutex_unlock (&lock);
  layer_log ("open readonly=%d #%u", readonly, h->id);
  return h;
}

static void
tl_close (void *handle)
{
  struct handle *h = handle;

  layer_log ("close #%u", h->id);
  free (h);
}

static int64_t
tl_get_size (void *handle)
{
  return size;
}

static int
tl_can_write (void *handle)
{
  return 1;
}

static int
tl_can_flush (void *handle)
{
  return 1;
}

static int
tl_can_trim (void *handle)
{
  return 1;
}

static int
tl_can_zero (void *handle)
{
  return can_zero;
}

static int
tl_can_fua (void *handle)
{
  return fua;
}

static int
tl_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
tl_can_multi_conn (void *handle)
{
  return 1;
}

#define ID(handle) (((struct handle *) (handle))->id)
#define FUA(flags) (!!((flags) & NBDKIT_FLAG_FUA))

static bool
all_zero (const unsigned char *buf, uint32_t count)
{
  uint32_t i;

  for (i = 0; i < count; ++i)
    if (buf[i])
      return false;
  return true;
}

static int
tl_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  layer_log ("pread %" PRIu32 " %" PRIu64 " #%u", count, offset, ID (handle));
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
tl_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  layer_log ("pwrite %" PRIu32 " %" PRIu64 " fua=%d data=%s #%u",
             count, offset, FUA (flags),
             all_zero (buf, count) ? "zero" : "nonzero", ID (handle));
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
tl_flush (void *handle, uint32_t flags)
{
  layer_log ("flush #%u", ID (handle));
  return 0;
}

static int
tl_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  layer_log ("trim %" PRIu32 " %" PRIu64 " fua=%d #%u",
             count, offset, FUA (flags), ID (handle));
  memset (disk + offset, 0, count);
  return 0;
}

static int
tl_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  layer_log ("zero %" PRIu32 " %" PRIu64 " fua=%d #%u",
             count, offset, FUA (flags), ID (handle));
  memset (disk + offset, 0, count);
  return 0;
}

static int
tl_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  layer_log ("cache %" PRIu32 " %" PRIu64 " #%u", count, offset, ID (handle));
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "testlayers",
  .version           = "1.0",
  .load              = tl_load,
  .unload            = tl_unload,
  .config            = tl_config,
  .config_complete   = tl_config_complete,
  .config_help       = "orderlog=PATH (required)  size=SIZE  zero=BOOL  "
                       "fua=native|emulate|none",
  .thread_model      = tl_thread_model,
  .get_ready         = tl_get_ready,
  .after_fork        = tl_after_fork,
  .cleanup           = tl_cleanup,
  .preconnect        = tl_preconnect,
  .list_exports      = tl_list_exports,
  .default_export    = tl_default_export,
  .open              = tl_open,
  .close             = tl_close,
  .get_size          = tl_get_size,
  .can_write         = tl_can_write,
  .can_flush         = tl_can_flush,
  .can_trim          = tl_can_trim,
  .can_zero          = tl_can_zero,
  .can_fua           = tl_can_fua,
  .can_cache         = tl_can_cache,
  .can_multi_conn    = tl_can_multi_conn,
  .pread             = tl_pread,
  .pwrite            = tl_pwrite,
  .flush             = tl_flush,
  .trim              = tl_trim,
  .zero              = tl_zero,
  .cache             = tl_cache,
};

NBDKIT_REGISTER_PLUGIN (plugin)
