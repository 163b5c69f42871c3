/* blockkit: the data plugin's evaluator, which writes a (simplified)
 * expression tree into an allocator: the disk (see data.h, parse.c).
 *
 * The semantics are nbdkit 1.32's, byte for byte:
 *
 *   - A cursor starts at 0.  Bytes, strings, words, files and script
 *     output are written at the cursor and move it on; @N moves it to N
 *     (relative to the start of the enclosing group), @+N and @-N by N,
 *     @^N up to a multiple of N.
 *   - A group, a repeated item, a slice and a \name are each
 *     evaluated on their own, into a scratch allocator, as a disk
 *     of their own whose size is the furthest point they reached; that
 *     image is then copied in at the cursor, zeroes included (so
 *     "1 2 3 @0 (@1 9)" gives 0 9 3: the group's first byte is a zero
 *     it never wrote).  Copies are made one destination page at a
 *     time, and a piece of zeroes is copied as a zero request, which
 *     leaves holes where nbdkit leaves them (except into allocator=zstd, which like
 *     nbdkit's copies zeroes as allocated data).
 *   - X * N is N copies of X's image; X[N:M] the bytes N to M-1 of it;
 *     X -> \name binds the name to X in the current scope (a group,
 *     variable or name is a scope; it sees the bindings around it, and
 *     its own vanish at its end); \name is the image of what the name
 *     was bound to, evaluated where it was bound.  ($VAR was replaced
 *     by a group when parsing.)
 *
 * A name's image is made once and kept, since the expression behind it
 * cannot change (scripts must be idempotent, as nbdkit documents): a
 * chain of names that each use the previous one twice costs linear
 * time, not exponential.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* pipe2 */
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
#include <signal.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "data.h"
#include "allocator.h"
#include "cleanup.h"
#include "minmax.h"
#include "sparse.h"

/* Copies of a repeated image are prepared in memory up to this size. */
#define MAX_BUFFERED (1024 * 1024)
#define PAGE SPARSE_PAGE_SIZE

static struct allocator *
default_scratch (void)
{
  return allocator_sparse_new ();
}

struct allocator *(*data_new_scratch) (void) = default_scratch;

/* A name bound by ->.  Bindings form linked lists: a scope is the
 * pointer to its newest binding, so one made later never changes what
 * an earlier binding saw (ENV).
 */
struct binding {
  struct binding *next;         /* older bindings visible here */
  const char *name;
  const struct node *expr;
  struct binding *env;          /* the scope where it was bound */
  struct allocator *image;      /* made on first use */
  uint64_t image_len;
  struct binding *all_next;     /* every binding, for freeing */
};

struct evaluator {
  struct binding *all;
};

struct cursor {
  struct allocator *a;
  uint64_t origin;              /* where the enclosing group starts */
  uint64_t pos;                 /* where the next byte goes */
  uint64_t max;                 /* furthest point reached */
};

static int eval_item (struct evaluator *ev, const struct node *n,
                      struct binding **scope, struct cursor *c);
static int eval_list (struct evaluator *ev, const struct node *list,
                      struct binding *scope, struct cursor *c);

static int
too_large (void)
{
  nbdkit_error ("data: the expression goes beyond the largest "
                "possible disk (2^63-1 bytes)");
  errno = EFBIG;
  return -1;
}

static void
note_max (struct cursor *c)
{
  if (c->pos > c->max)
    c->max = c->pos;
}

static int
advance (struct cursor *c, uint64_t n)
{
  if (n > DATA_LIMIT - c->pos)
    return too_large ();
  c->pos += n;
  note_max (c);
  return 0;
}

/* Bytes the expression wrote itself: allocated even if zero. */
static int
write_bytes (struct cursor *c, const void *buf, uint64_t len)
{
  if (len > DATA_LIMIT - c->pos)
    return too_large ();
  if (len > 0 && c->a->f->write (c->a, buf, len, c->pos, false) == -1)
    return -1;
  return advance (c, len);
}

static int
fill_bytes (struct cursor *c, int byte, uint64_t len)
{
  if (len > DATA_LIMIT - c->pos)
    return too_large ();
  if (len > 0 && c->a->f->fill (c->a, byte, len, c->pos) == -1)
    return -1;
  return advance (c, len);
}

/* LEN bytes at BUF, COUNT times, written from copies prepared in one
 * buffer so that ( "ab" ) * 1G takes few calls.
 */
static int
write_repeated (struct cursor *c, const unsigned char *buf, uint64_t len,
                uint64_t count)
{
  CLEANUP_FREE unsigned char *chunk = NULL;
  uint64_t per_chunk, i;

  if (len == 0 || count == 0)
    return 0;
  if (count > (DATA_LIMIT - c->pos) / len)
    return too_large ();
  per_chunk = MAX (UINT64_C (1), MAX_BUFFERED / len);
  per_chunk = MIN (count, per_chunk);
  chunk = malloc (per_chunk * len);
  if (chunk == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  for (i = 0; i < per_chunk; ++i)
    memcpy (chunk + i * len, buf, len);
  while (count > 0) {
    uint64_t n = MIN (count, per_chunk);
    if (write_bytes (c, chunk, n * len) == -1)
      return -1;
    count -= n;
  }
  return 0;
}

/* ---------------------------------------------------------------- */
/* Copying images in. */

/* Zero requests for neighbouring ranges are merged into one. */
struct copier {
  struct cursor *c;
  uint64_t zero_start, zero_len;
};

/* Into an allocator that copies zeroes as data (zstd, as nbdkit's
 * does), zeroes up to this much are written; beyond, a zero request,
 * rather than compressing terabytes of zero pages one by one.
 */
#define MAX_ZEROES_AS_DATA (UINT64_C (256) * 1024 * 1024)

static int
copier_flush (struct copier *cp)
{
  struct allocator *a = cp->c->a;
  static const unsigned char zeroes[PAGE];
  uint64_t len = cp->zero_len, dest = cp->zero_start;

  cp->zero_len = 0;
  if (len == 0)
    return 0;
  if (!a->f->copy_zeroes_as_data || len > MAX_ZEROES_AS_DATA)
    return a->f->zero (a, len, dest);
  while (len > 0) {
    uint64_t n = MIN (len, (uint64_t) PAGE);
    if (a->f->write (a, zeroes, n, dest, false) == -1)
      return -1;
    dest += n;
    len -= n;
  }
  return 0;
}

static int
copier_zero (struct copier *cp, uint64_t dest, uint64_t len)
{
  if (cp->zero_len > 0 && cp->zero_start + cp->zero_len == dest) {
    cp->zero_len += len;
    return 0;
  }
  if (copier_flush (cp) == -1)
    return -1;
  cp->zero_start = dest;
  cp->zero_len = len;
  return 0;
}

/* Bytes copied in, split where the destination's pages begin: a piece
 * of zeroes becomes a zero request (which frees the page if it is then
 * all zero), anything else a write.  That is how nbdkit copies, page
 * by page of the destination, freeing pages left all zero.
 */
static int
copier_data (struct copier *cp, const unsigned char *buf, uint64_t len,
             uint64_t dest)
{
  struct allocator *a = cp->c->a;

  while (len > 0) {
    uint64_t n = MIN (len, PAGE - dest % PAGE);

    if (sparse_is_zero (buf, n)) {
      if (copier_zero (cp, dest, n) == -1)
        return -1;
    }
    else if (copier_flush (cp) == -1 ||
             a->f->write (a, buf, n, dest, false) == -1)
      return -1;
    buf += n;
    dest += n;
    len -= n;
  }
  return 0;
}

struct blit_ctx {
  struct copier *cp;
  struct allocator *src;
  uint64_t src_start, dest_start;
  unsigned char *page;
};

static int
blit_run (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  struct blit_ctx *b = opaque;
  uint64_t end = offset + length;

  if (type & NBDKIT_EXTENT_ZERO)
    return copier_zero (b->cp, b->dest_start + (offset - b->src_start),
                        length);
  while (offset < end) {
    /* To the end of this destination page. */
    uint64_t dest = b->dest_start + (offset - b->src_start);
    uint64_t n = MIN (end - offset, PAGE - dest % PAGE);
    if (b->src->f->read (b->src, b->page, n, offset) == -1 ||
        copier_data (b->cp, b->page, n, dest) == -1)
      return -1;
    offset += n;
  }
  return 0;
}

/* Copy LEN bytes at SRC_START of SRC to DEST in the cursor's disk. */
static int
blit (struct allocator *src, uint64_t src_start, uint64_t len,
      struct cursor *c, uint64_t dest)
{
  struct copier cp = { .c = c };
  struct blit_ctx b = {
    .cp = &cp, .src = src, .src_start = src_start, .dest_start = dest,
  };
  int r;

  if (len == 0)
    return 0;
  b.page = malloc (PAGE);
  if (b.page == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  r = src->f->extents (src, len, src_start, blit_run, &b);
  free (b.page);
  if (r == -1)
    return -1;
  return copier_flush (&cp);
}

static int
only_zero_run (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  bool *has_data = opaque;

  if (!(type & NBDKIT_EXTENT_ZERO)) {
    *has_data = true;
    return 1;                   /* seen enough */
  }
  return 0;
}

/* COUNT copies of the LEN byte image SRC at the cursor. */
static int
blit_repeated (struct allocator *src, uint64_t len, uint64_t count,
               struct cursor *c)
{
  bool has_data = false;
  CLEANUP_FREE unsigned char *buf = NULL;
  struct copier cp = { .c = c };
  uint64_t i, per_buf;

  if (len == 0 || count == 0)
    return 0;
  if (count > (DATA_LIMIT - c->pos) / len)
    return too_large ();
  if (src->f->extents (src, len, 0, only_zero_run, &has_data) == -1)
    return -1;

  /* All zero: one zero request, however many copies (( @4 ) * 31G). */
  if (!has_data) {
    if (copier_zero (&cp, c->pos, len * count) == -1 ||
        copier_flush (&cp) == -1)
      return -1;
    return advance (c, len * count);
  }

  if (len > MAX_BUFFERED) {
    for (i = 0; i < count; ++i) {
      if (blit (src, 0, len, c, c->pos) == -1 || advance (c, len) == -1)
        return -1;
    }
    return 0;
  }

  /* Copies prepared in a buffer, copied in a buffer at a time. */
  per_buf = MAX (UINT64_C (1), MAX_BUFFERED / len);
  per_buf = MIN (count, per_buf);
  buf = malloc (per_buf * len);
  if (buf == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  if (src->f->read (src, buf, len, 0) == -1)
    return -1;
  for (i = 1; i < per_buf; ++i)
    memcpy (buf + i * len, buf, len);
  while (count > 0) {
    uint64_t n = MIN (count, per_buf);
    if (copier_data (&cp, buf, n * len, c->pos) == -1 ||
        advance (c, n * len) == -1)
      return -1;
    count -= n;
  }
  return copier_flush (&cp);
}

/* ---------------------------------------------------------------- */
/* Files and scripts. */

/* Read FD to its end, or until SKIP + LIMIT bytes (when HAS_LIMIT):
 * the first SKIP bytes are dropped, the rest written at the cursor.
 * *TOTAL is the number of bytes read.
 */
static int
stream_in (int fd, const char *what, struct cursor *c, uint64_t skip,
           bool has_limit, uint64_t limit, uint64_t *total)
{
  const size_t bufsize = 1024 * 1024;
  CLEANUP_FREE unsigned char *buf = malloc (bufsize);

  *total = 0;
  if (buf == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  for (;;) {
    size_t want = bufsize;
    uint64_t from, to;
    ssize_t r;

    if (has_limit) {
      if (*total >= skip + limit)
        return 0;
      want = MIN ((uint64_t) want, skip + limit - *total);
    }
    r = read (fd, buf, want);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("data: %s: read: %m", what);
      return -1;
    }
    if (r == 0)
      return 0;
    from = *total;
    to = *total + r;
    *total = to;
    if (to > skip) {
      uint64_t s = MAX (from, skip);
      if (write_bytes (c, buf + (s - from), to - s) == -1)
        return -1;
    }
  }
}

/* Run SCRIPT with /bin/sh, its output on *FD. */
static pid_t
start_script (const char *script, int *fd)
{
  int p[2];
  pid_t pid;

  if (pipe2 (p, O_CLOEXEC) == -1) {
    nbdkit_error ("data: <(...): pipe: %m");
    return -1;
  }
  pid = fork ();
  if (pid == -1) {
    nbdkit_error ("data: <(...): fork: %m");
    close (p[0]);
    close (p[1]);
    return -1;
  }
  if (pid == 0) {
    /* Its input is nothing: the server's stdin may be a client. */
    int null = open ("/dev/null", O_RDONLY);
    if (null == -1 || dup2 (null, 0) == -1 || dup2 (p[1], 1) == -1)
      _exit (127);
    signal (SIGPIPE, SIG_DFL);
    execl ("/bin/sh", "sh", "-c", script, (char *) NULL);
    _exit (127);
  }
  close (p[1]);
  *fd = p[0];
  return pid;
}

/* <FILE or <(SCRIPT), or the slice [SKIP:SKIP+LIMIT] of it (cut at the
 * end of the data).  Only what the slice needs is read, so
 * </dev/urandom[:512] and <(yes)[:10] work.
 */
static int
eval_source (const struct node *n, struct cursor *c, uint64_t skip,
             bool has_limit, uint64_t limit)
{
  uint64_t total;
  int fd, r, status;
  pid_t pid = -1;
  const char *what = n->u.str.s;

  if (n->type == N_FILE) {
    fd = open (n->u.str.s, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
      nbdkit_error ("data: <%s: %m", n->u.str.s);
      return -1;
    }
  }
  else {
    what = "<(script)";
    pid = start_script (n->u.str.s, &fd);
    if (pid == -1)
      return -1;
  }

  r = stream_in (fd, what, c, skip, has_limit, limit, &total);
  close (fd);
  if (pid > 0) {
    while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
      ;
    /* A script cut short by a slice dies of SIGPIPE: not a failure. */
    if (r == 0 && !(has_limit && total >= skip + limit) &&
        (!WIFEXITED (status) || WEXITSTATUS (status) != 0)) {
      nbdkit_error ("data: <(%s): the script failed (%s %d)", n->u.str.s,
                    WIFEXITED (status) ? "exit status" : "signal",
                    WIFEXITED (status) ? WEXITSTATUS (status)
                    : WTERMSIG (status));
      return -1;
    }
  }
  /* Slices of files are cut at their end, as nbdkit does, and so are
   * a script's [:M]; but a script's [N:M] with N > 0 must lie within
   * its output.
   */
  if (r == 0 && n->type == N_SCRIPT &&
      (total < skip || (skip > 0 && has_limit && total < skip + limit))) {
    nbdkit_error ("data: [N:M] does not describe a valid slice: %s "
                  "has only %" PRIu64 " bytes", what, total);
    return -1;
  }
  return r;
}

/* ---------------------------------------------------------------- */
/* Images of sub-expressions. */

/* Evaluate N on its own into a new scratch allocator *IMG of *LEN
 * bytes.  SCOPE is what it sees; bindings it makes stay inside.
 */
static int
make_image (struct evaluator *ev, const struct node *n,
            struct binding *scope, struct allocator **img, uint64_t *len)
{
  struct cursor sub = { 0 };
  int r;

  sub.a = data_new_scratch ();
  if (sub.a == NULL)
    return -1;
  if (n->type == N_GROUP)
    r = eval_list (ev, n, scope, &sub);
  else
    r = eval_item (ev, n, &scope, &sub);
  if (r == -1) {
    sub.a->f->free (sub.a);
    return -1;
  }
  *img = sub.a;
  *len = MAX (sub.max, sub.pos);
  return 0;
}

/* N's image copied in at the cursor, [START:END) of it if SLICE. */
static int
copy_image (struct evaluator *ev, const struct node *n,
            struct binding *scope, struct cursor *c, uint64_t count,
            const struct node *slice)
{
  struct allocator *img;
  uint64_t len, start = 0;
  int r;

  if (make_image (ev, n, scope, &img, &len) == -1)
    return -1;
  if (slice) {
    uint64_t end = slice->u.slice.has_end ? slice->u.slice.end : len;
    if (slice->u.slice.start > end || end > len) {
      nbdkit_error ("data: [N:M] does not describe a valid slice: "
                    "[%" PRIu64 ":%" PRIu64 "] of %" PRIu64 " bytes",
                    slice->u.slice.start, end, len);
      img->f->free (img);
      return -1;
    }
    start = slice->u.slice.start;
    len = end - start;
  }
  if (count == 1) {
    if (len > DATA_LIMIT - c->pos)
      r = too_large ();
    else if (blit (img, start, len, c, c->pos) == -1)
      r = -1;
    else
      r = advance (c, len);
  }
  else
    r = blit_repeated (img, len, count, c);
  img->f->free (img);
  return r;
}

/* A slice of a byte, string, fill, file or script: the bytes are
 * written directly (and so allocated), as nbdkit does.
 */
static int
slice_direct (const struct node *slice, struct cursor *c)
{
  const struct node *n = slice->u.slice.child;
  uint64_t start = slice->u.slice.start, end, len;

  if (n->type == N_FILE || n->type == N_SCRIPT)
    return eval_source (n, c, start, slice->u.slice.has_end,
                        slice->u.slice.has_end
                        ? slice->u.slice.end - start : 0);

  len = n->type == N_BYTE ? 1
    : n->type == N_STRING ? n->u.str.len : n->u.fill.count;
  end = slice->u.slice.has_end ? slice->u.slice.end : len;
  if (start > end || end > len) {
    nbdkit_error ("data: [N:M] does not describe a valid slice: "
                  "[%" PRIu64 ":%" PRIu64 "] of %" PRIu64 " bytes",
                  start, end, len);
    return -1;
  }
  if (n->type == N_BYTE)
    return write_bytes (c, &n->u.byte, end - start);
  if (n->type == N_STRING)
    return write_bytes (c, n->u.str.s + start, end - start);
  /* A slice of a fill: written like a string up to a buffer's worth;
   * beyond that as a fill, rather than allocating gigabytes of zeroes.
   */
  if (end - start > MAX_BUFFERED)
    return fill_bytes (c, n->u.fill.byte, end - start);
  return write_repeated (c, &n->u.fill.byte, 1, end - start);
}

static struct binding *
lookup_name (struct binding *scope, const char *name)
{
  for (; scope; scope = scope->next)
    if (strcmp (scope->name, name) == 0)
      return scope;
  return NULL;
}

static int
eval_name (struct evaluator *ev, const struct node *n, struct binding *scope,
           struct cursor *c)
{
  struct binding *b = lookup_name (scope, n->u.str.s);

  if (b == NULL) {
    nbdkit_error ("data: \\%s is not defined (names are defined with "
                  "'EXPR -> \\%s' before they are used, and vanish at "
                  "the end of their group)", n->u.str.s, n->u.str.s);
    return -1;
  }
  if (b->image == NULL &&
      make_image (ev, b->expr, b->env, &b->image, &b->image_len) == -1)
    return -1;
  if (b->image_len > DATA_LIMIT - c->pos)
    return too_large ();
  if (blit (b->image, 0, b->image_len, c, c->pos) == -1)
    return -1;
  return advance (c, b->image_len);
}

/* ---------------------------------------------------------------- */

static int
eval_item (struct evaluator *ev, const struct node *n,
           struct binding **scope, struct cursor *c)
{
  switch (n->type) {
  case N_BYTE:
    return write_bytes (c, &n->u.byte, 1);

  case N_STRING:
    return write_bytes (c, n->u.str.s, n->u.str.len);

  case N_FILL:
    return fill_bytes (c, n->u.fill.byte, n->u.fill.count);

  case N_FILE: case N_SCRIPT:
    return eval_source (n, c, 0, false, 0);

  case N_OFFSET:
    c->pos = c->origin;
    return advance (c, n->u.num);

  case N_FORWARD:
    return advance (c, n->u.num);

  case N_BACK:
    if (n->u.num > c->pos - c->origin) {
      nbdkit_error ("data: @-%" PRIu64 " moves before the start of "
                    "the %s (the cursor is at %" PRIu64 ")", n->u.num,
                    c->origin == 0 ? "disk" : "group", c->pos - c->origin);
      return -1;
    }
    c->pos -= n->u.num;
    return 0;

  case N_ALIGN: {
    uint64_t rel = c->pos - c->origin;
    uint64_t up = (rel + n->u.num - 1) & ~(n->u.num - 1);
    if (up < rel)
      return too_large ();
    return advance (c, up - rel);
  }

  case N_GROUP:
    return copy_image (ev, n, *scope, c, 1, NULL);

  case N_REPEAT:
    if (n->u.rep.child->type == N_STRING)
      return write_repeated (c, (const unsigned char *)
                             n->u.rep.child->u.str.s,
                             n->u.rep.child->u.str.len, n->u.rep.count);
    return copy_image (ev, n->u.rep.child, *scope, c, n->u.rep.count, NULL);

  case N_SLICE:
    /* [N:N] is empty wherever N is, as in nbdkit. */
    if (n->u.slice.has_end && n->u.slice.start == n->u.slice.end)
      return 0;
    switch (n->u.slice.child->type) {
    case N_BYTE: case N_STRING: case N_FILL: case N_FILE: case N_SCRIPT:
      return slice_direct (n, c);
    default:
      return copy_image (ev, n->u.slice.child, *scope, c, 1, n);
    }

  case N_ASSIGN: {
    struct binding *b = calloc (1, sizeof *b);
    if (b == NULL) {
      nbdkit_error ("data: calloc: %m");
      return -1;
    }
    b->name = n->u.assign.name;
    b->expr = n->u.assign.child;
    b->env = *scope;
    b->next = *scope;
    b->all_next = ev->all;
    ev->all = b;
    *scope = b;
    return 0;
  }

  case N_NAME:
    return eval_name (ev, n, *scope, c);
  }
  abort ();
}

/* The items of LIST in order, in place, in a new scope. */
static int
eval_list (struct evaluator *ev, const struct node *list,
           struct binding *scope, struct cursor *c)
{
  size_t i;

  for (i = 0; i < list->u.list.n; ++i)
    if (eval_item (ev, list->u.list.v[i], &scope, c) == -1)
      return -1;
  return 0;
}

int
data_eval (const struct node *root, struct allocator *a, uint64_t *size)
{
  struct evaluator ev = { 0 };
  struct cursor c = { .a = a };
  int r;

  r = eval_list (&ev, root, NULL, &c);
  while (ev.all) {
    struct binding *b = ev.all;
    ev.all = b->all_next;
    if (b->image)
      b->image->f->free (b->image);
    free (b);
  }
  note_max (&c);
  *size = c.max;
  return r;
}
