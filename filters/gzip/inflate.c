/* blockkit: decompressing a .gz file from the layer below into a file.
 *
 * gzip has no index: byte N of the image can only be found by inflating
 * everything before it.  So the filter inflates the file once, reading it
 * from below in large sequential chunks (cheap over a remote plugin too),
 * and writes the result to a temporary file that reads are served from.
 *
 * A .gz file may hold several members one after another (`cat a.gz b.gz`
 * is valid and means the concatenated data, as gunzip reads it); zero
 * bytes after the last member are accepted as padding (tape and some
 * tools add them).  Anything else — a bad header, corrupt deflate data,
 * a CRC or length mismatch, a file that ends early, trailing garbage —
 * is an error that names what and where.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <nbdkit-filter.h>

#include "gzip.h"

/* Sequential reads from below and writes to the temporary file. */
#define CHUNK (4 * 1024 * 1024)

struct inflater {
  nbdkit_next *next;
  uint64_t csize;         /* the compressed file's size */
  uint64_t cpos;          /* compressed bytes read so far */
  uint8_t *in;
  z_stream z;
};

/* Gives zlib more input when it has used up what it had.  Returns 0 at
 * the end of the file (nothing more to give), 1 if there is input.
 */
static int
fill (struct inflater *f)
{
  uint64_t n;
  int err;

  if (f->z.avail_in > 0)
    return 1;
  if (f->cpos >= f->csize)
    return 0;
  n = f->csize - f->cpos;
  if (n > CHUNK)
    n = CHUNK;
  if (f->next->pread (f->next, f->in, n, f->cpos, 0, &err) == -1) {
    nbdkit_error ("gzip: reading the file below at %" PRIu64 ": %s",
                  f->cpos, strerror (err));
    return -1;
  }
  f->z.next_in = f->in;
  f->z.avail_in = n;
  f->cpos += n;
  return 1;
}

/* The compressed offset of the next byte zlib will read. */
static uint64_t
where (const struct inflater *f)
{
  return f->cpos - f->z.avail_in;
}

static int
write_all (int fd, const uint8_t *buf, size_t n, uint64_t offset)
{
  while (n > 0) {
    ssize_t r = pwrite (fd, buf, n, offset);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("gzip: writing the uncompressed data to the temporary "
                    "file (set TMPDIR to a directory with room for it): %m");
      return -1;
    }
    buf += r;
    n -= r;
    offset += r;
  }
  return 0;
}

/* After the end of a member: true if another member follows, false if
 * the file ends here (perhaps after zero padding), -1 on garbage.
 */
static int
another_member (struct inflater *f)
{
  for (;;) {
    int r = fill (f);

    if (r <= 0)
      return r;
    if (f->z.next_in[0] == 0x1f)     /* the first byte of a gzip header */
      break;
    if (f->z.next_in[0] != 0) {
      nbdkit_error ("gzip: trailing garbage after the compressed data "
                    "at offset %" PRIu64, where (f));
      return -1;
    }
    /* Skip zero bytes; only zeroes may follow once they start. */
    while (f->z.avail_in > 0 && f->z.next_in[0] == 0) {
      f->z.next_in++;
      f->z.avail_in--;
    }
    if (f->z.avail_in > 0) {
      nbdkit_error ("gzip: trailing garbage after the compressed data "
                    "at offset %" PRIu64, where (f));
      return -1;
    }
  }
  return 1;
}

int
gz_inflate_to_fd (nbdkit_next *next, int fd, uint64_t *size)
{
  struct inflater f = { .next = next };
  uint8_t *out = NULL;
  uint64_t opos = 0;
  unsigned members = 0;
  int64_t csize;
  int r, ret = -1;
  bool inited = false;

  csize = next->get_size (next);
  if (csize == -1)
    return -1;
  if (csize == 0) {
    nbdkit_error ("gzip: the file below is empty, not a gzip file");
    return -1;
  }
  f.csize = csize;
  f.in = malloc (CHUNK);
  out = malloc (CHUNK);
  if (f.in == NULL || out == NULL) {
    nbdkit_error ("gzip: malloc: %m");
    goto out;
  }
  /* 16 + MAX_WBITS: gzip headers and trailers only (a raw zlib stream is
   * not a .gz file).
   */
  if (inflateInit2 (&f.z, 16 + MAX_WBITS) != Z_OK) {
    nbdkit_error ("gzip: inflateInit2: %s", f.z.msg ? f.z.msg : "failed");
    goto out;
  }
  inited = true;

  for (;;) {
    /* One member. */
    members++;
    do {
      int more = fill (&f);

      if (more == -1)
        goto out;
      /* Even with no input left, zlib may still have output to give
       * (it reads ahead); only when it can make no progress at all is
       * the file cut short.
       */
      f.z.next_out = out;
      f.z.avail_out = CHUNK;
      r = inflate (&f.z, Z_NO_FLUSH);
      if (r == Z_BUF_ERROR && !more) {
        nbdkit_error ("gzip: the file is truncated (it ends inside gzip "
                      "member %u, after %" PRIu64 " uncompressed bytes)",
                      members, opos);
        goto out;
      }
      if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
        nbdkit_error ("gzip: %s at compressed offset about %" PRIu64
                      " (member %u): %s",
                      r == Z_MEM_ERROR ? "out of memory" :
                      "corrupt gzip data", where (&f), members,
                      f.z.msg ? f.z.msg : "unknown error");
        goto out;
      }
      if (write_all (fd, out, CHUNK - f.z.avail_out, opos) == -1)
        goto out;
      opos += CHUNK - f.z.avail_out;
    } while (r != Z_STREAM_END);

    r = another_member (&f);
    if (r == -1)
      goto out;
    if (r == 0)
      break;
    if (inflateReset (&f.z) != Z_OK) {
      nbdkit_error ("gzip: inflateReset failed");
      goto out;
    }
  }
  nbdkit_debug ("gzip: %" PRIu64 " bytes compressed, %" PRIu64
                " uncompressed, %u member(s)", f.csize, opos, members);
  *size = opos;
  ret = 0;
 out:
  if (inited)
    inflateEnd (&f.z);
  free (f.in);
  free (out);
  return ret;
}
