/* blockkit: decompressing one xz block read from the layer below.
 *
 * The index says where a block starts in the compressed file and how
 * big it is both ways, so a block can be decoded on its own: read its
 * header, set up liblzma's block decoder with the filters the header
 * names and the sizes the index gives (liblzma then refuses a block
 * whose data disagrees), and feed it the compressed bytes in chunks.
 * Whole blocks go to the block cache (xz_dec_block); the sequential
 * reader of single-block files keeps a decoder open and asks for more as
 * the client reads on (xz_dec_read).  Every data error becomes EIO with
 * a message saying where in the file it happened.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <lzma.h>

#include <nbdkit-filter.h>

#include "xz.h"

/* Compressed bytes read from below at a time: one request for a typical
 * block, a bounded buffer for a huge one.
 */
#define IN_CHUNK (4 * 1024 * 1024)

static const char *
data_error (lzma_ret r)
{
  switch (r) {
  case LZMA_DATA_ERROR:
    return "corrupt data (bad compressed data, sizes or check)";
  case LZMA_BUF_ERROR:
    return "truncated data";
  case LZMA_OPTIONS_ERROR:
    return "unsupported or corrupt block options";
  case LZMA_MEM_ERROR:
    return "out of memory";
  case LZMA_MEMLIMIT_ERROR:
    return "the block needs too much memory";
  case LZMA_UNSUPPORTED_CHECK:
    return "unsupported check type";
  default:
    return "unexpected liblzma error";
  }
}

static int
fail (struct xz_dec *d, const char *what, int err, int *errp)
{
  nbdkit_error ("xz: block at compressed offset %" PRIu64
                " (uncompressed %" PRIu64 "): %s",
                d->b->coff, d->b->uoff, what);
  *errp = err;
  return -1;
}

/* Refills the input buffer from below when the decoder has used it up. */
static int
refill (struct xz_dec *d, nbdkit_next *next, int *err)
{
  uint64_t n;

  if (d->strm.avail_in > 0 || d->cread >= d->b->total)
    return 0;
  n = d->b->total - d->cread;
  if (n > d->in_size)
    n = d->in_size;
  if (next->pread (next, d->in, n, d->b->coff + d->cread, 0, err) == -1) {
    nbdkit_error ("xz: reading the file below at %" PRIu64 ": %s",
                  d->b->coff + d->cread, strerror (*err));
    return -1;
  }
  d->strm.next_in = d->in;
  d->strm.avail_in = n;
  d->cread += n;
  return 0;
}

int
xz_dec_start (struct xz_dec *d, nbdkit_next *next,
              const struct xz_block *b, int *err)
{
  lzma_stream init = LZMA_STREAM_INIT;
  uint32_t hsize;
  lzma_ret r;
  size_t i;

  memset (d, 0, sizeof *d);
  d->b = b;
  d->strm = init;
  for (i = 0; i <= LZMA_FILTERS_MAX; ++i)
    d->filters[i].id = LZMA_VLI_UNKNOWN;
  d->in_size = b->total < IN_CHUNK ? b->total : IN_CHUNK;
  d->in = malloc (d->in_size);
  if (d->in == NULL) {
    *err = errno;
    nbdkit_error ("xz: malloc: %m");
    return -1;
  }
  if (refill (d, next, err) == -1)
    return -1;

  /* The first byte gives the header size; 0 would be the start of an
   * index, which the index said is a block.
   */
  if (d->in[0] == 0)
    return fail (d, "no block header where the index says a block starts",
                 EIO, err);
  hsize = lzma_block_header_size_decode (d->in[0]);
  if (hsize > d->strm.avail_in)
    return fail (d, "the block header is larger than the block", EIO, err);
  d->block.version = 1;
  d->block.check = b->check;
  d->block.filters = d->filters;
  d->block.header_size = hsize;
  r = lzma_block_header_decode (&d->block, NULL, d->in);
  if (r != LZMA_OK)
    return fail (d, r == LZMA_DATA_ERROR ? "corrupt block header (bad CRC)"
                 : data_error (r), EIO, err);
  /* From here on the filters array holds allocated options. */
  d->started = true;
  if (d->block.uncompressed_size != LZMA_VLI_UNKNOWN &&
      d->block.uncompressed_size != b->usize)
    return fail (d, "the block header and the index disagree on its size",
                 EIO, err);
  d->block.uncompressed_size = b->usize;
  r = lzma_block_compressed_size (&d->block, b->unpadded);
  if (r != LZMA_OK)
    return fail (d, "the block header and the index disagree on its "
                 "compressed size", EIO, err);
  if (lzma_raw_decoder_memusage (d->filters) > XZ_DEC_MEMLIMIT)
    return fail (d, "the block's filters need more than 1 GiB of memory",
                 ENOMEM, err);
  r = lzma_block_decoder (&d->strm, &d->block);
  if (r != LZMA_OK)
    return fail (d, data_error (r), r == LZMA_MEM_ERROR ? ENOMEM : EIO, err);
  d->strm.next_in += hsize;
  d->strm.avail_in -= hsize;
  return 0;
}

/* Runs the decoder until OUT (N bytes) is full, or, with TO_END at the
 * end of the block, until the decoder has verified the block's check.
 */
static int
run (struct xz_dec *d, nbdkit_next *next, uint8_t *out, size_t n,
     bool to_end, int *err)
{
  uint8_t spare;
  lzma_action action;
  lzma_ret r;

  if (to_end) {
    /* Nothing more may come out: a byte of room catches a block that
     * is longer than declared (liblzma catches it too, with the size
     * set; this keeps the loop simple).
     */
    out = &spare;
    n = 1;
  }
  if (d->finished)
    return to_end ? 0 : fail (d, "read beyond the end of the block",
                              EIO, err);
  d->strm.next_out = out;
  d->strm.avail_out = n;
  for (;;) {
    if (!to_end && d->strm.avail_out == 0)
      return 0;
    if (refill (d, next, err) == -1)
      return -1;
    /* With all the input given, FINISH lets liblzma say "truncated"
     * (LZMA_BUF_ERROR) instead of waiting for more.
     */
    action = d->strm.avail_in == 0 && d->cread >= d->b->total
      ? LZMA_FINISH : LZMA_RUN;
    r = lzma_code (&d->strm, action);
    if (r == LZMA_STREAM_END) {
      if (to_end ? d->strm.avail_out != 1 : d->strm.avail_out != 0)
        return fail (d, "the block ends before its declared size",
                     EIO, err);
      d->finished = true;
      return 0;
    }
    if (r != LZMA_OK)
      return fail (d, r == LZMA_BUF_ERROR
                   ? "truncated block (the compressed data ends early)"
                   : data_error (r),
                   r == LZMA_MEM_ERROR ? ENOMEM : EIO, err);
    if (to_end && d->strm.avail_out != 1)
      return fail (d, "the block is longer than its declared size",
                   EIO, err);
  }
}

int
xz_dec_read (struct xz_dec *d, nbdkit_next *next,
             uint8_t *out, size_t n, int *err)
{
  if (n > d->b->usize - d->upos)
    return fail (d, "read beyond the end of the block", EIO, err);
  if (n > 0 && run (d, next, out, n, false, err) == -1)
    return -1;
  d->upos += n;
  /* The check (CRC32, CRC64 or SHA-256) comes after the data: verify it
   * as soon as the last byte is out, so that a bad block is reported
   * even by a reader that never asks for more.
   */
  if (d->upos == d->b->usize && run (d, next, NULL, 0, true, err) == -1)
    return -1;
  return 0;
}

void
xz_dec_end (struct xz_dec *d)
{
  if (d->started)
    lzma_filters_free (d->filters, NULL);
  lzma_end (&d->strm);
  free (d->in);
  d->in = NULL;
  d->started = false;
}

uint8_t *
xz_dec_block (nbdkit_next *next, const struct xz_block *b, int *err)
{
  struct xz_dec d;
  uint8_t *out;

  if (b->usize > SIZE_MAX) {
    *err = ENOMEM;
    nbdkit_error ("xz: block too large for this machine");
    return NULL;
  }
  out = malloc (b->usize ? b->usize : 1);
  if (out == NULL) {
    *err = ENOMEM;
    nbdkit_error ("xz: cannot allocate %" PRIu64 " bytes for a block: %m",
                  b->usize);
    return NULL;
  }
  if (xz_dec_start (&d, next, b, err) == -1 ||
      xz_dec_read (&d, next, out, b->usize, err) == -1) {
    xz_dec_end (&d);
    free (out);
    return NULL;
  }
  xz_dec_end (&d);
  return out;
}
