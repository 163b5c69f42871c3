/* blockkit: serving an .xz file that has a single block.
 *
 * A file compressed without --block-size (by a single-threaded xz) is one
 * block, and liblzma can only start decoding a block at its beginning.
 * Rather than hold the whole uncompressed image in memory, such a file
 * is read the way it was written: a decoder moves forwards through the
 * block, and reads ahead of it continue from where it is.  Reading the
 * image from start to end (nbdcopy, qemu-img convert, dd) therefore
 * costs one decompression; a read behind every decoder starts a new one
 * from the beginning, which is the cost the filter warns about.
 *
 * Clients reorder requests (several in flight, answered by parallel
 * workers), so each decoder keeps the last XZSEQ_WINDOW bytes it made in a
 * ring buffer, and a few decoders at different positions are kept (a
 * multi-connection nbdcopy reads several regions at once).  All of it is
 * behind one mutex: the decoding cannot be parallel anyway.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "xz.h"

#define NR_CURSORS 4


struct cursor {
  struct xz_dec dec;
  bool live;              /* dec is started and pos is valid */
  uint64_t pos;           /* bytes of the block produced so far */
  uint8_t *ring;          /* the last min(pos, window) of them */
  uint64_t used;          /* clock at last use, for replacement */
};

struct xzseq {
  pthread_mutex_t lock;
  const struct xz_block *b;
  size_t window;
  uint64_t clock;
  uint64_t restarts;      /* decoders started from the beginning */
  struct cursor cur[NR_CURSORS];
};

struct xzseq *
xzseq_new (const struct xz_block *b)
{
  struct xzseq *s = calloc (1, sizeof *s);

  if (s == NULL) {
    nbdkit_error ("xz: calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&s->lock, NULL);
  s->b = b;
  /* A block smaller than the window ends up wholly in it. */
  s->window = b->usize < XZSEQ_WINDOW ? (size_t) b->usize : XZSEQ_WINDOW;
  if (s->window == 0)
    s->window = 1;
  return s;
}

static void
cursor_stop (struct cursor *c)
{
  if (c->live)
    xz_dec_end (&c->dec);
  c->live = false;
}

void
xzseq_free (struct xzseq *s)
{
  size_t i;

  if (s == NULL)
    return;
  for (i = 0; i < NR_CURSORS; ++i) {
    cursor_stop (&s->cur[i]);
    free (s->cur[i].ring);
  }
  nbdkit_debug ("xz: sequential reader started %" PRIu64 " decoder(s) "
                "from the beginning of the block", s->restarts);
  pthread_mutex_destroy (&s->lock);
  free (s);
}

/* Copies N bytes of the block starting at FROM out of the ring. */
static void
ring_copy (struct xzseq *s, struct cursor *c, uint64_t from, size_t n,
           uint8_t *out)
{
  size_t start = from % s->window;
  size_t first = n < s->window - start ? n : s->window - start;

  memcpy (out, c->ring + start, first);
  memcpy (out + first, c->ring, n - first);
}

/* The decoder that can serve [rel, ...) with the least work: the one
 * furthest along among those whose window still reaches back to REL.
 * NULL if none can, in which case one has to start from the beginning.
 */
static struct cursor *
best_cursor (struct xzseq *s, uint64_t rel)
{
  struct cursor *best = NULL;
  size_t i;

  for (i = 0; i < NR_CURSORS; ++i) {
    struct cursor *c = &s->cur[i];
    uint64_t kept = c->pos < s->window ? c->pos : s->window;

    if (!c->live || c->pos - kept > rel)
      continue;
    if (best == NULL || c->pos > best->pos)
      best = c;
  }
  return best;
}

static struct cursor *
new_cursor (struct xzseq *s, nbdkit_next *next, int *err)
{
  struct cursor *c = NULL;
  size_t i;

  for (i = 0; i < NR_CURSORS; ++i) {
    struct cursor *t = &s->cur[i];

    if (!t->live) {
      c = t;
      break;
    }
    if (c == NULL || t->used < c->used)
      c = t;
  }
  cursor_stop (c);
  if (c->ring == NULL) {
    c->ring = malloc (s->window);
    if (c->ring == NULL) {
      *err = ENOMEM;
      nbdkit_error ("xz: malloc: %m");
      return NULL;
    }
  }
  if (xz_dec_start (&c->dec, next, s->b, err) == -1) {
    xz_dec_end (&c->dec);
    return NULL;
  }
  c->live = true;
  c->pos = 0;
  s->restarts++;
  return c;
}

static int
seq_read_locked (struct xzseq *s, nbdkit_next *next, uint8_t *buf,
                 uint64_t rel, uint32_t count, int *err)
{
  uint64_t end = rel + count, p = rel, target = end;
  struct cursor *c;

  c = best_cursor (s, rel);
  if (c == NULL && (c = new_cursor (s, next, err)) == NULL)
    return -1;
  c->used = ++s->clock;

  /* What the window still has. */
  if (p < c->pos) {
    uint64_t n = (end < c->pos ? end : c->pos) - p;

    ring_copy (s, c, p, n, buf);
    p += n;
  }
  /* A block that fits in the window is decoded to its end at once, so
   * that its check is verified before any of it is served; a larger one
   * cannot be, and is served as it is decoded.
   */
  if (s->b->usize <= s->window)
    target = s->b->usize;
  /* The rest is decoded into the ring (skipped bytes too: they stay
   * there for a reordered request that wants them next) and copied out.
   */
  while (c->pos < target) {
    uint64_t pos0 = c->pos;
    size_t at = pos0 % s->window;
    size_t k = s->window - at;

    if (k > target - pos0)
      k = target - pos0;
    if (xz_dec_read (&c->dec, next, c->ring + at, k, err) == -1) {
      cursor_stop (c);
      return -1;
    }
    c->pos += k;
    if (c->pos > p && p < end) {
      uint64_t stop = c->pos < end ? c->pos : end;

      memcpy (buf + (p - rel), c->ring + at + (p - pos0), stop - p);
      p = stop;
    }
  }
  return 0;
}

int
xzseq_read (struct xzseq *s, nbdkit_next *next,
            uint8_t *buf, uint32_t count, uint64_t offset, int *err)
{
  int r;

  pthread_mutex_lock (&s->lock);
  r = seq_read_locked (s, next, buf, offset - s->b->uoff, count, err);
  pthread_mutex_unlock (&s->lock);
  return r;
}
