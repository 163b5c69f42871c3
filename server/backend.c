/* blockkit: what every layer of the chain has in common.
 *
 * backend_* functions are how the protocol code (and, through next_ops,
 * filters) call into a layer: they own the context lifecycle, cache the
 * answers of the can_* queries for the life of a context, and check the
 * preconditions every layer may rely on (a range inside the export, a
 * write only on a writable context, and so on).
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void
backend_init (struct backend *b, struct backend *next, size_t index,
              const char *filename, void *dl, const char *type)
{
  b->next = next;
  b->i = index;
  b->type = type;
  b->filename = strdup (filename);
  if (b->filename == NULL) {
    perror ("strdup");
    exit (EXIT_FAILURE);
  }
  b->dl = dl;
  debug ("registering %s %s", type, filename);
}

/* Checks the layer's short name and runs its .load. */
void
backend_load (struct backend *b, const char *name, void (*load) (void))
{
  size_t i, len;

  if (name == NULL || *name == '\0') {
    fprintf (stderr, "%s: %s: %s has no name\n",
             program_name, b->filename, b->type);
    exit (EXIT_FAILURE);
  }
  len = strlen (name);
  for (i = 0; i < len; ++i) {
    unsigned char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
      fprintf (stderr, "%s: %s: %s name \"%s\" may only contain "
               "letters, digits, '-' and '_'\n",
               program_name, b->filename, b->type, name);
      exit (EXIT_FAILURE);
    }
  }
  b->name = strdup (name);
  if (b->name == NULL) {
    perror ("strdup");
    exit (EXIT_FAILURE);
  }

  apply_debug_flags (b->dl, name);

  threadlocal_set_name (b->name);
  if (load) {
    debug ("load");
    load ();
  }
  threadlocal_set_name (NULL);
}

void
backend_unload (struct backend *b, void (*unload) (void))
{
  threadlocal_set_name (b->name);
  if (unload) {
    debug ("unload");
    unload ();
  }
  threadlocal_set_name (NULL);
  free (b->name);
  free (b->filename);
}

struct context *
backend_open (struct backend *b, int readonly, const char *exportname,
              struct connection *conn)
{
  struct context *c = calloc (1, sizeof *c);

  if (c == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  c->b = b;
  c->conn = conn;
  c->readonly = readonly;
  c->exportsize = -1;
  c->can_write = readonly ? 0 : -1;
  c->can_flush = c->is_rotational = c->can_trim = c->can_zero = -1;
  c->can_fast_zero = c->can_extents = c->can_fua = -1;
  c->can_multi_conn = c->can_cache = -1;

  debug ("%s: open readonly=%d exportname=\"%s\"", b->name, readonly,
         exportname);
  c->handle = b->open (c, readonly, exportname, 0);
  if (c->handle == NULL) {
    /* A layer that failed to open has nothing below it left open. */
    if (c->c_next)
      backend_close (c->c_next);
    free (c);
    return NULL;
  }
  c->state = CONTEXT_OPEN;
  return c;
}

/* Prepare runs from the plugin outwards, so that a layer's .prepare can
 * already use the layer below.
 */
int
backend_prepare (struct context *c)
{
  struct backend *b = c->b;

  assert (c->state & CONTEXT_OPEN);
  if (c->state & (CONTEXT_PREPARED | CONTEXT_FAILED))
    return c->state & CONTEXT_FAILED ? -1 : 0;

  if (c->c_next && backend_prepare (c->c_next) == -1)
    return -1;

  debug ("%s: prepare readonly=%d", b->name, c->readonly);
  if (b->prepare && b->prepare (c, c->readonly) == -1) {
    c->state |= CONTEXT_FAILED;
    return -1;
  }
  c->state |= CONTEXT_PREPARED;
  return 0;
}

/* Finalize runs from the client side inwards, the reverse of prepare. */
int
backend_finalize (struct context *c)
{
  struct backend *b = c->b;

  if (c->state & CONTEXT_FAILED)
    return -1;

  if (c->state & CONTEXT_PREPARED) {
    debug ("%s: finalize", b->name);
    if (b->finalize && b->finalize (c) == -1) {
      c->state |= CONTEXT_FAILED;
      return -1;
    }
    c->state &= ~CONTEXT_PREPARED;
  }

  if (c->c_next)
    return backend_finalize (c->c_next);
  return 0;
}

void
backend_close (struct context *c)
{
  struct backend *b = c->b;
  struct context *c_next = c->c_next;

  assert (c->state & CONTEXT_OPEN);
  debug ("%s: close", b->name);
  b->close (c);
  free (c);
  if (c_next)
    backend_close (c_next);
}

bool
backend_valid_range (struct context *c, uint64_t offset, uint32_t count)
{
  assert (c->exportsize >= 0);
  return count > 0 && offset <= (uint64_t) c->exportsize &&
    offset + count <= (uint64_t) c->exportsize;
}

const char *
backend_export_description (struct context *c)
{
  assert (c->state & CONTEXT_OPEN);
  return c->b->export_description (c);
}

int64_t
backend_get_size (struct context *c)
{
  if (c->exportsize == -1)
    c->exportsize = c->b->get_size (c);
  return c->exportsize;
}

int
backend_block_size (struct context *c, uint32_t *minimum,
                    uint32_t *preferred, uint32_t *maximum)
{
  if (!c->block_size_known) {
    if (c->b->block_size (c, &c->minimum_block_size,
                          &c->preferred_block_size,
                          &c->maximum_block_size) == -1)
      return -1;
    c->block_size_known = true;
  }
  *minimum = c->minimum_block_size;
  *preferred = c->preferred_block_size;
  *maximum = c->maximum_block_size;
  return 0;
}

/* Each can_* query is asked once per context and remembered. */
#define CACHED_QUERY(field, expr)               \
  do {                                          \
    if (c->field == -1)                         \
      c->field = (expr);                        \
    return c->field;                            \
  } while (0)

int
backend_can_write (struct context *c)
{
  CACHED_QUERY (can_write, c->b->can_write (c));
}

int
backend_can_flush (struct context *c)
{
  CACHED_QUERY (can_flush, c->b->can_flush (c));
}

int
backend_is_rotational (struct context *c)
{
  CACHED_QUERY (is_rotational, c->b->is_rotational (c));
}

int
backend_can_trim (struct context *c)
{
  int r = backend_can_write (c);

  if (r != 1)
    return r == -1 ? -1 : (c->can_trim = 0);
  CACHED_QUERY (can_trim, c->b->can_trim (c));
}

int
backend_can_zero (struct context *c)
{
  int r = backend_can_write (c);

  if (r != 1)
    return r == -1 ? -1 : (c->can_zero = NBDKIT_ZERO_NONE);
  CACHED_QUERY (can_zero, c->b->can_zero (c));
}

int
backend_can_fast_zero (struct context *c)
{
  int r = backend_can_zero (c);

  if (r <= NBDKIT_ZERO_NONE)
    return r == -1 ? -1 : (c->can_fast_zero = 0);
  CACHED_QUERY (can_fast_zero, c->b->can_fast_zero (c));
}

int
backend_can_extents (struct context *c)
{
  CACHED_QUERY (can_extents, c->b->can_extents (c));
}

int
backend_can_fua (struct context *c)
{
  int r = backend_can_write (c);

  if (r != 1)
    return r == -1 ? -1 : (c->can_fua = NBDKIT_FUA_NONE);
  CACHED_QUERY (can_fua, c->b->can_fua (c));
}

int
backend_can_multi_conn (struct context *c)
{
  CACHED_QUERY (can_multi_conn, c->b->can_multi_conn (c));
}

int
backend_can_cache (struct context *c)
{
  CACHED_QUERY (can_cache, c->b->can_cache (c));
}

/* The data calls.  The protocol layer has already checked the request
 * against the export; these asserts document (and, in debug builds,
 * enforce) what every layer may assume, including for calls a filter
 * makes on its own.
 */
int
backend_pread (struct context *c, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (backend_valid_range (c, offset, count));
  assert (flags == 0);
  return c->b->pread (c, buf, count, offset, flags, err);
}

int
backend_pwrite (struct context *c, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (c->can_write == 1);
  assert (backend_valid_range (c, offset, count));
  assert (!(flags & ~NBDKIT_FLAG_FUA));
  assert (!(flags & NBDKIT_FLAG_FUA) || c->can_fua > NBDKIT_FUA_NONE);
  return c->b->pwrite (c, buf, count, offset, flags, err);
}

int
backend_flush (struct context *c, uint32_t flags, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (c->can_flush == 1);
  assert (flags == 0);
  return c->b->flush (c, flags, err);
}

int
backend_trim (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (c->can_write == 1 && c->can_trim == 1);
  assert (backend_valid_range (c, offset, count));
  assert (!(flags & ~NBDKIT_FLAG_FUA));
  return c->b->trim (c, count, offset, flags, err);
}

int
backend_zero (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (c->can_write == 1 && c->can_zero > NBDKIT_ZERO_NONE);
  assert (backend_valid_range (c, offset, count));
  assert (!(flags & ~(NBDKIT_FLAG_MAY_TRIM | NBDKIT_FLAG_FUA |
                      NBDKIT_FLAG_FAST_ZERO)));
  if (flags & NBDKIT_FLAG_FAST_ZERO && c->can_fast_zero != 1) {
    *err = ENOTSUP;
    return -1;
  }
  return c->b->zero (c, count, offset, flags, err);
}

int
backend_extents (struct context *c, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (backend_valid_range (c, offset, count));
  assert (!(flags & ~NBDKIT_FLAG_REQ_ONE));
  if (c->can_extents == 0) {
    /* Without extents everything is data. */
    if (nbdkit_add_extent (extents, offset, count, 0) == -1) {
      *err = errno ? errno : ENOMEM;
      return -1;
    }
    return 0;
  }
  return c->b->extents (c, count, offset, flags, extents, err);
}

int
backend_cache (struct context *c, uint32_t count, uint64_t offset,
               uint32_t flags, int *err)
{
  assert (c->state & CONTEXT_PREPARED);
  assert (c->can_cache > NBDKIT_CACHE_NONE);
  assert (backend_valid_range (c, offset, count));
  assert (flags == 0);
  return c->b->cache (c, count, offset, flags, err);
}
