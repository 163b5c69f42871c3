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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "minmax.h"

/* Under -v, every call into a layer is traced, as "LAYER: CALL ARGS",
 * unless -D nbdkit.backend.controlpath=0 / datapath=0 turns that half
 * off (log.c).  Tested before formatting: free when not verbose.
 */
#define TRACE(flag, c, ...)                                     \
  do {                                                          \
    if (verbose && (flag))                                      \
      trace_call ((c), __VA_ARGS__);                            \
  } while (0)
#define TRACE_CONTROL(c, ...) TRACE (debug_backend_controlpath, c, __VA_ARGS__)
#define TRACE_DATA(c, ...) TRACE (debug_backend_datapath, c, __VA_ARGS__)

static void trace_call (struct context *c, const char *fmt, ...)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (2, 3);

static void
trace_call (struct context *c, const char *fmt, ...)
{
  va_list args;
  char *msg;
  int r;

  va_start (args, fmt);
  r = vasprintf (&msg, fmt, args);
  va_end (args);
  if (r == -1)
    return;
  debug ("%s: %s", c->b->name, msg);
  free (msg);
}

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

/* Prints what `blockkit LAYER --help` says about one layer: its name,
 * file, description and keys (each text ends with exactly one newline).
 */
static void
print_text (const char *text)
{
  const char *t;

  if (text == NULL)
    return;
  printf ("%s", text);
  if ((t = strrchr (text, '\n')) == NULL || t[1])
    printf ("\n");
}

void
backend_print_usage (struct backend *b, const char *longname,
                     const char *description, const char *config_help)
{
  printf ("%s: %s", b->type, b->name);
  if (longname)
    printf (" (%s)", longname);
  printf ("\n(%s)\n", b->filename);
  print_text (description);
  print_text (config_help);
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
  c->next = backend_next_ops;
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
  c->handle = b->open (c, readonly, exportname,
                       conn != NULL && conn->tls != NULL);
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
  int r = 0;

  /* Every layer whose .prepare succeeded is finalized, even when a
   * layer above it failed to prepare or to finalize.
   */
  if (c->state & CONTEXT_PREPARED) {
    debug ("%s: finalize", b->name);
    if (b->finalize && b->finalize (c) == -1) {
      c->state |= CONTEXT_FAILED;
      r = -1;
    }
    c->state &= ~CONTEXT_PREPARED;
  }
  else if (c->state & CONTEXT_FAILED)
    r = -1;

  if (c->c_next && backend_finalize (c->c_next) == -1)
    r = -1;
  return r;
}

void
backend_close (struct context *c)
{
  struct backend *b = c->b;
  struct context *c_next;

  assert (c->state & CONTEXT_OPEN);
  debug ("%s: close", b->name);
  b->close (c);
  /* Read only now: the layer's .close may have taken its next context
   * back (nbdkit_context_set_next (context, NULL)) and closed it itself.
   */
  c_next = c->c_next;
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
  TRACE_CONTROL (c, "export_description");
  return c->b->export_description (c);
}

int64_t
backend_get_size (struct context *c)
{
  if (c->exportsize == -1) {
    TRACE_CONTROL (c, "get_size");
    c->exportsize = c->b->get_size (c);
  }
  return c->exportsize;
}

int
backend_block_size (struct context *c, uint32_t *minimum,
                    uint32_t *preferred, uint32_t *maximum)
{
  if (!c->block_size_known) {
    TRACE_CONTROL (c, "block_size");
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
    if (c->field == -1) {                       \
      TRACE_CONTROL (c, "%s", #field);          \
      c->field = (expr);                        \
    }                                           \
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

/* The data calls.  The protocol layer has already checked each client
 * request against the export; these checks cover what a filter asks of
 * the layer below it on its own, so that a buggy filter gets an error
 * rather than a plugin getting a request it may assume cannot happen.
 */
static bool
check_ready (struct context *c, const char *what, int *err)
{
  if (!(c->state & CONTEXT_PREPARED)) {
    nbdkit_error ("%s: %s called on a context that is not prepared",
                  c->b->name, what);
    *err = EINVAL;
    return false;
  }
  return true;
}

static bool
check_range (struct context *c, const char *what, uint64_t offset,
             uint32_t count, int *err)
{
  if (c->exportsize == -1 && backend_get_size (c) == -1) {
    *err = EIO;
    return false;
  }
  if (!backend_valid_range (c, offset, count)) {
    nbdkit_error ("%s: %s: invalid request: offset %" PRIu64 " count %"
                  PRIu32 " (size %" PRIi64 ")",
                  c->b->name, what, offset, count, c->exportsize);
    *err = EINVAL;
    return false;
  }
  return true;
}

/* Checks that a feature was (or is) granted before it is used. */
static bool
check_feature (struct context *c, const char *what, int r, int min,
               int errnum, int *err)
{
  if (r == -1) {
    *err = EIO;
    return false;
  }
  if (r < min) {
    nbdkit_error ("%s: %s called but not supported", c->b->name, what);
    *err = errnum;
    return false;
  }
  return true;
}

static bool
check_flags (struct context *c, const char *what, uint32_t flags,
             uint32_t allowed, int *err)
{
  if (flags & ~allowed) {
    nbdkit_error ("%s: %s: unexpected flags 0x%" PRIx32,
                  c->b->name, what, flags);
    *err = EINVAL;
    return false;
  }
  if ((flags & NBDKIT_FLAG_FUA) && backend_can_fua (c) <= NBDKIT_FUA_NONE) {
    nbdkit_error ("%s: %s: FUA requested but not supported",
                  c->b->name, what);
    *err = EINVAL;
    return false;
  }
  return true;
}

int
backend_pread (struct context *c, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  if (!check_ready (c, "pread", err) ||
      !check_range (c, "pread", offset, count, err) ||
      !check_flags (c, "pread", flags, 0, err))
    return -1;
  TRACE_DATA (c, "pread count=%" PRIu32 " offset=%" PRIu64,
              count, offset);
  return c->b->pread (c, buf, count, offset, flags, err);
}

int
backend_pwrite (struct context *c, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  if (!check_ready (c, "pwrite", err) ||
      !check_feature (c, "pwrite", backend_can_write (c), 1, EROFS, err) ||
      !check_range (c, "pwrite", offset, count, err) ||
      !check_flags (c, "pwrite", flags, NBDKIT_FLAG_FUA, err))
    return -1;
  TRACE_DATA (c, "pwrite count=%" PRIu32 " offset=%" PRIu64 " fua=%d",
              count, offset, !!(flags & NBDKIT_FLAG_FUA));
  return c->b->pwrite (c, buf, count, offset, flags, err);
}

int
backend_flush (struct context *c, uint32_t flags, int *err)
{
  if (!check_ready (c, "flush", err) ||
      !check_feature (c, "flush", backend_can_flush (c), 1, EINVAL, err) ||
      !check_flags (c, "flush", flags, 0, err))
    return -1;
  TRACE_DATA (c, "flush");
  return c->b->flush (c, flags, err);
}

int
backend_trim (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  if (!check_ready (c, "trim", err) ||
      !check_feature (c, "trim", backend_can_trim (c), 1, EROFS, err) ||
      !check_range (c, "trim", offset, count, err) ||
      !check_flags (c, "trim", flags, NBDKIT_FLAG_FUA, err))
    return -1;
  TRACE_DATA (c, "trim count=%" PRIu32 " offset=%" PRIu64 " fua=%d",
              count, offset, !!(flags & NBDKIT_FLAG_FUA));
  return c->b->trim (c, count, offset, flags, err);
}

int
backend_zero (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  if (!check_ready (c, "zero", err) ||
      !check_feature (c, "zero", backend_can_zero (c), NBDKIT_ZERO_EMULATE,
                      EROFS, err) ||
      !check_range (c, "zero", offset, count, err) ||
      !check_flags (c, "zero", flags, NBDKIT_FLAG_MAY_TRIM | NBDKIT_FLAG_FUA |
                    NBDKIT_FLAG_FAST_ZERO, err))
    return -1;
  if (flags & NBDKIT_FLAG_FAST_ZERO && backend_can_fast_zero (c) != 1) {
    *err = ENOTSUP;
    return -1;
  }
  TRACE_DATA (c, "zero count=%" PRIu32 " offset=%" PRIu64
              " may_trim=%d fua=%d fast=%d", count, offset,
              !!(flags & NBDKIT_FLAG_MAY_TRIM), !!(flags & NBDKIT_FLAG_FUA),
              !!(flags & NBDKIT_FLAG_FAST_ZERO));
  return c->b->zero (c, count, offset, flags, err);
}

int
backend_extents (struct context *c, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  int r;

  if (!check_ready (c, "extents", err) ||
      !check_range (c, "extents", offset, count, err) ||
      !check_flags (c, "extents", flags, NBDKIT_FLAG_REQ_ONE, err))
    return -1;
  r = backend_can_extents (c);
  if (r == -1) {
    *err = EIO;
    return -1;
  }
  if (r == 0) {
    /* Without extents everything is data. */
    if (nbdkit_add_extent (extents, offset, count, 0) == -1) {
      *err = errno ? errno : ENOMEM;
      return -1;
    }
    return 0;
  }
  TRACE_DATA (c, "extents count=%" PRIu32 " offset=%" PRIu64 " req_one=%d",
              count, offset, !!(flags & NBDKIT_FLAG_REQ_ONE));
  return c->b->extents (c, count, offset, flags, extents, err);
}

int
backend_cache (struct context *c, uint32_t count, uint64_t offset,
               uint32_t flags, int *err)
{
  if (!check_ready (c, "cache", err) ||
      !check_feature (c, "cache", backend_can_cache (c), NBDKIT_CACHE_EMULATE,
                      EINVAL, err) ||
      !check_range (c, "cache", offset, count, err) ||
      !check_flags (c, "cache", flags, 0, err))
    return -1;
  TRACE_DATA (c, "cache count=%" PRIu32 " offset=%" PRIu64, count, offset);
  return c->b->cache (c, count, offset, flags, err);
}

/* Reads in pieces of at most 4 MiB, so that a huge cache request does
 * not need a buffer as large as itself.
 */
#define CACHE_READ_CHUNK (4 * 1024 * 1024)

int
backend_cache_by_reading (struct context *c, layer_pread_fn pread,
                          uint32_t count, uint64_t offset, int *err)
{
  char *buf;
  int r = 0;

  if (count == 0)
    return 0;
  buf = malloc (MIN (count, (uint32_t) CACHE_READ_CHUNK));
  if (buf == NULL) {
    *err = ENOMEM;
    return -1;
  }
  while (count > 0 && r == 0) {
    uint32_t n = MIN (count, (uint32_t) CACHE_READ_CHUNK);

    r = pread (c, buf, n, offset, 0, err);
    count -= n;
    offset += n;
  }
  free (buf);
  return r;
}

/* ---- what a filter's nbdkit_next points at ---- */

#define CTX(next) ((struct context *) (next))

static int
next_prepare (nbdkit_next *next)
{
  return backend_prepare (CTX (next));
}

static int
next_finalize (nbdkit_next *next)
{
  return backend_finalize (CTX (next));
}

static int64_t
next_get_size (nbdkit_next *next)
{
  return backend_get_size (CTX (next));
}

static const char *
next_export_description (nbdkit_next *next)
{
  return backend_export_description (CTX (next));
}

static int
next_block_size (nbdkit_next *next, uint32_t *minimum, uint32_t *preferred,
                 uint32_t *maximum)
{
  return backend_block_size (CTX (next), minimum, preferred, maximum);
}

#define NEXT_QUERY(name)                        \
  static int                                    \
  next_##name (nbdkit_next *next)               \
  {                                             \
    return backend_##name (CTX (next));         \
  }
NEXT_QUERY (can_write)
NEXT_QUERY (can_flush)
NEXT_QUERY (is_rotational)
NEXT_QUERY (can_trim)
NEXT_QUERY (can_zero)
NEXT_QUERY (can_fast_zero)
NEXT_QUERY (can_extents)
NEXT_QUERY (can_fua)
NEXT_QUERY (can_multi_conn)
NEXT_QUERY (can_cache)

static int
next_pread (nbdkit_next *next, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  return backend_pread (CTX (next), buf, count, offset, flags, err);
}

static int
next_pwrite (nbdkit_next *next, const void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  return backend_pwrite (CTX (next), buf, count, offset, flags, err);
}

static int
next_flush (nbdkit_next *next, uint32_t flags, int *err)
{
  return backend_flush (CTX (next), flags, err);
}

static int
next_trim (nbdkit_next *next, uint32_t count, uint64_t offset,
           uint32_t flags, int *err)
{
  return backend_trim (CTX (next), count, offset, flags, err);
}

static int
next_zero (nbdkit_next *next, uint32_t count, uint64_t offset,
           uint32_t flags, int *err)
{
  return backend_zero (CTX (next), count, offset, flags, err);
}

static int
next_extents (nbdkit_next *next, uint32_t count, uint64_t offset,
              uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  return backend_extents (CTX (next), count, offset, flags, extents, err);
}

static int
next_cache (nbdkit_next *next, uint32_t count, uint64_t offset,
            uint32_t flags, int *err)
{
  return backend_cache (CTX (next), count, offset, flags, err);
}

const struct nbdkit_next_ops backend_next_ops = {
  .prepare = next_prepare,
  .finalize = next_finalize,
  .get_size = next_get_size,
  .export_description = next_export_description,
  .block_size = next_block_size,
  .can_write = next_can_write,
  .can_flush = next_can_flush,
  .is_rotational = next_is_rotational,
  .can_trim = next_can_trim,
  .can_zero = next_can_zero,
  .can_fast_zero = next_can_fast_zero,
  .can_extents = next_can_extents,
  .can_fua = next_can_fua,
  .can_multi_conn = next_can_multi_conn,
  .can_cache = next_can_cache,
  .pread = next_pread,
  .pwrite = next_pwrite,
  .flush = next_flush,
  .trim = next_trim,
  .zero = next_zero,
  .extents = next_extents,
  .cache = next_cache,
};
