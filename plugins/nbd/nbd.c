/* blockkit: the nbd plugin, which forwards to another NBD server.
 *
 * What a client connection of ours uses is a group of one or more
 * connections to the other server (connections=N): requests are spread
 * over them in turn, each carrying many requests at once (see conn.c).
 * Without shared=true every client gets a group of its own, made in
 * .open, so that the remote server sees one connection (set) per
 * client and a reopen by the retry filter makes a fresh one.  With
 * shared=true one group serves every client; it is made when the server
 * starts and made again by the next .open after it died.
 *
 * Every request and every can_* answer is the other server's, passed
 * through: FUA, trim, zero with fast zero and may-trim, cache, block
 * status (base:allocation), block size constraints, multi-conn.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-plugin.h"

struct group {
  unsigned n;                   /* connections made */
  atomic_uint next;             /* round robin over them */
  unsigned refs;                /* shared mode: users (under shared_lock) */
  struct conn *conns[];
};

struct handle {
  struct group *g;
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct group *shared_group;  /* holds one ref of its own */

static void
group_free (struct group *g)
{
  unsigned i;

  for (i = 0; i < g->n; ++i)
    conn_close (g->conns[i]);
  free (g);
}

static bool
group_dead (struct group *g)
{
  unsigned i;

  for (i = 0; i < g->n; ++i)
    if (conn_is_dead (g->conns[i]))
      return true;
  return false;
}

static struct group *
group_open (const char *export)
{
  struct group *g;
  unsigned want = cfg.connections, i;

  g = calloc (1, sizeof *g + want * sizeof g->conns[0]);
  if (g == NULL) {
    nbdkit_error ("nbd: calloc: %m");
    return NULL;
  }
  g->conns[0] = conn_open (0, export);
  if (g->conns[0] == NULL) {
    free (g);
    return NULL;
  }
  g->n = 1;

  /* Without multi-conn a server promises nothing about what one
   * connection sees of another's writes, or what a flush on one covers:
   * spreading one client over several would break the client's view.
   */
  if (want > 1 && nbd_can_multi_conn (g->conns[0]->nbd) != 1) {
    nbdkit_debug ("nbd: %s does not allow multi-conn: using one "
                  "connection, not connections=%u",
                  nbdplug_describe_server (), want);
    want = 1;
  }
  for (i = 1; i < want; ++i) {
    g->conns[i] = conn_open (i, export);
    if (g->conns[i] == NULL) {
      group_free (g);
      return NULL;
    }
    g->n++;
  }
  return g;
}

/* The next connection for a request, or NULL (the error is set) when
 * it is dead: a dead connection fails at once, never waits.
 */
static struct conn *
pick (struct handle *h, const char *what)
{
  struct group *g = h->g;
  struct conn *c = g->conns[g->n == 1 ? 0 : atomic_fetch_add (&g->next, 1)
                            % g->n];

  return conn_check (c, what) == 0 ? c : NULL;
}

/* The connection whose handshake answers the can_* questions. */
static struct nbd_handle *
first (void *handle)
{
  return ((struct handle *) handle)->g->conns[0]->nbd;
}

/* A can_* or other query answered -1: say what libnbd said. */
static int
query_failed (const char *what)
{
  nbdkit_error ("nbd: %s: %s", what, nbd_get_error ());
  return -1;
}

static int
nbdplug_after_fork (void)
{
  /* The shared connections are made after the server forked into the
   * background (threads do not survive a fork), and a failure stops
   * the server from starting.
   */
  if (!cfg.shared)
    return 0;
  shared_group = group_open (NULL);
  if (shared_group == NULL)
    return -1;
  shared_group->refs = 1;
  return 0;
}

static void
nbdplug_cleanup (void)
{
  pthread_mutex_lock (&shared_lock);
  if (shared_group && --shared_group->refs == 0)
    group_free (shared_group);
  shared_group = NULL;
  pthread_mutex_unlock (&shared_lock);
}

static struct group *
get_shared_group (void)
{
  struct group *g;

  pthread_mutex_lock (&shared_lock);
  /* A dead group is replaced; clients still holding it keep it until
   * they close (their requests fail with EIO meanwhile).
   */
  if (shared_group == NULL || group_dead (shared_group)) {
    g = group_open (NULL);
    if (g == NULL) {
      pthread_mutex_unlock (&shared_lock);
      return NULL;
    }
    if (shared_group) {
      nbdkit_debug ("nbd: the shared connection was lost; reconnected");
      if (--shared_group->refs == 0)
        group_free (shared_group);
    }
    g->refs = 1;
    shared_group = g;
  }
  g = shared_group;
  g->refs++;
  pthread_mutex_unlock (&shared_lock);
  return g;
}

/* With dynamic-export our clients see the other server's list; without
 * it there is one export, whichever name the client gives.
 */
static int
nbdplug_list_exports (int readonly, int is_tls,
                      struct nbdkit_exports *exports)
{
  struct nbd_handle *h;

  if (!cfg.dynamic_export)
    return nbdkit_use_default_export (exports);
  h = nbdplug_connect (0, NULL, exports);
  if (h == NULL)
    return -1;
  nbd_close (h);
  return 0;
}

static void *
nbdplug_open (int readonly)
{
  struct handle *h = malloc (sizeof *h);

  if (h == NULL) {
    nbdkit_error ("nbd: malloc: %m");
    return NULL;
  }
  /* dynamic-export: the export the client asked us for. */
  h->g = cfg.shared ? get_shared_group ()
    : group_open (cfg.dynamic_export ? nbdkit_export_name () : NULL);
  if (h->g == NULL) {
    free (h);
    return NULL;
  }
  return h;
}

static void
nbdplug_close (void *handle)
{
  struct handle *h = handle;

  if (cfg.shared) {
    pthread_mutex_lock (&shared_lock);
    if (--h->g->refs == 0)
      group_free (h->g);
    pthread_mutex_unlock (&shared_lock);
  }
  else
    group_free (h->g);
  free (h);
}

static int64_t
nbdplug_get_size (void *handle)
{
  int64_t r = nbd_get_size (first (handle));

  return r == -1 ? query_failed ("get_size") : r;
}

static const char *
nbdplug_export_description (void *handle)
{
  char *s = nbd_get_export_description (first (handle));
  const char *r;

  if (s == NULL)
    return NULL;                /* the server gave none */
  r = nbdkit_strdup_intern (s);
  free (s);
  return r;
}

static int
nbdplug_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                    uint32_t *maximum)
{
  struct nbd_handle *nbd = first (handle);
  int64_t min = nbd_get_block_size (nbd, LIBNBD_SIZE_MINIMUM);
  int64_t pref = nbd_get_block_size (nbd, LIBNBD_SIZE_PREFERRED);
  int64_t max = nbd_get_block_size (nbd, LIBNBD_SIZE_MAXIMUM);

  if (min == -1 || pref == -1 || max == -1)
    return query_failed ("block_size");
  /* 0 everywhere: the server stated no constraints, nor do we. */
  if (min == 0 || pref == 0 || max == 0)
    *minimum = *preferred = *maximum = 0;
  else {
    *minimum = min;
    *preferred = pref;
    *maximum = max;
  }
  return 0;
}

/* The can_* answers: libnbd answers from the handshake. */
#define PASS_CAN(fn, call)                              \
  static int                                            \
  fn (void *handle)                                     \
  {                                                     \
    int r = call (first (handle));                      \
    return r == -1 ? query_failed (#call) : r;          \
  }

PASS_CAN (nbdplug_can_flush, nbd_can_flush)
PASS_CAN (nbdplug_can_trim, nbd_can_trim)
PASS_CAN (nbdplug_can_fast_zero, nbd_can_fast_zero)
PASS_CAN (nbdplug_is_rotational, nbd_is_rotational)

static int
nbdplug_can_write (void *handle)
{
  int r = nbd_is_read_only (first (handle));

  return r == -1 ? query_failed ("nbd_is_read_only") : !r;
}

static int
nbdplug_can_zero (void *handle)
{
  /* Without it the server above emulates zero with writes. */
  int r = nbd_can_zero (first (handle));

  return r == -1 ? query_failed ("nbd_can_zero")
    : r ? NBDKIT_ZERO_NATIVE : NBDKIT_ZERO_NONE;
}

static int
nbdplug_can_fua (void *handle)
{
  int r = nbd_can_fua (first (handle));

  return r == -1 ? query_failed ("nbd_can_fua")
    : r ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_NONE;
}

static int
nbdplug_can_cache (void *handle)
{
  int r = nbd_can_cache (first (handle));

  return r == -1 ? query_failed ("nbd_can_cache")
    : r ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
}

static int
nbdplug_can_extents (void *handle)
{
  int r = nbd_can_meta_context (first (handle),
                                LIBNBD_CONTEXT_BASE_ALLOCATION);

  return r == -1 ? query_failed ("nbd_can_meta_context") : r;
}

static int
nbdplug_can_multi_conn (void *handle)
{
  struct handle *h = handle;
  int r;

  /* Shared: every client uses the very same connection(s) (several
   * only if the server allows multi-conn), so what one client wrote or
   * flushed every other sees.
   */
  if (cfg.shared && (h->g->n == 1 || nbd_can_multi_conn (first (h)) == 1))
    return 1;
  r = nbd_can_multi_conn (first (handle));
  return r == -1 ? query_failed ("nbd_can_multi_conn") : r;
}

/* Submits one request on connection C and waits for its reply.  CALL
 * is the nbd_aio_* call with `c', `r' in scope.
 */
#define SUBMIT(what, call)                                      \
  do {                                                          \
    struct conn *c = pick (handle, what);                       \
    struct req r;                                               \
    if (c == NULL)                                              \
      return -1;                                                \
    req_init (&r);                                              \
    return conn_wait (c, &r, (call), what);                     \
  } while (0)

static int
nbdplug_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  SUBMIT ("pread", nbd_aio_pread (c->nbd, buf, count, offset,
                                  req_callback (&r), 0));
}

static int
nbdplug_pwrite (void *handle, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags)
{
  uint32_t f = flags & NBDKIT_FLAG_FUA ? LIBNBD_CMD_FLAG_FUA : 0;

  SUBMIT ("pwrite", nbd_aio_pwrite (c->nbd, buf, count, offset,
                                    req_callback (&r), f));
}

static int
nbdplug_flush (void *handle, uint32_t flags)
{
  /* One flush is enough even with several connections: they exist
   * only when the server allows multi-conn, which promises that a
   * flush covers every write completed on any connection.
   */
  SUBMIT ("flush", nbd_aio_flush (c->nbd, req_callback (&r), 0));
}

static int
nbdplug_trim (void *handle, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  uint32_t f = flags & NBDKIT_FLAG_FUA ? LIBNBD_CMD_FLAG_FUA : 0;

  SUBMIT ("trim", nbd_aio_trim (c->nbd, count, offset,
                                req_callback (&r), f));
}

static int
nbdplug_zero (void *handle, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  uint32_t f = 0;

  if (flags & NBDKIT_FLAG_FUA)
    f |= LIBNBD_CMD_FLAG_FUA;
  if (!(flags & NBDKIT_FLAG_MAY_TRIM))
    f |= LIBNBD_CMD_FLAG_NO_HOLE;
  if (flags & NBDKIT_FLAG_FAST_ZERO)
    f |= LIBNBD_CMD_FLAG_FAST_ZERO;
  SUBMIT ("zero", nbd_aio_zero (c->nbd, count, offset,
                                req_callback (&r), f));
}

static int
nbdplug_cache (void *handle, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  SUBMIT ("cache", nbd_aio_cache (c->nbd, count, offset,
                                  req_callback (&r), 0));
}

/* Block status: the extents arrive in the connection's thread; they are
 * kept here and handed to the server in the thread that asked.
 */
struct extent_list {
  uint64_t *v;                  /* offset, length, type triples */
  size_t n, cap;
};

static int
extent_chunk (void *user_data, const char *metacontext, uint64_t offset,
              uint32_t *entries, size_t nr_entries, int *error)
{
  struct extent_list *l = user_data;
  size_t i;

  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  for (i = 0; i + 1 < nr_entries; i += 2) {
    if (l->n + 3 > l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 48;
      uint64_t *v = realloc (l->v, cap * sizeof *v);
      if (v == NULL) {
        *error = ENOMEM;
        return -1;
      }
      l->v = v;
      l->cap = cap;
    }
    l->v[l->n++] = offset;
    l->v[l->n++] = entries[i];
    l->v[l->n++] = entries[i + 1] & (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
    offset += entries[i];
  }
  return 0;
}

static int
nbdplug_extents (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  struct extent_list l = { NULL, 0, 0 };
  nbd_extent_callback cb = { .callback = extent_chunk, .user_data = &l };
  uint32_t f = flags & NBDKIT_FLAG_REQ_ONE ? LIBNBD_CMD_FLAG_REQ_ONE : 0;
  struct conn *c = pick (handle, "extents");
  struct req r;
  size_t i;
  int ret;

  if (c == NULL)
    return -1;
  req_init (&r);
  ret = conn_wait (c, &r, nbd_aio_block_status (c->nbd, count, offset, cb,
                                                req_callback (&r), f),
                   "extents");
  if (ret == 0 && l.n == 0) {
    nbdkit_error ("nbd: extents: the server sent no extents");
    nbdkit_set_error (EIO);
    ret = -1;
  }
  for (i = 0; ret == 0 && i < l.n; i += 3)
    if (nbdkit_add_extent (extents, l.v[i], l.v[i + 1], l.v[i + 2]) == -1)
      ret = -1;
  free (l.v);
  return ret;
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name               = "nbd",
  .longname           = "blockkit nbd plugin",
  .version            = PACKAGE_VERSION,
  .description        = "Forwards to another NBD server (libnbd).",
  .unload             = nbdplug_unload,
  .config             = nbdplug_config,
  .config_complete    = nbdplug_config_complete,
  .config_help        = nbdplug_config_help,
  .magic_config_key   = "uri",
  .dump_plugin        = nbdplug_dump_plugin,
  .after_fork         = nbdplug_after_fork,
  .cleanup            = nbdplug_cleanup,
  .list_exports       = nbdplug_list_exports,
  .open               = nbdplug_open,
  .close              = nbdplug_close,
  .get_size           = nbdplug_get_size,
  .export_description = nbdplug_export_description,
  .block_size         = nbdplug_block_size,
  .can_write          = nbdplug_can_write,
  .can_flush          = nbdplug_can_flush,
  .is_rotational      = nbdplug_is_rotational,
  .can_trim           = nbdplug_can_trim,
  .can_zero           = nbdplug_can_zero,
  .can_fast_zero      = nbdplug_can_fast_zero,
  .can_fua            = nbdplug_can_fua,
  .can_multi_conn     = nbdplug_can_multi_conn,
  .can_extents        = nbdplug_can_extents,
  .can_cache          = nbdplug_can_cache,
  .pread              = nbdplug_pread,
  .pwrite             = nbdplug_pwrite,
  .flush              = nbdplug_flush,
  .trim               = nbdplug_trim,
  .zero               = nbdplug_zero,
  .cache              = nbdplug_cache,
  .extents            = nbdplug_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
