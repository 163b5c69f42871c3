/* blockkit: the gzip filter, serving the uncompressed contents of a .gz
 * file, read-only.
 *
 * gzip cannot be read at random (inflate.c explains why), so on the first
 * connection to an export the whole file below is decompressed into a
 * temporary file in $TMPDIR (default /var/tmp: images are large, and /tmp
 * is often memory), unlinked at once so that nothing is left behind
 * however the server exits.  Every later read, from any connection, is a
 * pread of that file.  Doing it on first connection rather than at
 * startup is what lets the filter sit over plugins that reach their data
 * only when a client connects (curl, nbd), and keeps startup instant.
 *
 * The temporary file is per export name, since a plugin below may serve
 * different files under different names.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "decompressed-image.h"

#include "gzip.h"

struct image {
  struct image *next;
  char *exportname;
  int fd;                 /* the unlinked temporary file */
  uint64_t size;
};

static pthread_mutex_t images_lock = PTHREAD_MUTEX_INITIALIZER;
static struct image *images;

struct handle {
  char *exportname;
  struct image *img;
};

static void
gzip_unload (void)
{
  struct image *img, *n;

  for (img = images; img; img = n) {
    n = img->next;
    close (img->fd);
    free (img->exportname);
    free (img);
  }
  images = NULL;
}

static void *
gzip_open (nbdkit_next_open *next, nbdkit_context *nxdata,
           int readonly, const char *exportname, int is_tls)
{
  struct handle *h;

  /* Only ever read below. */
  if (next (nxdata, 1, exportname) == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL || (h->exportname = strdup (exportname)) == NULL) {
    nbdkit_error ("gzip: %m");
    free (h);
    return NULL;
  }
  return h;
}

static void
gzip_close (void *handle)
{
  struct handle *h = handle;

  free (h->exportname);
  free (h);
}

static int
make_temporary (void)
{
  const char *dir = getenv ("TMPDIR");
  char *template;
  int fd;

  if (dir == NULL || *dir == '\0')
    dir = "/var/tmp";
  if (asprintf (&template, "%s/blockkit-gzip-XXXXXX", dir) == -1) {
    nbdkit_error ("gzip: asprintf: %m");
    return -1;
  }
  fd = mkostemp (template, O_CLOEXEC);
  if (fd == -1)
    nbdkit_error ("gzip: cannot create a temporary file %s (set TMPDIR to "
                  "a writable directory): %m", template);
  else
    unlink (template);
  free (template);
  return fd;
}

/* With images_lock held. */
static struct image *
image_new (nbdkit_next *next, const char *exportname)
{
  struct image *img = calloc (1, sizeof *img);
  struct timespec t0, t1;

  if (img == NULL || (img->exportname = strdup (exportname)) == NULL) {
    nbdkit_error ("gzip: %m");
    free (img);
    return NULL;
  }
  img->fd = make_temporary ();
  if (img->fd == -1)
    goto error;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  if (gz_inflate_to_fd (next, img->fd, &img->size) == -1)
    goto error;
  clock_gettime (CLOCK_MONOTONIC, &t1);
  nbdkit_debug ("gzip: export \"%s\" decompressed (%" PRIu64 " bytes) "
                "in %.3f s", exportname, img->size,
                (double) (t1.tv_sec - t0.tv_sec)
                + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return img;

 error:
  if (img->fd >= 0)
    close (img->fd);
  free (img->exportname);
  free (img);
  return NULL;
}

/* The first connection to an export decompresses it, through its own
 * context below; connections arriving meanwhile wait for it.  A failure
 * is not remembered, so a transient error below can be retried by
 * connecting again.
 */
static int
gzip_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  struct image *img;
  int r = 0;

  pthread_mutex_lock (&images_lock);
  for (img = images; img; img = img->next)
    if (strcmp (img->exportname, h->exportname) == 0)
      break;
  if (img == NULL) {
    img = image_new (next, h->exportname);
    if (img) {
      img->next = images;
      images = img;
    }
    else
      r = -1;
  }
  h->img = img;
  pthread_mutex_unlock (&images_lock);
  return r;
}

static int64_t
gzip_get_size (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  return h->img->size;
}

static int
gzip_pread (nbdkit_next *next, void *handle,
            void *buf, uint32_t count, uint64_t offset, uint32_t flags,
            int *err)
{
  struct handle *h = handle;
  char *p = buf;

  while (count > 0) {
    ssize_t r = pread (h->img->fd, p, count, offset);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      *err = errno;
      nbdkit_error ("gzip: reading the temporary file: %m");
      return -1;
    }
    if (r == 0) {
      *err = EIO;
      nbdkit_error ("gzip: the temporary file is shorter than expected");
      return -1;
    }
    p += r;
    offset += r;
    count -= r;
  }
  return 0;
}

static struct nbdkit_filter filter = {
  .name              = "gzip",
  .longname          = "blockkit gzip filter",
  .description       = "Serve the uncompressed contents of a gzip file",
  .unload            = gzip_unload,
  .open              = gzip_open,
  .close             = gzip_close,
  .prepare           = gzip_prepare,
  .get_size          = gzip_get_size,
  DECOMPRESSED_IMAGE_CAPABILITIES,
  .pread             = gzip_pread,
};

NBDKIT_REGISTER_FILTER (filter)
