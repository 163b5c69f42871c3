/* blockkit: the file plugin, serving a regular file or block device,
 * or every file in a directory (one export per file).
 *
 * This file holds the configuration, opening a file, its size and
 * capabilities, reads, writes, flushes and cache hints; directory mode
 * is in file-dir.c, zeroing, trimming and block status in file-space.c.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* sync_file_range */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#ifdef __linux__
#include <linux/fs.h>           /* BLKGETSIZE64, BLKZEROOUT */
#endif

#include "cleanup.h"
#include "file.h"

static char *filename;                  /* file=, absolute */
char *directory;                        /* dir=, absolute */

enum cache_mode { CACHE_DEFAULT, CACHE_NONE };
static enum cache_mode cache_mode = CACHE_DEFAULT;

#ifdef HAVE_POSIX_FADVISE
static int fadvise_mode = POSIX_FADV_NORMAL;
#endif

static void
file_unload (void)
{
  free (filename);
  free (directory);
}

static int
file_config (const char *key, const char *value)
{
  if (strcmp (key, "file") == 0) {
    free (filename);
    filename = nbdkit_realpath (value);
    if (filename == NULL) {
      nbdkit_error ("file: file=%s: cannot resolve the path", value);
      return -1;
    }
  }
  else if (strcmp (key, "dir") == 0 || strcmp (key, "directory") == 0) {
    /* directory= is nbdkit's other spelling of dir=; as there, the two
     * are one setting and the last one given wins.
     */
    free (directory);
    directory = nbdkit_realpath (value);
    if (directory == NULL) {
      nbdkit_error ("file: %s=%s: cannot resolve the path", key, value);
      return -1;
    }
  }
  else if (strcmp (key, "cache") == 0) {
    if (strcmp (value, "default") == 0)
      cache_mode = CACHE_DEFAULT;
    else if (strcmp (value, "none") == 0)
      cache_mode = CACHE_NONE;
    else {
      nbdkit_error ("file: cache=%s: expected 'default' or 'none'", value);
      return -1;
    }
  }
  else if (strcmp (key, "fadvise") == 0) {
#ifdef HAVE_POSIX_FADVISE
    if (strcmp (value, "normal") == 0)
      fadvise_mode = POSIX_FADV_NORMAL;
    else if (strcmp (value, "random") == 0)
      fadvise_mode = POSIX_FADV_RANDOM;
    else if (strcmp (value, "sequential") == 0)
      fadvise_mode = POSIX_FADV_SEQUENTIAL;
    else {
      nbdkit_error ("file: fadvise=%s: expected 'normal', 'random' "
                    "or 'sequential'", value);
      return -1;
    }
#else
    nbdkit_debug ("file: fadvise=%s ignored: no posix_fadvise", value);
#endif
  }
  else {
    nbdkit_error ("file: unknown parameter '%s=%s'", key, value);
    return -1;
  }
  return 0;
}

static int
file_config_complete (void)
{
  struct stat st;

  if (filename == NULL && directory == NULL) {
    nbdkit_error ("file: you must give either file=FILENAME (or just "
                  "FILENAME) or dir=DIRECTORY");
    return -1;
  }
  if (filename != NULL && directory != NULL) {
    nbdkit_error ("file: file=%s and dir=%s cannot be used together",
                  filename, directory);
    return -1;
  }

  if (filename) {
    if (stat (filename, &st) == -1) {
      nbdkit_error ("file: file=%s: %m", filename);
      return -1;
    }
    if (S_ISDIR (st.st_mode)) {
      nbdkit_error ("file: file=%s is a directory (did you mean dir=%s?)",
                    filename, filename);
      return -1;
    }
    if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
      nbdkit_error ("file: file=%s is neither a regular file nor a "
                    "block device", filename);
      return -1;
    }
  }
  else {
    if (stat (directory, &st) == -1) {
      nbdkit_error ("file: dir=%s: %m", directory);
      return -1;
    }
    if (!S_ISDIR (st.st_mode)) {
      nbdkit_error ("file: dir=%s is not a directory", directory);
      return -1;
    }
  }
  return 0;
}

#define file_config_help \
  "[file=]FILENAME             The file or block device to serve.\n" \
  "dir=DIRECTORY               Serve every file in DIRECTORY, one export\n" \
  "                            per file, named by the file name\n" \
  "                            (directory= is the same).\n" \
  "cache=default|none          Use the page cache (default) or evict\n" \
  "                            data from it after each request.\n" \
  "fadvise=normal|random|sequential\n" \
  "                            Hint the kernel about the access pattern."

static void
file_dump_plugin (void)
{
#ifdef SEEK_HOLE
  printf ("file_extents=yes\n");
#endif
#ifdef BLKZEROOUT
  printf ("file_blkzeroout=yes\n");
#endif
  printf ("file_dir=yes\n");
}

/* Best effort: is the device under ST rotational?  Looks in sysfs for
 * the device itself, then for the whole disk if it is a partition.
 */
static int
sysfs_rotational (dev_t dev)
{
  char path[128];
  int i;

  for (i = 0; i < 2; ++i) {
    FILE *fp;
    int c;

    snprintf (path, sizeof path, "/sys/dev/block/%u:%u/%squeue/rotational",
              major (dev), minor (dev), i == 0 ? "" : "../");
    fp = fopen (path, "r");
    if (fp == NULL)
      continue;
    c = fgetc (fp);
    fclose (fp);
    return c == '1';
  }
  return 0;
}

static void *
file_open (int readonly)
{
  struct handle *h;
  CLEANUP_FREE char *path_alloc = NULL;
  const char *path;
  struct stat st;
  /* O_NONBLOCK so that opening a FIFO by mistake cannot hang; it is
   * cleared again below and means nothing for files and disks.
   */
  int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

  if (directory) {
    path_alloc = file_dir_export_path ();
    if (path_alloc == NULL)
      return NULL;
    path = path_alloc;
  }
  else
    path = filename;

  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("file: calloc: %m");
    return NULL;
  }

  h->fd = open (path, flags | (readonly ? O_RDONLY : O_RDWR));
  h->can_write = !readonly;
  if (h->fd == -1 && !readonly &&
      (errno == EACCES || errno == EROFS || errno == EPERM)) {
    /* Fall back to serving it read-only. */
    nbdkit_debug ("file: %s: cannot open read-write (%m), "
                  "serving it read-only", path);
    h->fd = open (path, flags | O_RDONLY);
    h->can_write = false;
  }
  if (h->fd == -1) {
    int e = errno;
    nbdkit_error ("file: open: %s: %m", path);
    free (h);
    errno = e;
    return NULL;
  }

  if (fstat (h->fd, &st) == -1) {
    int e = errno;
    nbdkit_error ("file: fstat: %s: %m", path);
    close (h->fd);
    free (h);
    errno = e;
    return NULL;
  }
  if (S_ISBLK (st.st_mode))
    h->is_block_device = true;
  else if (!S_ISREG (st.st_mode)) {
    nbdkit_error ("file: %s is neither a regular file nor a block device",
                  path);
    close (h->fd);
    free (h);
    errno = EINVAL;
    return NULL;
  }

  fcntl (h->fd, F_SETFL, fcntl (h->fd, F_GETFL) & ~O_NONBLOCK);

#ifdef SEEK_HOLE
  /* Extents only where the file system answers SEEK_HOLE. */
  h->can_extents = !h->is_block_device && lseek (h->fd, 0, SEEK_HOLE) != -1;
#endif

  h->can_punch_hole = h->can_zero_range = h->can_fallocate = true;
  h->can_zeroout = h->can_discard = h->is_block_device;

#ifdef HAVE_POSIX_FADVISE
  if (fadvise_mode != POSIX_FADV_NORMAL)
    posix_fadvise (h->fd, 0, 0, fadvise_mode);
#endif

  return h;
}

static void
file_close (void *handle)
{
  struct handle *h = handle;

  close (h->fd);
  free (h);
}

static int64_t
file_get_size (void *handle)
{
  struct handle *h = handle;
  struct stat st;

  if (h->is_block_device) {
#ifdef BLKGETSIZE64
    uint64_t size;
    if (ioctl (h->fd, BLKGETSIZE64, &size) == 0)
      return size;
#endif
    off_t end = lseek (h->fd, 0, SEEK_END);
    if (end == -1) {
      FILE_ERROR ("lseek: %m");
      return -1;
    }
    return end;
  }

  if (fstat (h->fd, &st) == -1) {
    FILE_ERROR ("fstat: %m");
    return -1;
  }
  return st.st_size;
}

static int
file_can_write (void *handle)
{
  struct handle *h = handle;
  return h->can_write;
}

static int
file_one (void *handle)
{
  return 1;
}

static int
file_is_rotational (void *handle)
{
  struct handle *h = handle;
  struct stat st;

  if (fstat (h->fd, &st) == -1)
    return 0;
  return sysfs_rotational (h->is_block_device ? st.st_rdev : st.st_dev);
}

static int
file_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
file_can_zero (void *handle)
{
  return NBDKIT_ZERO_NATIVE;
}

static int
file_can_cache (void *handle)
{
#ifdef HAVE_POSIX_FADVISE
  return NBDKIT_CACHE_NATIVE;
#else
  return NBDKIT_CACHE_NONE;
#endif
}

static int
file_can_extents (void *handle)
{
  struct handle *h = handle;
  return h->can_extents;
}

int
file_do_flush (struct handle *h)
{
#ifdef HAVE_FDATASYNC
  if (fdatasync (h->fd) == -1) {
#else
  if (fsync (h->fd) == -1) {
#endif
    FILE_ERROR ("fdatasync: %m");
    return -1;
  }
  return 0;
}

/* cache=none: drop the range from the page cache.  Dirty pages must be
 * written back first or the kernel keeps them.
 */
void
file_evict (struct handle *h, uint64_t offset, uint64_t count, bool dirty)
{
#ifdef HAVE_POSIX_FADVISE
  if (cache_mode != CACHE_NONE)
    return;
#ifdef SYNC_FILE_RANGE_WRITE
  if (dirty)
    sync_file_range (h->fd, offset, count,
                     SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                     SYNC_FILE_RANGE_WAIT_AFTER);
#endif
  posix_fadvise (h->fd, offset, count, POSIX_FADV_DONTNEED);
#endif
}

static int
file_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  struct handle *h = handle;
  char *p = buf;
  const uint64_t orig_offset = offset;
  const uint32_t orig_count = count;

  while (count > 0) {
    ssize_t r = pread (h->fd, p, count, offset);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      FILE_ERROR ("pread: %m");
      return -1;
    }
    if (r == 0) {
      nbdkit_error ("file: pread: unexpected end of file at offset %"
                    PRIu64, offset);
      errno = EIO;
      return -1;
    }
    p += r;
    offset += r;
    count -= r;
  }

  file_evict (h, orig_offset, orig_count, false);
  return 0;
}

static int
file_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  struct handle *h = handle;
  const char *p = buf;
  const uint64_t orig_offset = offset;
  const uint32_t orig_count = count;

  while (count > 0) {
    ssize_t r = pwrite (h->fd, p, count, offset);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      FILE_ERROR ("pwrite: %m");
      return -1;
    }
    p += r;
    offset += r;
    count -= r;
  }

  if ((flags & NBDKIT_FLAG_FUA) && file_do_flush (h) == -1)
    return -1;
  file_evict (h, orig_offset, orig_count, true);
  return 0;
}

static int
file_flush (void *handle, uint32_t flags)
{
  return file_do_flush (handle);
}

static int
file_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
#ifdef HAVE_POSIX_FADVISE
  struct handle *h = handle;
  int r = posix_fadvise (h->fd, offset, count, POSIX_FADV_WILLNEED);

  if (r != 0) {
    errno = r;
    FILE_ERROR ("posix_fadvise: %m");
    return -1;
  }
  return 0;
#else
  errno = ENOTSUP;
  return -1;
#endif
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "file",
  .longname          = "blockkit file plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "Serve a file or block device, or the files "
                       "of a directory",
  .unload            = file_unload,
  .config            = file_config,
  .config_complete   = file_config_complete,
  .config_help       = file_config_help,
  .magic_config_key  = "file",
  .dump_plugin       = file_dump_plugin,
  .list_exports      = file_list_exports,
  .default_export    = file_default_export,
  .open              = file_open,
  .close             = file_close,
  .get_size          = file_get_size,
  .can_write         = file_can_write,
  .can_flush         = file_one,
  .is_rotational     = file_is_rotational,
  .can_trim          = file_one,
  .can_zero          = file_can_zero,
  .can_fast_zero     = file_one,
  .can_fua           = file_can_fua,
  .can_multi_conn    = file_one,
  .can_extents       = file_can_extents,
  .can_cache         = file_can_cache,
  .pread             = file_pread,
  .pwrite            = file_pwrite,
  .flush             = file_flush,
  .trim              = file_trim,
  .zero              = file_zero,
  .extents           = file_extents,
  .cache             = file_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
