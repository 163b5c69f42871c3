/* blockkit: reading the index of an .xz file through the layer below.
 *
 * An .xz file is one or more streams (plus optional zero padding), each
 * ending with an index that lists its blocks and a footer saying where
 * the index starts.  liblzma's file info decoder knows how to walk that
 * structure backwards from the end of the file; it tells us where to
 * read next (LZMA_SEEK_NEEDED) and we fetch those bytes with
 * next->pread, so the whole file is never read — which is what makes
 * random access cheap over a remote plugin.  The result is flattened
 * into a sorted array of blocks that a binary search maps offsets to.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <lzma.h>

#include <nbdkit-filter.h>

#include "xz.h"

/* Bytes read per request while walking the headers and indexes: an index
 * of a few thousand blocks fits in one read.
 */
#define INDEX_READ_SIZE (256 * 1024)

/* The memory liblzma may use for the decoded index.  A legitimate index
 * needs about 16 bytes a block; this refuses absurd ones.
 */
#define INDEX_MEMLIMIT (UINT64_C (256) << 20)

/* What a liblzma result means when walking the index. */
static const char *
index_error (lzma_ret r)
{
  switch (r) {
  case LZMA_FORMAT_ERROR:
    return "not an xz file, or truncated (no xz stream header or "
      "footer where one should be)";
  case LZMA_OPTIONS_ERROR:
    return "the file uses xz features this liblzma does not support";
  case LZMA_DATA_ERROR:
    return "the file is corrupt (bad stream header, footer or index)";
  case LZMA_BUF_ERROR:
    return "the file is truncated";
  case LZMA_MEMLIMIT_ERROR:
    return "the index is too large";
  case LZMA_MEM_ERROR:
    return "out of memory";
  default:
    return "unexpected liblzma error";
  }
}

static int
walk_index (nbdkit_next *next, uint64_t size, lzma_index **index)
{
  lzma_stream strm = LZMA_STREAM_INIT;
  uint8_t *buf;
  uint64_t pos = 0;
  unsigned rounds = 0;
  lzma_ret r;
  int err, ret = -1;

  buf = malloc (INDEX_READ_SIZE);
  if (buf == NULL) {
    nbdkit_error ("xz: malloc: %m");
    return -1;
  }
  r = lzma_file_info_decoder (&strm, index, INDEX_MEMLIMIT, size);
  if (r != LZMA_OK) {
    nbdkit_error ("xz: cannot start reading the index: %s", index_error (r));
    goto out;
  }
  for (;;) {
    lzma_action action = LZMA_RUN;

    /* A well-formed file needs a handful of seeks per stream; a loop that
     * goes on and on means something is badly wrong.
     */
    if (++rounds > 10000000) {
      nbdkit_error ("xz: reading the index does not terminate");
      goto out;
    }
    if (strm.avail_in == 0) {
      if (pos < size) {
        uint64_t n = size - pos;

        if (n > INDEX_READ_SIZE)
          n = INDEX_READ_SIZE;
        if (next->pread (next, buf, n, pos, 0, &err) == -1) {
          nbdkit_error ("xz: reading the file below at %" PRIu64 ": %s",
                        pos, strerror (err));
          goto out;
        }
        strm.next_in = buf;
        strm.avail_in = n;
        pos += n;
      }
      else
        action = LZMA_FINISH;
    }
    r = lzma_code (&strm, action);
    if (r == LZMA_STREAM_END)
      break;
    if (r == LZMA_SEEK_NEEDED) {
      if (strm.seek_pos > size) {
        nbdkit_error ("xz: the index points beyond the end of the file");
        goto out;
      }
      pos = strm.seek_pos;
      strm.avail_in = 0;
      continue;
    }
    if (r != LZMA_OK) {
      nbdkit_error ("xz: %s", index_error (r));
      goto out;
    }
  }
  ret = 0;
 out:
  lzma_end (&strm);
  free (buf);
  if (ret == -1 && *index) {
    lzma_index_end (*index, NULL);
    *index = NULL;
  }
  return ret;
}

int
xz_index_read (nbdkit_next *next, struct xz_index *idx)
{
  lzma_index *index = NULL;
  lzma_index_iter iter;
  int64_t size;
  lzma_vli count;
  size_t i = 0;

  memset (idx, 0, sizeof *idx);
  size = next->get_size (next);
  if (size == -1)
    return -1;
  /* Stream header (12) + empty index (8) + stream footer (12). */
  if (size < 32) {
    nbdkit_error ("xz: the file below is %" PRIi64 " bytes, too small to be "
                  "an xz file", size);
    return -1;
  }
  if (walk_index (next, size, &index) == -1)
    return -1;

  count = lzma_index_block_count (index);
  if (count > SIZE_MAX / sizeof *idx->blocks) {
    nbdkit_error ("xz: too many blocks");
    lzma_index_end (index, NULL);
    return -1;
  }
  idx->blocks = calloc (count ? count : 1, sizeof *idx->blocks);
  if (idx->blocks == NULL) {
    nbdkit_error ("xz: calloc: %m");
    lzma_index_end (index, NULL);
    return -1;
  }
  idx->nstreams = lzma_index_stream_count (index);
  idx->size = lzma_index_uncompressed_size (index);

  /* Blocks that decompress to nothing can never be read: leave them
   * out, so that the blocks cover the image without gaps or overlaps.
   */
  lzma_index_iter_init (&iter, index);
  while (!lzma_index_iter_next (&iter, LZMA_INDEX_ITER_NONEMPTY_BLOCK)) {
    struct xz_block *b = &idx->blocks[i];

    if (i >= count)
      break;
    b->uoff = iter.block.uncompressed_file_offset;
    b->usize = iter.block.uncompressed_size;
    b->coff = iter.block.compressed_file_offset;
    b->unpadded = iter.block.unpadded_size;
    b->total = iter.block.total_size;
    b->check = iter.stream.flags->check;
    if (!lzma_check_is_supported (b->check)) {
      nbdkit_error ("xz: the file uses check type %d, which this liblzma "
                    "does not support", (int) b->check);
      goto error;
    }
    if ((i > 0 && b->uoff != b[-1].uoff + b[-1].usize) ||
        (i == 0 && b->uoff != 0)) {
      nbdkit_error ("xz: the index has gaps between blocks");
      goto error;
    }
    if (b->usize > idx->max_usize)
      idx->max_usize = b->usize;
    i++;
  }
  idx->nblocks = i;
  if (i > 0 &&
      idx->blocks[i - 1].uoff + idx->blocks[i - 1].usize != idx->size) {
    nbdkit_error ("xz: the index's blocks do not add up to its size");
    goto error;
  }
  lzma_index_end (index, NULL);
  nbdkit_debug ("xz: %zu stream(s), %zu non-empty block(s), uncompressed "
                "size %" PRIu64 ", largest block %" PRIu64,
                idx->nstreams, idx->nblocks, idx->size, idx->max_usize);
  return 0;

 error:
  lzma_index_end (index, NULL);
  xz_index_free (idx);
  return -1;
}

void
xz_index_free (struct xz_index *idx)
{
  free (idx->blocks);
  memset (idx, 0, sizeof *idx);
}

size_t
xz_index_find (const struct xz_index *idx, uint64_t offset)
{
  size_t lo = 0, hi = idx->nblocks;

  /* The last block whose start is <= offset. */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;

    if (idx->blocks[mid].uoff <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}
