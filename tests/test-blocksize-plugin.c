/* A test plugin for blockkit's test suite: a 16 MiB RAM disk that
 * advertises block size constraints (minimum 512, preferred 4096,
 * maximum 32 MiB) so that tests can check the server enforces them.
 * It asserts the server never passes it a misaligned request.
 */
#include <stdint.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#define DISK_SIZE (16 * 1024 * 1024)
#define MINIMUM 512
#define PREFERRED 4096
#define MAXIMUM (32 * 1024 * 1024)

static unsigned char *disk;

static int
bs_get_ready (void)
{
  disk = calloc (1, DISK_SIZE);
  if (disk == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  return 0;
}

static void
bs_unload (void)
{
  free (disk);
}

static int the_handle;

static void *
bs_open (int readonly)
{
  return &the_handle;
}

static int64_t
bs_get_size (void *handle)
{
  return DISK_SIZE;
}

static int
bs_block_size (void *handle,
               uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  *minimum = MINIMUM;
  *preferred = PREFERRED;
  *maximum = MAXIMUM;
  return 0;
}

static int
check (uint32_t count, uint64_t offset)
{
  if (count % MINIMUM || offset % MINIMUM) {
    nbdkit_error ("misaligned request reached the plugin: "
                  "count=%" PRIu32 " offset=%" PRIu64, count, offset);
    /* Make the failure visible to the test even if errors are lost. */
    abort ();
  }
  if (offset + count > DISK_SIZE) {
    nbdkit_error ("out of range request reached the plugin");
    abort ();
  }
  return 0;
}

static int
bs_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  check (count, offset);
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
bs_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  check (count, offset);
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
bs_flush (void *handle, uint32_t flags)
{
  return 0;
}

static int
bs_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  check (count, offset);
  memset (disk + offset, 0, count);
  return 0;
}

static int
bs_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  check (count, offset);
  memset (disk + offset, 0, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "testblocksize",
  .version           = "1.0",
  .get_ready         = bs_get_ready,
  .unload            = bs_unload,
  .open              = bs_open,
  .get_size          = bs_get_size,
  .block_size        = bs_block_size,
  .pread             = bs_pread,
  .pwrite            = bs_pwrite,
  .flush             = bs_flush,
  .trim              = bs_trim,
  .zero              = bs_zero,
};

NBDKIT_REGISTER_PLUGIN (plugin)
