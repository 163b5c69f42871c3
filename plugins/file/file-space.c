/* blockkit: the file plugin's allocation requests: zeroing (punching
 * holes, fallocate's zero range, BLKZEROOUT), trimming (punching holes,
 * BLKDISCARD) and mapping holes for block status (SEEK_DATA/SEEK_HOLE).
 * Each way that turns out unsupported on this file is remembered in the
 * handle and not tried again.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* fallocate */
#endif
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>

#ifdef __linux__
#include <linux/fs.h>           /* BLKDISCARD, BLKZEROOUT */
#include <linux/falloc.h>       /* FALLOC_FL_* */
#endif

#include "file.h"
#include "minmax.h"

/* Errors that mean "this way of doing it is not available here". */
static bool
is_unsupported (int err)
{
  return err == EOPNOTSUPP || err == ENOTSUP || err == ENOSYS ||
    err == ENOTTY || err == EINVAL || err == ENODEV;
}

#ifdef FALLOC_FL_PUNCH_HOLE
/* Try fallocate(MODE).  Returns 1 done, 0 not supported (and clears
 * *FLAG), -1 real error.
 */
static int
try_fallocate (struct handle *h, int mode, bool *flag,
               uint64_t offset, uint64_t count, const char *what)
{
  if (!*flag)
    return 0;
  for (;;) {
    if (fallocate (h->fd, mode, offset, count) == 0)
      return 1;
    if (errno != EINTR)
      break;
  }
  if (is_unsupported (errno)) {
    /* EINVAL on block devices is usually misalignment, which says
     * nothing about other requests: only remember real "unsupported".
     */
    if (errno != EINVAL)
      *flag = false;
    nbdkit_debug ("file: %s: fallocate %s: %m", h->is_block_device ?
                  "block device" : "file", what);
    return 0;
  }
  FILE_ERROR ("fallocate %s: %m", what);
  return -1;
}
#endif

int
file_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  int r;

#ifdef FALLOC_FL_PUNCH_HOLE
  /* Punching a hole both zeroes and frees: best when allowed.  On block
   * devices it never falls back to writing, so it is always fast.
   */
  if (flags & NBDKIT_FLAG_MAY_TRIM) {
    r = try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       &h->can_punch_hole, offset, count, "punch hole");
    if (r == -1)
      return -1;
    if (r == 1)
      goto done;
  }
#endif

#ifdef FALLOC_FL_ZERO_RANGE
  /* Zeroes while keeping (or making) the range allocated. */
  r = try_fallocate (h, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                     &h->can_zero_range, offset, count, "zero range");
  if (r == -1)
    return -1;
  if (r == 1)
    goto done;
#endif

#ifdef FALLOC_FL_PUNCH_HOLE
  /* Regular files without ZERO_RANGE: punch a hole, then allocate it
   * again so the caller still gets allocated blocks.
   */
  if (!h->is_block_device && h->can_punch_hole && h->can_fallocate) {
    r = try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       &h->can_punch_hole, offset, count, "punch hole");
    if (r == -1)
      return -1;
    if (r == 1) {
      r = try_fallocate (h, FALLOC_FL_KEEP_SIZE, &h->can_fallocate,
                         offset, count, "allocate");
      if (r == -1)
        return -1;
      /* Even if re-allocation is unsupported, the range reads as zero. */
      goto done;
    }
  }
#endif

#ifdef BLKZEROOUT
  /* BLKZEROOUT may make the kernel write zeroes itself: never when the
   * client asked for a fast zero.
   */
  if (h->is_block_device && h->can_zeroout &&
      !(flags & NBDKIT_FLAG_FAST_ZERO)) {
    uint64_t range[2] = { offset, count };

    if (ioctl (h->fd, BLKZEROOUT, range) == 0)
      goto done;
    if (!is_unsupported (errno)) {
      FILE_ERROR ("ioctl BLKZEROOUT: %m");
      return -1;
    }
    if (errno != EINVAL)
      h->can_zeroout = false;
  }
#endif

  /* Let the server fall back to writing zeroes (or, for a fast zero
   * request, tell the client this would not be fast).
   */
  errno = (flags & NBDKIT_FLAG_FAST_ZERO) ? ENOTSUP : EOPNOTSUPP;
  return -1;

 done:
  if ((flags & NBDKIT_FLAG_FUA) && file_do_flush (h) == -1)
    return -1;
  file_evict (h, offset, count, true);
  return 0;
}

int
file_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;

  /* Trim is advisory: if it cannot be done, doing nothing is right. */
#ifdef BLKDISCARD
  if (h->is_block_device) {
    if (h->can_discard) {
      uint64_t range[2] = { offset, count };
      if (ioctl (h->fd, BLKDISCARD, range) == -1) {
        if (!is_unsupported (errno)) {
          FILE_ERROR ("ioctl BLKDISCARD: %m");
          return -1;
        }
        if (errno != EINVAL)
          h->can_discard = false;
      }
    }
    goto done;
  }
#endif

#ifdef FALLOC_FL_PUNCH_HOLE
  if (try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     &h->can_punch_hole, offset, count, "punch hole") == -1)
    return -1;
  goto done;                    /* silence "unused label" on all paths */
#endif

 done:
  if ((flags & NBDKIT_FLAG_FUA) && file_do_flush (h) == -1)
    return -1;
  return 0;
}

int
file_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
#ifdef SEEK_HOLE
  struct handle *h = handle;
  const uint64_t end = offset + count;
  const bool req_one = flags & NBDKIT_FLAG_REQ_ONE;

  while (offset < end) {
    off_t pos;

    /* Where does the next data begin? */
    pos = lseek (h->fd, offset, SEEK_DATA);
    if (pos == -1) {
      if (errno != ENXIO) {
        FILE_ERROR ("lseek SEEK_DATA: %m");
        return -1;
      }
      /* No data after OFFSET: a hole to the end. */
      pos = end;
    }
    if ((uint64_t) pos > offset) {
      uint64_t hole_end = MIN ((uint64_t) pos, end);
      if (nbdkit_add_extent (extents, offset, hole_end - offset,
                             NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1)
        return -1;
      offset = hole_end;
      if (req_one)
        break;
      continue;
    }

    /* Data at OFFSET: where does it end? */
    pos = lseek (h->fd, offset, SEEK_HOLE);
    if (pos == -1) {
      if (errno != ENXIO) {
        FILE_ERROR ("lseek SEEK_HOLE: %m");
        return -1;
      }
      pos = end;
    }
    if ((uint64_t) pos <= offset)   /* the file changed under us */
      pos = offset + 1;
    {
      uint64_t data_end = MIN ((uint64_t) pos, end);
      if (nbdkit_add_extent (extents, offset, data_end - offset, 0) == -1)
        return -1;
      offset = data_end;
    }
    if (req_one)
      break;
  }
  return 0;
#else
  errno = ENOTSUP;
  return -1;
#endif
}

