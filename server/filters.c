/* blockkit: filter layers.
 *
 * A filter's callbacks receive the layer below as nbdkit_next (the next
 * context) or nbdkit_backend (the next layer, outside contexts).  When a
 * filter leaves a callback NULL, the call passes straight through to the
 * layer below.
 *
 * Fallbacks follow seed 000: a filter that says it can only EMULATE zero,
 * FUA or cache gets that emulation here, at its own layer, re-entering
 * its own pwrite/flush/pread with the original parameters, so a
 * transformation (offset, partition) is applied exactly once and a delay
 * exactly once.  A filter's .zero may not answer EOPNOTSUPP: that would
 * push a fallback to a layer that might transform the request again, so
 * it is treated as a filter bug and reported as EIO.
 *
 * Context lifecycle (seed 003): by default (a filter with no .open, or
 * one whose .open calls next) the next context is opened, prepared,
 * finalized and closed with the filter's own.  A filter can instead
 * manage contexts itself with nbdkit_next_context_open/close and
 * nbdkit_context_set_next; see nbdkit-filter(3) in docs.
 */
#include <config.h>

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "minmax.h"

struct backend_filter {
  struct backend backend;
  struct nbdkit_filter filter;
};

#define FILTER(b) (&((struct backend_filter *) (b))->filter)
#define NEXT(c) ((nbdkit_next *) (c)->c_next)
#define PUBLIC_BACKEND(b) ((nbdkit_backend *) (b))
#define INTERNAL_BACKEND(b) ((struct backend *) (b))

/* ---- finding the filter file ---- */

char *
find_filter_file (const char *name_or_path)
{
  const char *dev_path = getenv ("BLOCKKIT_FILTER_PATH");
  char *path;

  if (strchr (name_or_path, '/') || strchr (name_or_path, '.')) {
    path = strdup (name_or_path);
    if (path == NULL) {
      perror ("strdup");
      exit (EXIT_FAILURE);
    }
    return path;
  }
  if (dev_path && *dev_path) {
    if (asprintf (&path, "%s/%s/.libs/blockkit-%s-filter.so",
                  dev_path, name_or_path, name_or_path) == -1) {
      perror ("asprintf");
      exit (EXIT_FAILURE);
    }
    if (access (path, R_OK) == 0)
      return path;
    free (path);
  }
  if (asprintf (&path, "%s/blockkit-%s-filter.so",
                FILTERDIR, name_or_path) == -1) {
    perror ("asprintf");
    exit (EXIT_FAILURE);
  }
  if (access (path, R_OK) == 0)
    return path;
  fprintf (stderr, "%s: no filter called \"%s\" (looked in %s%s%s); "
           "give a path to load a filter from elsewhere\n",
           program_name, name_or_path, dev_path ? dev_path : "",
           dev_path ? " and " : "", FILTERDIR);
  exit (EXIT_FAILURE);
}

/* ---- lifetime of the layer ---- */

static void
filter_free (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);

  b->next->free (b->next);
  backend_unload (b, f->unload);
  if (b->dl && getenv ("BLOCKKIT_NO_DLCLOSE") == NULL)
    dlclose (b->dl);
  free (b);
}

static int
filter_thread_model (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);
  int r;

  if (f->thread_model == NULL)
    return NBDKIT_THREAD_MODEL_PARALLEL;
  r = f->thread_model ();
  if (r == -1)
    exit (EXIT_FAILURE);
  return r;
}

static const char *
filter_plugin_name (struct backend *b)
{
  return b->next->plugin_name (b->next);
}

static void
filter_usage (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);

  backend_print_usage (b, f->longname, f->description, f->config_help);
  printf ("\n");
  b->next->usage (b->next);
}

static const char *
filter_version (struct backend *b)
{
  return FILTER (b)->_version;
}

static void
filter_dump_fields (struct backend *b)
{
  b->next->dump_fields (b->next);
}

static int
next_config (nbdkit_backend *nxdata, const char *key, const char *value)
{
  struct backend *b = INTERNAL_BACKEND (nxdata);

  return b->config (b, key, value);
}

static int
filter_config (struct backend *b, const char *key, const char *value)
{
  struct nbdkit_filter *f = FILTER (b);

  debug ("%s: config key=%s, value=%s", b->name, key, value);
  if (f->config == NULL)
    return b->next->config (b->next, key, value);
  if (f->config (next_config, PUBLIC_BACKEND (b->next), key, value) == -1)
    exit (EXIT_FAILURE);
  return 0;
}

static int
next_config_complete (nbdkit_backend *nxdata)
{
  struct backend *b = INTERNAL_BACKEND (nxdata);

  return b->config_complete (b);
}

static int
filter_config_complete (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);

  debug ("%s: config_complete", b->name);
  if (f->config_complete == NULL)
    return b->next->config_complete (b->next);
  if (f->config_complete (next_config_complete,
                          PUBLIC_BACKEND (b->next)) == -1)
    exit (EXIT_FAILURE);
  return 0;
}

/* Bare words on the command line belong to the plugin. */
static const char *
filter_magic_config_key (struct backend *b)
{
  return b->next->magic_config_key (b->next);
}

/* get_ready and after_fork run from the plugin outwards: a filter may
 * rely on the layers below being ready.
 */
static int
filter_get_ready (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);

  if (b->next->get_ready (b->next) == -1)
    return -1;
  debug ("%s: get_ready thread_model=%d", b->name, thread_model);
  return f->get_ready ? f->get_ready (thread_model) : 0;
}

static int
filter_after_fork (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);

  if (b->next->after_fork (b->next) == -1)
    return -1;
  debug ("%s: after_fork", b->name);
  return f->after_fork ? f->after_fork (PUBLIC_BACKEND (b->next)) : 0;
}

/* cleanup runs from the client side inwards, so that a filter's
 * background work (which uses the layers below) stops first.
 */
static void
filter_cleanup (struct backend *b)
{
  struct nbdkit_filter *f = FILTER (b);

  debug ("%s: cleanup", b->name);
  if (f->cleanup)
    f->cleanup (PUBLIC_BACKEND (b->next));
  b->next->cleanup (b->next);
}

static int
next_preconnect (nbdkit_backend *nxdata, int readonly)
{
  struct backend *b = INTERNAL_BACKEND (nxdata);

  return b->preconnect (b, readonly);
}

static int
filter_preconnect (struct backend *b, int readonly)
{
  struct nbdkit_filter *f = FILTER (b);

  if (f->preconnect)
    return f->preconnect (next_preconnect, PUBLIC_BACKEND (b->next),
                          readonly);
  return b->next->preconnect (b->next, readonly);
}

/* Filters see the established signature, without is_tls. */
static int
next_list_exports (nbdkit_backend *nxdata, int readonly,
                   struct nbdkit_exports *exports)
{
  struct backend *b = INTERNAL_BACKEND (nxdata);

  return b->list_exports (b, readonly, 0, exports);
}

static int
filter_list_exports (struct backend *b, int readonly, int is_tls,
                     struct nbdkit_exports *exports)
{
  struct nbdkit_filter *f = FILTER (b);

  if (f->list_exports)
    return f->list_exports (next_list_exports, PUBLIC_BACKEND (b->next),
                            readonly, is_tls, exports);
  return b->next->list_exports (b->next, readonly, is_tls, exports);
}

static const char *
next_default_export (nbdkit_backend *nxdata, int readonly)
{
  struct backend *b = INTERNAL_BACKEND (nxdata);

  return b->default_export (b, readonly, 0);
}

static const char *
filter_default_export (struct backend *b, int readonly, int is_tls)
{
  struct nbdkit_filter *f = FILTER (b);

  if (f->default_export)
    return f->default_export (next_default_export, PUBLIC_BACKEND (b->next),
                              readonly, is_tls);
  return b->next->default_export (b->next, readonly, is_tls);
}

/* ---- context lifetime ---- */

/* The "next" function a filter's .open calls: opens the layer below and
 * associates it with this context (automatic lifecycle).
 */
static int
next_open (nbdkit_context *context, int readonly, const char *exportname)
{
  struct context *c = (struct context *) context;
  struct context *c_next;

  c_next = backend_open (c->b->next, readonly, exportname, c->conn);
  if (c_next == NULL)
    return -1;
  if (c->c_next) {
    nbdkit_error ("%s: .open called next twice", c->b->name);
    backend_close (c_next);
    return -1;
  }
  c->c_next = c_next;
  return 0;
}

/* Any non-NULL handle will do for a filter without state. */
static int filter_default_handle;

static void *
filter_open (struct context *c, int readonly, const char *exportname,
             int is_tls)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->open)
    return f->open (next_open, (nbdkit_context *) c, readonly, exportname,
                    is_tls);
  if (next_open ((nbdkit_context *) c, readonly, exportname) == -1)
    return NULL;
  return &filter_default_handle;
}

static int
filter_prepare (struct context *c, int readonly)
{
  struct nbdkit_filter *f = FILTER (c->b);

  return f->prepare ? f->prepare (NEXT (c), c->handle, readonly) : 0;
}

static int
filter_finalize (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  return f->finalize ? f->finalize (NEXT (c), c->handle) : 0;
}

static void
filter_close (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->close)
    f->close (c->handle);
}

/* ---- queries ---- */

/* Every query and data call needs the next context, unless the filter
 * answers it itself.  A filter that dropped its next context and still
 * lets a call through gets an error, not a crash.
 */
static bool
have_next (struct context *c, const char *what)
{
  if (c->c_next)
    return true;
  nbdkit_error ("%s: %s: no next context (the filter manages contexts "
                "itself and has none associated)", c->b->name, what);
  return false;
}

static const char *
filter_export_description (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->export_description)
    return f->export_description (NEXT (c), c->handle);
  return have_next (c, "export_description") ?
    backend_export_description (c->c_next) : NULL;
}

static int64_t
filter_get_size (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->get_size)
    return f->get_size (NEXT (c), c->handle);
  return have_next (c, "get_size") ? backend_get_size (c->c_next) : -1;
}

static int
filter_block_size (struct context *c, uint32_t *minimum, uint32_t *preferred,
                   uint32_t *maximum)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->block_size)
    return f->block_size (NEXT (c), c->handle, minimum, preferred, maximum);
  if (!have_next (c, "block_size"))
    return -1;
  return backend_block_size (c->c_next, minimum, preferred, maximum);
}

/* A query the filter may answer, otherwise the layer below does. */
#define FILTER_QUERY(name)                                        \
  static int                                                      \
  filter_##name (struct context *c)                               \
  {                                                               \
    struct nbdkit_filter *f = FILTER (c->b);                      \
                                                                  \
    if (f->name)                                                  \
      return f->name (NEXT (c), c->handle);                       \
    return have_next (c, #name) ? backend_##name (c->c_next) : -1; \
  }
FILTER_QUERY (can_write)
FILTER_QUERY (can_flush)
FILTER_QUERY (is_rotational)
FILTER_QUERY (can_trim)
FILTER_QUERY (can_extents)
FILTER_QUERY (can_multi_conn)

/* The tri-state queries: a filter's answer may ask this layer to emulate
 * the feature, and a filter that handles the data call itself without
 * saying how (no can_* callback) must not inherit a promise from below
 * that it may not keep.
 */
static int
filter_can_zero (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->can_zero)
    return f->can_zero (NEXT (c), c->handle);
  return have_next (c, "can_zero") ? backend_can_zero (c->c_next) : -1;
}

static int
filter_can_fast_zero (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);
  int r;

  if (f->can_fast_zero)
    return f->can_fast_zero (NEXT (c), c->handle);
  /* Emulated zero here fails fast, so it is fast. */
  r = backend_can_zero (c);
  if (r == -1)
    return -1;
  if (r == NBDKIT_ZERO_EMULATE)
    return 1;
  /* A filter with its own .zero but no word on speed: not fast. */
  if (f->zero)
    return 0;
  return have_next (c, "can_fast_zero") ?
    backend_can_fast_zero (c->c_next) : -1;
}

static int
filter_can_fua (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->can_fua)
    return f->can_fua (NEXT (c), c->handle);
  return have_next (c, "can_fua") ? backend_can_fua (c->c_next) : -1;
}

static int
filter_can_cache (struct context *c)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->can_cache)
    return f->can_cache (NEXT (c), c->handle);
  return have_next (c, "can_cache") ? backend_can_cache (c->c_next) : -1;
}

/* ---- data ---- */

static int
no_next (struct context *c, const char *what, int *err)
{
  have_next (c, what);
  *err = EIO;
  return -1;
}

static int
filter_pread (struct context *c, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->pread)
    return f->pread (NEXT (c), c->handle, buf, count, offset, flags, err);
  if (!c->c_next)
    return no_next (c, "pread", err);
  return backend_pread (c->c_next, buf, count, offset, flags, err);
}

static int
filter_flush (struct context *c, uint32_t flags, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->flush)
    return f->flush (NEXT (c), c->handle, flags, err);
  if (!c->c_next)
    return no_next (c, "flush", err);
  return backend_flush (c->c_next, flags, err);
}

/* When this filter asked for FUA to be emulated, a FUA operation is the
 * operation without FUA, then this layer's own flush.
 */
static bool
fua_emulated_here (struct context *c, uint32_t flags)
{
  return (flags & NBDKIT_FLAG_FUA) && c->can_fua == NBDKIT_FUA_EMULATE &&
    FILTER (c->b)->can_fua != NULL;
}

static int
filter_pwrite (struct context *c, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);
  bool emulate_fua = fua_emulated_here (c, flags);
  int r;

  if (emulate_fua)
    flags &= ~NBDKIT_FLAG_FUA;
  if (f->pwrite)
    r = f->pwrite (NEXT (c), c->handle, buf, count, offset, flags, err);
  else if (!c->c_next)
    r = no_next (c, "pwrite", err);
  else
    r = backend_pwrite (c->c_next, buf, count, offset, flags, err);
  if (r == 0 && emulate_fua)
    r = filter_flush (c, 0, err);
  return r;
}

static int
filter_trim (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);
  bool emulate_fua = fua_emulated_here (c, flags);
  int r;

  if (emulate_fua)
    flags &= ~NBDKIT_FLAG_FUA;
  if (f->trim)
    r = f->trim (NEXT (c), c->handle, count, offset, flags, err);
  else if (!c->c_next)
    r = no_next (c, "trim", err);
  else
    r = backend_trim (c->c_next, count, offset, flags, err);
  if (r == 0 && emulate_fua)
    r = filter_flush (c, 0, err);
  return r;
}

/* Zero emulated at this layer: this layer's own pwrite, with the original
 * offset and count, a bounded buffer of zeroes at a time.
 */
static const char zero_buf[64 * 1024];

static int
emulate_zero (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  uint32_t fua = flags & NBDKIT_FLAG_FUA;

  while (count > 0) {
    uint32_t n = MIN (count, (uint32_t) sizeof zero_buf);

    /* FUA once, on the last piece (filter_pwrite emulates it if asked). */
    if (filter_pwrite (c, zero_buf, n, offset, n == count ? fua : 0,
                       err) == -1)
      return -1;
    count -= n;
    offset += n;
  }
  return 0;
}

static int
filter_zero (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);
  bool emulate_fua;
  int r;

  if (c->can_zero == NBDKIT_ZERO_EMULATE && f->can_zero) {
    if (flags & NBDKIT_FLAG_FAST_ZERO) {
      *err = ENOTSUP;
      return -1;
    }
    return emulate_zero (c, count, offset, flags, err);
  }

  emulate_fua = fua_emulated_here (c, flags);
  if (emulate_fua)
    flags &= ~NBDKIT_FLAG_FUA;
  if (f->zero) {
    r = f->zero (NEXT (c), c->handle, count, offset, flags, err);
    if (r == -1 && (*err == EOPNOTSUPP || *err == ENOTSUP) &&
        !(flags & NBDKIT_FLAG_FAST_ZERO)) {
      nbdkit_error ("%s: zero: filter answered EOPNOTSUPP, which filters "
                    "may not do (declare can_zero NBDKIT_ZERO_EMULATE "
                    "instead)", c->b->name);
      *err = EIO;
    }
  }
  else if (!c->c_next)
    r = no_next (c, "zero", err);
  else
    r = backend_zero (c->c_next, count, offset, flags, err);
  if (r == 0 && emulate_fua)
    r = filter_flush (c, 0, err);
  return r;
}

static int
filter_extents (struct context *c, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (f->extents)
    return f->extents (NEXT (c), c->handle, count, offset, flags, extents,
                       err);
  if (!c->c_next)
    return no_next (c, "extents", err);
  return backend_extents (c->c_next, count, offset, flags, extents, err);
}

/* Cache emulated at this layer reads through this layer's own pread. */
static int
filter_cache (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  struct nbdkit_filter *f = FILTER (c->b);

  if (c->can_cache == NBDKIT_CACHE_EMULATE && f->can_cache)
    return backend_cache_by_reading (c, filter_pread, count, offset, err);
  if (f->cache)
    return f->cache (NEXT (c), c->handle, count, offset, flags, err);
  if (!c->c_next)
    return no_next (c, "cache", err);
  return backend_cache (c->c_next, count, offset, flags, err);
}

/* ---- the context API for filters (seed 003) ---- */

nbdkit_backend *
nbdkit_context_get_backend (nbdkit_context *context)
{
  struct context *c = (struct context *) context;

  assert (c);
  return PUBLIC_BACKEND (c->b->next);
}

/* Opens a context on BACKEND (a layer below the calling filter).  Unless
 * SHARED, it belongs to the current client connection; a shared context
 * belongs to no connection and may be used from any thread (and must not
 * call nbdkit_export_name and friends).  It starts unprepared.
 */
nbdkit_next *
nbdkit_next_context_open (nbdkit_backend *backend, int readonly,
                          const char *exportname, int shared)
{
  struct backend *b = INTERNAL_BACKEND (backend);
  struct connection *conn = shared ? NULL : threadlocal_get_conn ();

  assert (b);
  if (!shared && conn == NULL) {
    nbdkit_error ("nbdkit_next_context_open: no client connection in this "
                  "thread; open with shared=1 outside a connection");
    return NULL;
  }
  return (nbdkit_next *) backend_open (b, readonly,
                                       exportname ? exportname : "", conn);
}

void
nbdkit_next_context_close (nbdkit_next *next)
{
  if (next)
    backend_close ((struct context *) next);
}

nbdkit_next *
nbdkit_context_set_next (nbdkit_context *context, nbdkit_next *next)
{
  struct context *c = (struct context *) context;
  struct context *old;

  assert (c);
  old = c->c_next;
  c->c_next = (struct context *) next;
  return (nbdkit_next *) old;
}

/* ---- registration ---- */

static const struct backend filter_functions = {
  .free = filter_free,
  .thread_model = filter_thread_model,
  .plugin_name = filter_plugin_name,
  .usage = filter_usage,
  .version = filter_version,
  .dump_fields = filter_dump_fields,
  .config = filter_config,
  .config_complete = filter_config_complete,
  .magic_config_key = filter_magic_config_key,
  .get_ready = filter_get_ready,
  .after_fork = filter_after_fork,
  .cleanup = filter_cleanup,
  .preconnect = filter_preconnect,
  .list_exports = filter_list_exports,
  .default_export = filter_default_export,
  .open = filter_open,
  .prepare = filter_prepare,
  .finalize = filter_finalize,
  .close = filter_close,
  .export_description = filter_export_description,
  .get_size = filter_get_size,
  .block_size = filter_block_size,
  .can_write = filter_can_write,
  .can_flush = filter_can_flush,
  .is_rotational = filter_is_rotational,
  .can_trim = filter_can_trim,
  .can_zero = filter_can_zero,
  .can_fast_zero = filter_can_fast_zero,
  .can_extents = filter_can_extents,
  .can_fua = filter_can_fua,
  .can_multi_conn = filter_can_multi_conn,
  .can_cache = filter_can_cache,
  .pread = filter_pread,
  .pwrite = filter_pwrite,
  .flush = filter_flush,
  .trim = filter_trim,
  .zero = filter_zero,
  .extents = filter_extents,
  .cache = filter_cache,
};

struct backend *
filter_register (struct backend *next, size_t index, const char *filename,
                 void *dl, struct nbdkit_filter *(*init) (void))
{
  struct backend_filter *bf;
  const struct nbdkit_filter *given;

  bf = calloc (1, sizeof *bf);
  if (bf == NULL) {
    perror ("calloc");
    exit (EXIT_FAILURE);
  }
  bf->backend = filter_functions;
  backend_init (&bf->backend, next, index, filename, dl, "filter");

  given = init ();
  if (given == NULL) {
    fprintf (stderr, "%s: %s: filter_init returned NULL\n",
             program_name, filename);
    exit (EXIT_FAILURE);
  }
  /* Filters are tied to one server version (seed 000): no layout
   * guesswork, an exact match or a clear refusal.
   */
  if (given->_api_version != NBDKIT_FILTER_API_VERSION ||
      given->_version == NULL ||
      strcmp (given->_version, PACKAGE_VERSION) != 0) {
    fprintf (stderr, "%s: %s: this filter was built for %s (filter API "
             "%d), but this is blockkit %s (filter API %d); filters must "
             "be rebuilt for each blockkit version\n",
             program_name, filename,
             given->_version ? given->_version : "an unknown version",
             given->_api_version, PACKAGE_VERSION, NBDKIT_FILTER_API_VERSION);
    exit (EXIT_FAILURE);
  }
  bf->filter = *given;

  backend_load (&bf->backend, bf->filter.name, bf->filter.load);
  return &bf->backend;
}
