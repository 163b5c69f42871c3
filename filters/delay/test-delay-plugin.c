/* A test plugin for test-delay*.sh: a 1M RAM disk whose zero and FUA
 * support are chosen by keys, so that the server has to emulate them
 * below the delay filter:
 *
 *   zero=native|none     .can_zero: native, or none (the server then
 *                        writes zeroes through this plugin's .pwrite)
 *   fua=native|emulate   .can_fua: native, or emulate (the server then
 *                        flushes through this plugin's .flush)
 *
 * Every data callback is counted; `count=PATH` makes .unload write the
 * counts ("pwrite N", "zero N", "flush N") there, so a test can also see
 * what the fallbacks did.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#define SIZE (1024 * 1024)

static unsigned char disk[SIZE];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int zero_native = 1, fua_native = 1;
static char *count_path;
static unsigned n_pwrite, n_zero, n_flush;

static int
td_config (const char *key, const char *value)
{
  if (strcmp (key, "zero") == 0 &&
      (strcmp (value, "native") == 0 || strcmp (value, "none") == 0)) {
    zero_native = strcmp (value, "native") == 0;
    return 0;
  }
  if (strcmp (key, "fua") == 0 &&
      (strcmp (value, "native") == 0 || strcmp (value, "emulate") == 0)) {
    fua_native = strcmp (value, "native") == 0;
    return 0;
  }
  if (strcmp (key, "count") == 0) {
    count_path = nbdkit_absolute_path (value);
    return count_path ? 0 : -1;
  }
  nbdkit_error ("unknown parameter or value: %s=%s", key, value);
  return -1;
}

static void
td_unload (void)
{
  FILE *fp;

  if (count_path && (fp = fopen (count_path, "w")) != NULL) {
    fprintf (fp, "pwrite %u\nzero %u\nflush %u\n", n_pwrite, n_zero, n_flush);
    fclose (fp);
  }
  free (count_path);
}

static void *
td_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
td_get_size (void *h)
{
  return SIZE;
}

static int
td_one (void *h)
{
  return 1;
}

static int
td_can_zero (void *h)
{
  return zero_native ? NBDKIT_ZERO_NATIVE : NBDKIT_ZERO_NONE;
}

static int
td_can_fua (void *h)
{
  return fua_native ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_EMULATE;
}

static int
td_can_cache (void *h)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
td_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  pthread_mutex_lock (&lock);
  memcpy (buf, disk + offset, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
td_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  pthread_mutex_lock (&lock);
  memcpy (disk + offset, buf, count);
  n_pwrite++;
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
td_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  pthread_mutex_lock (&lock);
  memset (disk + offset, 0, count);
  n_zero++;
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
td_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
td_flush (void *h, uint32_t flags)
{
  pthread_mutex_lock (&lock);
  n_flush++;
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
td_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  return nbdkit_add_extent (extents, offset, count, 0);
}

static int
td_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "testdelay",
  .unload            = td_unload,
  .config            = td_config,
  .open              = td_open,
  .get_size          = td_get_size,
  .can_write         = td_one,
  .can_flush         = td_one,
  .can_trim          = td_one,
  .can_zero          = td_can_zero,
  .can_fua           = td_can_fua,
  .can_extents       = td_one,
  .can_cache         = td_can_cache,
  .pread             = td_pread,
  .pwrite            = td_pwrite,
  .zero              = td_zero,
  .trim              = td_trim,
  .flush             = td_flush,
  .extents           = td_extents,
  .cache             = td_cache,
};

NBDKIT_REGISTER_PLUGIN (plugin)
