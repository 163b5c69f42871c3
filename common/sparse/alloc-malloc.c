/* blockkit: allocator=malloc[,mlock=true], the disk as one flat region
 * of memory (see allocator.h).
 *
 * The region is anonymous memory from mmap rather than the heap, so
 * that it starts out zero without being touched, can grow in place
 * (mremap), and, with mlock=true, is locked in RAM exactly as far as
 * it reaches.  It grows when a write goes past its end (the data
 * plugin does not know its size until the expression is evaluated);
 * the memory plugin sizes it once at startup through set_size_hint.
 * Nothing is sparse: block status reports everything as data, as
 * nbdkit's malloc allocator does.
 *
 * Reads and writes copy under a shared lock, so they run in parallel;
 * only growing the region, which may move it, takes the lock
 * exclusively.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* mremap */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/mman.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"
#include "minmax.h"

struct malloc_allocator {
  struct allocator a;
  bool mlock;
  pthread_rwlock_t lock;
  unsigned char *bytes;         /* NULL while size == 0 */
  uint64_t size;                /* bytes mapped */
};

static void
m_free (struct allocator *a)
{
  struct malloc_allocator *m = (struct malloc_allocator *) a;

  if (m->bytes)
    munmap (m->bytes, m->size);
  pthread_rwlock_destroy (&m->lock);
  free (m);
}

/* Make the region at least NEW_SIZE bytes.  Caller holds the lock
 * exclusively.
 */
static int
extend (struct malloc_allocator *m, uint64_t new_size)
{
  long pagesize = sysconf (_SC_PAGESIZE);
  uint64_t old_size = m->size;
  void *p;

  if (new_size <= m->size)
    return 0;
  /* Grow geometrically so that a disk written front to back is not
   * remapped once per write.
   */
  if (m->size > 0 && new_size < m->size * 2 && m->size * 2 > m->size)
    new_size = m->size * 2;
  new_size = (new_size + pagesize - 1) & ~(uint64_t) (pagesize - 1);
  if (new_size > SIZE_MAX || new_size == 0) {
    errno = ENOMEM;
    goto err;
  }

  if (m->bytes == NULL)
    /* Not MAP_NORESERVE: a size the machine cannot back should fail
     * here, at startup, as malloc would, not with SIGBUS later.
     */
    p = mmap (NULL, new_size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  else
    p = mremap (m->bytes, m->size, new_size, MREMAP_MAYMOVE);
  if (p == MAP_FAILED)
    goto err;
  m->bytes = p;
  m->size = new_size;

  /* A locked mapping stays locked when mremap grows it, but the new
   * part must be locked (and so faulted in) too.
   */
  if (m->mlock &&
      mlock (m->bytes + old_size, new_size - old_size) == -1) {
    nbdkit_error ("allocator=malloc,mlock=true: mlock of %" PRIu64
                  " bytes: %m (see ulimit -l)", new_size - old_size);
    return -1;
  }
  return 0;

 err:
  nbdkit_error ("allocator=malloc: cannot allocate %" PRIu64 " bytes: %m",
                new_size);
  return -1;
}

static int
m_set_size_hint (struct allocator *a, uint64_t size)
{
  struct malloc_allocator *m = (struct malloc_allocator *) a;
  int r;

  pthread_rwlock_wrlock (&m->lock);
  r = extend (m, size);
  pthread_rwlock_unlock (&m->lock);
  return r;
}

static int
m_read (struct allocator *a, void *buf, uint64_t count, uint64_t offset)
{
  struct malloc_allocator *m = (struct malloc_allocator *) a;
  unsigned char *out = buf;

  pthread_rwlock_rdlock (&m->lock);
  /* Beyond the region everything reads as zero. */
  if (offset < m->size) {
    uint64_t n = MIN (count, m->size - offset);
    memcpy (out, m->bytes + offset, n);
    out += n;
    count -= n;
  }
  memset (out, 0, count);
  pthread_rwlock_unlock (&m->lock);
  return 0;
}

/* Write or fill [OFFSET, OFFSET+COUNT), growing the region first if
 * the range goes past it.  (Zeroing never grows it: past the end
 * everything reads as zero already.)
 */
enum op { OP_WRITE, OP_FILL };

static int
do_op (struct malloc_allocator *m, enum op op, const void *buf, int c,
       uint64_t count, uint64_t offset)
{
  if (count == 0)
    return 0;
  if (offset + count < offset) {
    nbdkit_error ("allocator=malloc: offset out of range");
    errno = ERANGE;
    return -1;
  }

  pthread_rwlock_rdlock (&m->lock);
  while (offset + count > m->size) {
    int r;

    /* Upgrade: drop the shared lock, grow, and look again (another
     * thread may have grown it meanwhile).
     */
    pthread_rwlock_unlock (&m->lock);
    pthread_rwlock_wrlock (&m->lock);
    r = extend (m, offset + count);
    pthread_rwlock_unlock (&m->lock);
    if (r == -1)
      return -1;
    pthread_rwlock_rdlock (&m->lock);
  }
  if (op == OP_WRITE)
    memcpy (m->bytes + offset, buf, count);
  else
    memset (m->bytes + offset, c, count);
  pthread_rwlock_unlock (&m->lock);
  return 0;
}

static int
m_write (struct allocator *a, const void *buf, uint64_t count,
         uint64_t offset, bool keep_holes)
{
  return do_op ((struct malloc_allocator *) a, OP_WRITE, buf, 0,
                count, offset);
}

static int
m_zero (struct allocator *a, uint64_t count, uint64_t offset)
{
  struct malloc_allocator *m = (struct malloc_allocator *) a;

  pthread_rwlock_rdlock (&m->lock);
  if (offset < m->size)
    memset (m->bytes + offset, 0, MIN (count, m->size - offset));
  pthread_rwlock_unlock (&m->lock);
  return 0;
}

static int
m_fill (struct allocator *a, int c, uint64_t count, uint64_t offset)
{
  if (c == 0)
    return m_zero (a, count, offset);
  return do_op ((struct malloc_allocator *) a, OP_FILL, NULL, c,
                count, offset);
}

static int
m_extents (struct allocator *a, uint64_t count, uint64_t offset,
           allocator_extent_fn fn, void *opaque)
{
  if (count == 0)
    return 0;
  return fn (opaque, offset, count, 0) < 0 ? -1 : 0;
}

static const struct allocator_functions malloc_functions = {
  .name = "malloc",
  .free = m_free,
  .set_size_hint = m_set_size_hint,
  .read = m_read,
  .write = m_write,
  .fill = m_fill,
  .zero = m_zero,
  .extents = m_extents,
};

struct allocator *
allocator_malloc_new (bool mlock)
{
  struct malloc_allocator *m = calloc (1, sizeof *m);
  int r;

  if (m == NULL) {
    nbdkit_error ("allocator=malloc: calloc: %m");
    return NULL;
  }
  m->a.f = &malloc_functions;
  m->mlock = mlock;
  r = pthread_rwlock_init (&m->lock, NULL);
  if (r != 0) {
    errno = r;
    nbdkit_error ("allocator=malloc: pthread_rwlock_init: %m");
    free (m);
    return NULL;
  }
  return &m->a;
}
