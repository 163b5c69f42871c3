/* blockkit: allocator= parsing, the sparse allocator (a thin layer over
 * sparse.c) and the block status helpers shared by all allocators (see
 * allocator.h).
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"
#include "sparse.h"
#include "minmax.h"

/* ---------------------------------------------------------------- */
/* Merging runs for block status. */

void
extent_merger_add (struct extent_merger *m, uint64_t offset,
                   uint64_t length, uint32_t type)
{
  if (m->result != 0 || length == 0)
    return;
  if (m->length > 0 && m->type == type && m->offset + m->length == offset) {
    m->length += length;
    return;
  }
  if (m->length > 0)
    m->result = m->fn (m->opaque, m->offset, m->length, m->type);
  m->offset = offset;
  m->length = length;
  m->type = type;
}

int
extent_merger_finish (struct extent_merger *m)
{
  if (m->result == 0 && m->length > 0)
    m->result = m->fn (m->opaque, m->offset, m->length, m->type);
  m->length = 0;
  return m->result < 0 ? -1 : 0;
}

struct plugin_extents_ctx {
  struct nbdkit_extents *extents;
  bool req_one;
};

static int
plugin_add_extent (void *opaque, uint64_t offset, uint64_t length,
                   uint32_t type)
{
  struct plugin_extents_ctx *ctx = opaque;

  if (nbdkit_add_extent (ctx->extents, offset, length, type) == -1)
    return -1;
  /* With REQ_ONE the first extent is all the client wants. */
  return ctx->req_one ? 1 : 0;
}

int
allocator_plugin_extents (struct allocator *a, uint32_t count,
                          uint64_t offset, uint32_t flags,
                          struct nbdkit_extents *extents)
{
  struct plugin_extents_ctx ctx = {
    .extents = extents,
    .req_one = flags & NBDKIT_FLAG_REQ_ONE,
  };

  return a->f->extents (a, count, offset, plugin_add_extent, &ctx);
}

/* ---------------------------------------------------------------- */
/* allocator=sparse */

struct sparse_allocator {
  struct allocator a;
  struct sparse_array *sa;
};

static void
sp_free (struct allocator *a)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;

  sparse_array_free (s->sa);
  free (s);
}

static int
sp_set_size_hint (struct allocator *a, uint64_t size)
{
  return 0;
}

static int
sp_read (struct allocator *a, void *buf, uint64_t count, uint64_t offset)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;

  sparse_array_read (s->sa, buf, count, offset);
  return 0;
}

static int
sp_write (struct allocator *a, const void *buf, uint64_t count,
          uint64_t offset, bool keep_holes)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;
  int r;

  if (keep_holes)
    r = sparse_array_write (s->sa, buf, count, offset);
  else
    r = sparse_array_write_alloc (s->sa, buf, count, offset);
  if (r == -1)
    nbdkit_error ("allocator=sparse: write: %m");
  return r;
}

static int
sp_fill (struct allocator *a, int c, uint64_t count, uint64_t offset)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;

  if (sparse_array_fill (s->sa, c, count, offset) == -1) {
    nbdkit_error ("allocator=sparse: fill: %m");
    return -1;
  }
  return 0;
}

static int
sp_zero (struct allocator *a, uint64_t count, uint64_t offset)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;

  sparse_array_zero (s->sa, count, offset);
  return 0;
}

/* The sparse array reports allocated and missing runs; allocated pages
 * that hold only zeroes are told apart here by looking at them, as
 * nbdkit does (they are rare: only written zeroes make them).
 *
 * The runs are collected first, a batch at a time, and only looked at
 * and passed on once sparse_array_extents has returned: it holds the
 * array's read lock while calling back, and taking that lock again
 * (to look at a page, or in FN, which may read this very array) could
 * deadlock behind a waiting writer.
 */
#define RUNS_PER_BATCH 1024

struct sp_run {
  uint64_t offset, length;
  bool allocated;
};

struct sp_batch {
  struct sp_run run[RUNS_PER_BATCH];
  size_t n;
};

static int
sp_collect (void *opaque, uint64_t offset, uint64_t length, bool allocated)
{
  struct sp_batch *b = opaque;

  b->run[b->n++] = (struct sp_run) { offset, length, allocated };
  return b->n == RUNS_PER_BATCH ? 1 : 0;
}

static int
sp_extents (struct allocator *a, uint64_t count, uint64_t offset,
            allocator_extent_fn fn, void *opaque)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;
  struct extent_merger m = { .fn = fn, .opaque = opaque };
  uint64_t end = offset + count;
  struct sp_batch *b;
  size_t i;

  if (end < offset)
    end = UINT64_MAX;
  b = malloc (sizeof *b);
  if (b == NULL) {
    nbdkit_error ("allocator=sparse: malloc: %m");
    return -1;
  }
  while (offset < end && m.result == 0) {
    b->n = 0;
    if (sparse_array_extents (s->sa, end - offset, offset,
                              sp_collect, b) == -1 || b->n == 0)
      break;
    for (i = 0; i < b->n && m.result == 0; ++i) {
      uint64_t o = b->run[i].offset, e = o + b->run[i].length;

      if (!b->run[i].allocated) {
        extent_merger_add (&m, o, e - o,
                           NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
        continue;
      }
      while (o < e && m.result == 0) {
        uint64_t page_end = (o | (SPARSE_PAGE_SIZE - 1)) + 1;
        uint64_t n = MIN (e, page_end) - o;

        /* The whole page decides, even if only part of it is asked. */
        extent_merger_add (&m, o, n,
                           sparse_array_page_is_zero (s->sa, o)
                           ? NBDKIT_EXTENT_ZERO : 0);
        o += n;
      }
    }
    offset = b->run[b->n - 1].offset + b->run[b->n - 1].length;
  }
  free (b);
  return extent_merger_finish (&m);
}

static int64_t
sp_map (struct allocator *a, uint64_t offset, uint64_t count, int mode,
        struct iovec *iov, int *iovcnt)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;

  return sparse_array_map (s->sa, offset, count, mode, iov, iovcnt);
}

static void
sp_unmap (struct allocator *a)
{
  struct sparse_allocator *s = (struct sparse_allocator *) a;

  sparse_array_unmap (s->sa);
}

static const struct allocator_functions sparse_functions = {
  .name = "sparse",
  .free = sp_free,
  .set_size_hint = sp_set_size_hint,
  .read = sp_read,
  .write = sp_write,
  .fill = sp_fill,
  .zero = sp_zero,
  .extents = sp_extents,
  .map = sp_map,
  .unmap = sp_unmap,
};

struct allocator *
allocator_sparse_new (void)
{
  struct sparse_allocator *s = calloc (1, sizeof *s);

  if (s == NULL) {
    nbdkit_error ("allocator=sparse: calloc: %m");
    return NULL;
  }
  s->a.f = &sparse_functions;
  s->sa = sparse_array_new (SPARSE_MAX_SIZE);
  if (s->sa == NULL) {
    nbdkit_error ("allocator=sparse: cannot create the sparse array: %m");
    free (s);
    return NULL;
  }
  return &s->a;
}

/* ---------------------------------------------------------------- */
/* allocator=NAME[,KEY=VALUE...] */

struct allocator *
allocator_create (const char *spec)
{
  const char *comma = strchr (spec, ',');
  size_t namelen = comma ? (size_t) (comma - spec) : strlen (spec);
  bool mlock = false;

  if (namelen == 6 && strncmp (spec, "malloc", 6) == 0) {
    /* The only parameter anything takes: mlock=true|false. */
    const char *p = comma;

    while (p != NULL) {
      const char *param = p + 1;
      const char *next = strchr (param, ',');
      size_t len = next ? (size_t) (next - param) : strlen (param);
      int b;

      if (len > 6 && strncmp (param, "mlock=", 6) == 0) {
        char value[16];
        if (len - 6 >= sizeof value)
          goto bad_mlock;
        memcpy (value, param + 6, len - 6);
        value[len - 6] = '\0';
        b = nbdkit_parse_bool (value);
        if (b == -1) {
        bad_mlock:
          nbdkit_error ("allocator=%s: mlock= takes a boolean, like "
                        "mlock=true", spec);
          return NULL;
        }
        mlock = b;
      }
      else {
        nbdkit_error ("allocator=%s: allocator=malloc has no parameter "
                      "'%.*s' (only mlock=true)", spec, (int) len, param);
        return NULL;
      }
      p = next;
    }
    return allocator_malloc_new (mlock);
  }

  if ((namelen == 6 && strncmp (spec, "sparse", 6) == 0) ||
      (namelen == 4 && strncmp (spec, "zstd", 4) == 0)) {
    if (comma) {
      nbdkit_error ("allocator=%s: allocator=%.*s takes no parameters",
                    spec, (int) namelen, spec);
      return NULL;
    }
    if (spec[0] == 's')
      return allocator_sparse_new ();
    if (!allocator_have_zstd ()) {
      nbdkit_error ("allocator=zstd: this blockkit was built without "
                    "zstd support (libzstd); use allocator=sparse or "
                    "allocator=malloc");
      errno = ENOTSUP;
      return NULL;
    }
    return allocator_zstd_new ();
  }

  nbdkit_error ("allocator=%s: unknown allocator (expected sparse, "
                "malloc[,mlock=true] or zstd)", spec);
  errno = EINVAL;
  return NULL;
}
