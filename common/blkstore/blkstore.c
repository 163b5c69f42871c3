/* blockkit: the block store shared by the cow and cache filters
 * (see blkstore.h).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "blkmap.h"
#include "blkstore.h"
#include "cleanup.h"
#include "minmax.h"

/* Enough locks that unrelated blocks rarely share one. */
#define NR_LOCKS BLKSTORE_MAX_LOCK_RANGE

struct blkstore {
  const char *who;
  uint32_t blksize;
  int fd;
  pthread_mutex_t map_lock;     /* guards map and size */
  struct blkmap map;
  uint64_t size;
  pthread_mutex_t block_locks[NR_LOCKS];
};

int
blkstore_parse_block_size (const char *key, const char *value,
                           uint32_t *size)
{
  int64_t r = nbdkit_parse_size (value);

  if (r == -1) {
    nbdkit_error ("%s=%s: not a size", key, value);
    return -1;
  }
  if (r < BLKSTORE_MIN_BLOCK_SIZE || r > BLKSTORE_MAX_BLOCK_SIZE ||
      !is_power_of_2 (r)) {
    nbdkit_error ("%s=%s: the block size must be a power of 2 between "
                  "%d and %d bytes", key, value,
                  BLKSTORE_MIN_BLOCK_SIZE, BLKSTORE_MAX_BLOCK_SIZE);
    return -1;
  }
  *size = (uint32_t) r;
  return 0;
}

struct blkstore *
blkstore_new (const char *who, uint32_t blksize)
{
  const char *dir = getenv ("TMPDIR");
  CLEANUP_FREE char *template = NULL;
  struct blkstore *bs;
  size_t i;

  if (dir == NULL || *dir == '\0')
    dir = "/var/tmp";
  if (asprintf (&template, "%s/blockkit-%s-XXXXXX", dir, who) == -1) {
    nbdkit_error ("%s: asprintf: %m", who);
    return NULL;
  }
  bs = calloc (1, sizeof *bs);
  if (bs == NULL) {
    nbdkit_error ("%s: calloc: %m", who);
    return NULL;
  }
  bs->who = who;
  bs->blksize = blksize;
  bs->fd = mkostemp (template, O_CLOEXEC);
  if (bs->fd == -1) {
    nbdkit_error ("%s: cannot create a temporary file %s (set TMPDIR to "
                  "a writable directory): %m", who, template);
    free (bs);
    return NULL;
  }
  /* Nobody else needs the name: the space goes back when we exit. */
  unlink (template);
  pthread_mutex_init (&bs->map_lock, NULL);
  for (i = 0; i < NR_LOCKS; ++i)
    pthread_mutex_init (&bs->block_locks[i], NULL);
  nbdkit_debug ("%s: block store in %s (unlinked), block size %" PRIu32,
                who, template, blksize);
  return bs;
}

void
blkstore_free (struct blkstore *bs)
{
  size_t i;

  if (bs == NULL)
    return;
  close (bs->fd);
  blkmap_free (&bs->map);
  pthread_mutex_destroy (&bs->map_lock);
  for (i = 0; i < NR_LOCKS; ++i)
    pthread_mutex_destroy (&bs->block_locks[i]);
  free (bs);
}

uint32_t
blkstore_block_size (const struct blkstore *bs)
{
  return bs->blksize;
}

int
blkstore_set_size (struct blkstore *bs, uint64_t size)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&bs->map_lock);
  uint64_t nblocks = size / bs->blksize + (size % bs->blksize != 0);

  if (blkmap_grow (&bs->map, nblocks) == -1) {
    nbdkit_error ("%s: cannot grow the block map to %" PRIu64
                  " blocks: %m", bs->who, nblocks);
    return -1;
  }
  if (size > bs->size)
    bs->size = size;
  return 0;
}

uint64_t
blkstore_size (struct blkstore *bs)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&bs->map_lock);
  return bs->size;
}

uint64_t
blkstore_nblocks (struct blkstore *bs)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&bs->map_lock);
  return bs->map.nblocks;
}

unsigned
blkstore_get (struct blkstore *bs, uint64_t blk)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&bs->map_lock);
  return blkmap_get (&bs->map, blk);
}

void
blkstore_set (struct blkstore *bs, uint64_t blk, unsigned state)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&bs->map_lock);
  blkmap_set (&bs->map, blk, state);
}

uint64_t
blkstore_count (struct blkstore *bs, unsigned state)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&bs->map_lock);
  return bs->map.count[state & 3];
}

int
blkstore_read_part (struct blkstore *bs, uint64_t blk, void *buf,
                    uint32_t count, uint32_t blkoff)
{
  uint64_t offset = blk * bs->blksize + blkoff;
  size_t done = 0;

  while (done < count) {
    ssize_t r = pread (bs->fd, (char *) buf + done, count - done,
                       offset + done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("%s: reading block %" PRIu64 " from the temporary "
                    "file: %m", bs->who, blk);
      return -1;
    }
    if (r == 0) {
      /* Past the end of the file: the tail of a block stored as a hole. */
      memset ((char *) buf + done, 0, count - done);
      break;
    }
    done += r;
  }
  return 0;
}

int
blkstore_write_part (struct blkstore *bs, uint64_t blk, const void *buf,
                     uint32_t count, uint32_t blkoff)
{
  uint64_t offset = blk * bs->blksize + blkoff;
  size_t done = 0;

  while (done < count) {
    ssize_t r = pwrite (bs->fd, (const char *) buf + done, count - done,
                        offset + done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("%s: writing block %" PRIu64 " to the temporary "
                    "file: %m", bs->who, blk);
      return -1;
    }
    done += r;
  }
  return 0;
}

int
blkstore_read (struct blkstore *bs, uint64_t blk, void *buf)
{
  return blkstore_read_part (bs, blk, buf, bs->blksize, 0);
}

int
blkstore_write (struct blkstore *bs, uint64_t blk, const void *buf)
{
  return blkstore_write_part (bs, blk, buf, bs->blksize, 0);
}

int
blkstore_discard (struct blkstore *bs, uint64_t blk)
{
#if defined HAVE_FALLOCATE && defined FALLOC_FL_PUNCH_HOLE
  if (fallocate (bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 blk * bs->blksize, bs->blksize) == 0)
    return 0;
  nbdkit_debug ("%s: could not punch a hole for block %" PRIu64 ": %m",
                bs->who, blk);
#else
  (void) bs;
  (void) blk;
#endif
  return -1;
}

int
blkstore_zero (struct blkstore *bs, uint64_t blk)
{
  CLEANUP_FREE char *zeroes = NULL;

  if (blkstore_discard (bs, blk) == 0)
    return 0;
  zeroes = calloc (1, bs->blksize);
  if (zeroes == NULL) {
    nbdkit_error ("%s: calloc: %m", bs->who);
    return -1;
  }
  return blkstore_write (bs, blk, zeroes);
}

uint64_t
blkstore_allocated (struct blkstore *bs)
{
  struct stat st;

  if (fstat (bs->fd, &st) == -1)
    return 0;
  return (uint64_t) st.st_blocks * 512;
}

static pthread_mutex_t *
lock_of (struct blkstore *bs, uint64_t blk)
{
  return &bs->block_locks[blk % NR_LOCKS];
}

void
blkstore_lock (struct blkstore *bs, uint64_t blk)
{
  pthread_mutex_lock (lock_of (bs, blk));
}

bool
blkstore_trylock (struct blkstore *bs, uint64_t blk)
{
  return pthread_mutex_trylock (lock_of (bs, blk)) == 0;
}

void
blkstore_unlock (struct blkstore *bs, uint64_t blk)
{
  pthread_mutex_unlock (lock_of (bs, blk));
}

/* Consecutive blocks use consecutive locks, wrapping at the end of the
 * table.  Taking them in table order (the wrapped ones, at the start of
 * the table, first) means two threads taking ranges never wait for each
 * other in a circle; everyone else holds one lock and only tries others.
 */
void
blkstore_lock_range (struct blkstore *bs, uint64_t blk, uint32_t n)
{
  uint32_t first = blk % NR_LOCKS;
  uint32_t wrapped, i;

  if (n > NR_LOCKS)
    abort ();
  wrapped = first + n > NR_LOCKS ? first + n - NR_LOCKS : 0;
  for (i = 0; i < wrapped; ++i)
    pthread_mutex_lock (&bs->block_locks[i]);
  for (i = first; i < first + n - wrapped; ++i)
    pthread_mutex_lock (&bs->block_locks[i]);
}

void
blkstore_unlock_range (struct blkstore *bs, uint64_t blk, uint32_t n)
{
  uint32_t i;

  for (i = 0; i < n; ++i)
    blkstore_unlock (bs, blk + i);
}

bool
blkstore_same_lock (struct blkstore *bs, uint64_t blk, uint64_t other)
{
  return lock_of (bs, blk) == lock_of (bs, other);
}
