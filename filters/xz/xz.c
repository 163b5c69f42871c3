/* blockkit: the xz filter, random read access to an .xz compressed image.
 *
 * The layer below holds an .xz file (a local file, or a remote object
 * through curl or nbd); clients see the uncompressed image, read-only.
 * On the first connection to an export the file's index is read from
 * the end of the file (xzindex.c); every read is then mapped to the
 * blocks it covers, and only those blocks are fetched and decompressed
 * (xzdec.c), through a cache of decompressed blocks shared by all
 * connections (blkcache.c).  A file with a single block has nothing to
 * seek to and is read forwards from the start instead (xzseq.c), with a
 * warning about what random access then costs.
 *
 * The index and cache are per export name, since a plugin below may
 * serve different files under different names; they are made on first
 * use (.prepare), not at startup, so the filter works over plugins that
 * only reach their data once a client connects.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "decompressed-image.h"

#include "xz.h"

/* The established filter's defaults: blocks up to 512M, 8 of them kept. */
static uint64_t max_block = UINT64_C (512) << 20;
static unsigned max_depth = 8;

/* What one export's .xz file needs, shared by its connections. */
struct image {
  struct image *next;
  char *exportname;
  struct xz_index idx;
  struct blkcache *cache;   /* several blocks: random access */
  struct xzseq *seq;        /* a single block: sequential access */
};

static pthread_mutex_t images_lock = PTHREAD_MUTEX_INITIALIZER;
static struct image *images;

struct handle {
  char *exportname;
  struct image *img;
};

static void
image_free (struct image *img)
{
  if (img->cache) {
    uint64_t hits, misses;

    blkcache_stats (img->cache, &hits, &misses);
    nbdkit_debug ("xz: block cache: %" PRIu64 " hits, %" PRIu64 " misses",
                  hits, misses);
  }
  blkcache_free (img->cache);
  xzseq_free (img->seq);
  xz_index_free (&img->idx);
  free (img->exportname);
  free (img);
}

static void
xz_unload (void)
{
  struct image *img, *n;

  for (img = images; img; img = n) {
    n = img->next;
    image_free (img);
  }
  images = NULL;
}

static int
xz_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  /* maxblock and maxdepth are the names the old xz plugin used. */
  if (strcmp (key, "xz-max-block") == 0 || strcmp (key, "maxblock") == 0) {
    int64_t r = nbdkit_parse_size (value);

    if (r == -1) {
      nbdkit_error ("%s=%s: expected a size", key, value);
      return -1;
    }
    if (r < 1) {
      nbdkit_error ("%s=%s: must be at least 1 byte", key, value);
      return -1;
    }
    max_block = r;
    return 0;
  }
  if (strcmp (key, "xz-max-depth") == 0 || strcmp (key, "maxdepth") == 0) {
    unsigned r;

    if (nbdkit_parse_unsigned (key, value, &r) == -1)
      return -1;
    if (r < 1) {
      nbdkit_error ("%s=%s: must be at least 1", key, value);
      return -1;
    }
    max_depth = r;
    return 0;
  }
  return next (nxdata, key, value);
}

#define xz_config_help \
  "xz-max-block=SIZE        Refuse files with larger blocks (default 512M).\n" \
  "xz-max-depth=N           Decompressed blocks kept in memory (default 8)."

static void *
xz_open (nbdkit_next_open *next, nbdkit_context *nxdata,
         int readonly, const char *exportname, int is_tls)
{
  struct handle *h;

  /* Nothing is ever written, so the layer below is opened read-only
   * whatever the client asked for.
   */
  if (next (nxdata, 1, exportname) == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL || (h->exportname = strdup (exportname)) == NULL) {
    nbdkit_error ("xz: %m");
    free (h);
    return NULL;
  }
  return h;
}

static void
xz_close (void *handle)
{
  struct handle *h = handle;

  free (h->exportname);
  free (h);
}

/* With images_lock held: reads the index of the file below and decides
 * how it will be served.
 */
static struct image *
image_new (nbdkit_next *next, const char *exportname)
{
  struct image *img = calloc (1, sizeof *img);

  if (img == NULL || (img->exportname = strdup (exportname)) == NULL) {
    nbdkit_error ("xz: %m");
    free (img);
    return NULL;
  }
  if (xz_index_read (next, &img->idx) == -1)
    goto error;

  if (img->idx.nblocks == 1) {
    const struct xz_block *b = &img->idx.blocks[0];

    /* Nothing is held whole, so xz-max-block does not apply. */
    if (b->usize > XZSEQ_WINDOW)
      nbdkit_error ("xz: warning: the file has a single xz block of %"
                    PRIu64 " bytes, so it cannot be read at random: "
                    "reads are served by decompressing forwards from the "
                    "start of the file.  Reading it in order costs one "
                    "decompression, but every read behind the last ones "
                    "decompresses again from the start.  Recompress it "
                    "with smaller blocks (xz --block-size=16MiB) for "
                    "random access", b->usize);
    img->seq = xzseq_new (b);
    if (img->seq == NULL)
      goto error;
  }
  else {
    if (img->idx.max_usize > max_block) {
      nbdkit_error ("xz: the largest block in the file is %" PRIu64
                    " bytes, more than xz-max-block=%" PRIu64 ": "
                    "recompress the file with smaller blocks "
                    "(xz --block-size=16MiB) or raise xz-max-block",
                    img->idx.max_usize, max_block);
      goto error;
    }
    img->cache = blkcache_new (max_depth);
    if (img->cache == NULL)
      goto error;
  }
  return img;

 error:
  image_free (img);
  return NULL;
}

/* The index is read on the first connection to each export, through
 * that connection's context below; later connections find it ready.  A
 * failure is not remembered: the next connection tries again.
 */
static int
xz_prepare (nbdkit_next *next, void *handle, int readonly)
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
xz_get_size (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  return h->img->idx.size;
}

struct load_ctx {
  nbdkit_next *next;
  struct image *img;
};

static uint8_t *
load_block (void *arg, size_t blockno, int *err)
{
  struct load_ctx *ctx = arg;

  return xz_dec_block (ctx->next, &ctx->img->idx.blocks[blockno], err);
}

static int
xz_pread (nbdkit_next *next, void *handle,
          void *buf, uint32_t count, uint64_t offset, uint32_t flags,
          int *err)
{
  struct handle *h = handle;
  struct image *img = h->img;
  struct load_ctx ctx = { .next = next, .img = img };
  uint8_t *p = buf;
  size_t i;

  if (count == 0)
    return 0;
  if (img->seq)
    return xzseq_read (img->seq, next, buf, count, offset, err);

  for (i = xz_index_find (&img->idx, offset); count > 0; ++i) {
    const struct xz_block *b = &img->idx.blocks[i];
    struct blkcache_entry *e;
    const uint8_t *data;
    uint64_t in_block = offset - b->uoff;
    uint64_t n = b->usize - in_block;

    if (i >= img->idx.nblocks) {
      /* The server checks ranges against the size; cannot happen. */
      nbdkit_error ("xz: read beyond the end of the image");
      *err = EIO;
      return -1;
    }
    if (n > count)
      n = count;
    e = blkcache_get (img->cache, i, load_block, &ctx, &data, err);
    if (e == NULL)
      return -1;
    memcpy (p, data + in_block, n);
    blkcache_put (img->cache, e);
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static struct nbdkit_filter filter = {
  .name              = "xz",
  .longname          = "blockkit xz filter",
  .description       = "Random read access to an xz compressed image",
  .unload            = xz_unload,
  .config            = xz_config,
  .config_help       = xz_config_help,
  .open              = xz_open,
  .close             = xz_close,
  .prepare           = xz_prepare,
  .get_size          = xz_get_size,
  DECOMPRESSED_IMAGE_CAPABILITIES,
  .pread             = xz_pread,
};

NBDKIT_REGISTER_FILTER (filter)
