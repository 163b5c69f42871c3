/* blockkit: the plugin layer at the bottom of the chain.
 *
 * The plugin's struct is copied into a full-size struct of our own, so a
 * plugin built against an older (shorter) layout loads with every later
 * callback NULL.  NULL means "use the default", and the defaults and the
 * fallbacks live here, in the layer that lacks the feature (seed 000):
 * zero emulated with writes, FUA emulated with flush, cache emulated
 * with reads.  Each fallback re-enters this same layer with the original
 * parameters, never a transformed copy.
 *
 * This file finds and registers the plugin and answers the chain's
 * lifetime calls and queries; the data calls, with those fallbacks, are
 * in plugin-data.c.
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
#include "plugin.h"

/* Even the first plugin API had everything up to .close: anything
 * shorter cannot be a real plugin.
 */
#define MIN_PLUGIN_SIZE offsetof (struct nbdkit_plugin, get_size)

/* ---- finding the plugin file ---- */

static char *
try_file (const char *dir, const char *sub, const char *name)
{
  char *path;

  if (asprintf (&path, "%s/%sblockkit-%s-plugin.so", dir, sub, name) == -1) {
    perror ("asprintf");
    exit (EXIT_FAILURE);
  }
  if (access (path, R_OK) == 0)
    return path;
  free (path);
  return NULL;
}

char *
find_plugin_file (const char *name_or_path)
{
  const char *dev_path = getenv ("BLOCKKIT_PLUGIN_PATH");
  char *path, *sub;

  /* Anything that looks like a path is used as it is. */
  if (strchr (name_or_path, '/') || strchr (name_or_path, '.')) {
    path = strdup (name_or_path);
    if (path == NULL) {
      perror ("strdup");
      exit (EXIT_FAILURE);
    }
    return path;
  }

  /* In a build tree (the ./blockkit wrapper sets this): plugins/NAME/.libs. */
  if (dev_path && *dev_path) {
    if (asprintf (&sub, "%s/.libs/", name_or_path) == -1) {
      perror ("asprintf");
      exit (EXIT_FAILURE);
    }
    path = try_file (dev_path, sub, name_or_path);
    free (sub);
    if (path)
      return path;
    path = try_file (dev_path, "", name_or_path);
    if (path)
      return path;
  }

  path = try_file (PLUGINDIR, "", name_or_path);
  if (path)
    return path;

  fprintf (stderr, "%s: no plugin called \"%s\" (looked in %s%s%s); "
           "give a path to load a plugin from elsewhere\n",
           program_name, name_or_path, dev_path ? dev_path : "",
           dev_path ? " and " : "", PLUGINDIR);
  exit (EXIT_FAILURE);
}

/* ---- lifetime ---- */

static void
plugin_free (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  backend_unload (b, p->unload);
  if (b->dl && getenv ("BLOCKKIT_NO_DLCLOSE") == NULL)
    dlclose (b->dl);
  free (b);
}

static int
plugin_thread_model (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);
  int model = p->_thread_model;
  int r;

  if (p->thread_model) {
    r = p->thread_model ();
    if (r == -1)
      exit (EXIT_FAILURE);
    if (r < model)
      model = r;
  }
  return model;
}

static const char *
plugin_name (struct backend *b)
{
  return b->name;
}

static void
plugin_usage (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  backend_print_usage (b, p->longname, p->description, p->config_help);
}

static const char *
plugin_version (struct backend *b)
{
  return PLUGIN (b)->version;
}

static void
plugin_dump_fields (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);
  char *path = realpath (b->filename, NULL);

  printf ("path=%s\n", path ? path : b->filename);
  free (path);
  printf ("name=%s\n", b->name);
  if (p->version)
    printf ("version=%s\n", p->version);
  printf ("api_version=%d\n", p->_api_version);
  printf ("struct_size=%" PRIu64 "\n", p->_struct_size);
  printf ("max_thread_model=%s\n", name_of_thread_model (p->_thread_model));
  printf ("thread_model=%s\n", name_of_thread_model (plugin_thread_model (b)));
  printf ("errno_is_preserved=%d\n", !!p->errno_is_preserved);
  if (p->magic_config_key)
    printf ("magic_config_key=%s\n", p->magic_config_key);

#define HAS(field) if (p->field) printf ("has_%s=1\n", #field)
  HAS (longname); HAS (description); HAS (load); HAS (unload);
  HAS (dump_plugin); HAS (config); HAS (config_complete); HAS (config_help);
  HAS (thread_model); HAS (get_ready); HAS (after_fork); HAS (cleanup);
  HAS (preconnect); HAS (list_exports); HAS (default_export);
  HAS (open); HAS (close); HAS (export_description); HAS (get_size);
  HAS (block_size); HAS (can_write); HAS (can_flush); HAS (is_rotational);
  HAS (can_trim); HAS (can_zero); HAS (can_fast_zero); HAS (can_extents);
  HAS (can_fua); HAS (can_multi_conn); HAS (can_cache);
  HAS (pread); HAS (pwrite); HAS (flush); HAS (trim); HAS (zero);
  HAS (extents); HAS (cache);
#undef HAS
  if (p->_api_version == 1) {
    if (p->_pread_v1) printf ("has_pread=1\n");
    if (p->_pwrite_v1) printf ("has_pwrite=1\n");
    if (p->_flush_v1) printf ("has_flush=1\n");
    if (p->_trim_v1) printf ("has_trim=1\n");
    if (p->_zero_v1) printf ("has_zero=1\n");
  }

  if (p->dump_plugin)
    p->dump_plugin ();
}

static int
plugin_config (struct backend *b, const char *key, const char *value)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  debug ("%s: config key=%s, value=%s", b->name, key, value);
  if (p->config == NULL) {
    fprintf (stderr, "%s: %s: this plugin takes no parameters, "
             "but was given %s=%s\n"
             "Try '%s %s --help' for its usage.\n",
             program_name, b->name, key, value, program_name, b->name);
    exit (EXIT_FAILURE);
  }
  if (p->config (key, value) == -1)
    exit (EXIT_FAILURE);
  return 0;
}

static int
plugin_config_complete (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  debug ("%s: config_complete", b->name);
  if (p->config_complete && p->config_complete () == -1)
    exit (EXIT_FAILURE);
  return 0;
}

static const char *
plugin_magic_config_key (struct backend *b)
{
  return PLUGIN (b)->magic_config_key;
}

static int
plugin_get_ready (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  debug ("%s: get_ready", b->name);
  return p->get_ready ? p->get_ready () : 0;
}

static int
plugin_after_fork (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  debug ("%s: after_fork", b->name);
  return p->after_fork ? p->after_fork () : 0;
}

static void
plugin_cleanup (struct backend *b)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  debug ("%s: cleanup", b->name);
  if (p->cleanup)
    p->cleanup ();
}

static int
plugin_preconnect (struct backend *b, int readonly)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  return p->preconnect ? p->preconnect (readonly) : 0;
}

static int
plugin_list_exports (struct backend *b, int readonly, int is_tls,
                     struct nbdkit_exports *exports)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  if (p->list_exports == NULL)
    return nbdkit_use_default_export (exports);
  return p->list_exports (readonly, is_tls, exports);
}

static const char *
plugin_default_export (struct backend *b, int readonly, int is_tls)
{
  struct nbdkit_plugin *p = PLUGIN (b);

  if (p->default_export == NULL)
    return "";
  return p->default_export (readonly, is_tls);
}

static void *
plugin_open (struct context *c, int readonly, const char *exportname,
             int is_tls)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  void *h;

  assert (p->open != NULL);
  h = p->open (readonly);
  /* A plugin may legitimately return any non-NULL handle. */
  return h;
}

static void
plugin_close (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->close)
    p->close (c->handle);
}

/* ---- queries ---- */

static const char *
plugin_export_description (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  return p->export_description ? p->export_description (c->handle) : NULL;
}

static int64_t
plugin_get_size (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  assert (p->get_size != NULL);
  return p->get_size (c->handle);
}

static int
plugin_block_size (struct context *c, uint32_t *minimum, uint32_t *preferred,
                   uint32_t *maximum)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  *minimum = *preferred = *maximum = 0;
  if (p->block_size == NULL)
    return 0;
  if (p->block_size (c->handle, minimum, preferred, maximum) == -1)
    return -1;

  /* All zero means "no constraints".  Otherwise check them here, once,
   * so that a buggy plugin gets a clear message, not a confused client.
   */
  if (*minimum == 0 && *preferred == 0 && *maximum == 0)
    return 0;
  if (*minimum < 1 || *minimum > 65536 || !is_power_of_2 (*minimum)) {
    nbdkit_error ("%s: block_size: minimum %" PRIu32 " must be a power of "
                  "2 between 1 and 65536", c->b->name, *minimum);
    return -1;
  }
  if (*preferred < 512 || *preferred > 32 * 1024 * 1024 ||
      !is_power_of_2 (*preferred) || *preferred < *minimum) {
    nbdkit_error ("%s: block_size: preferred %" PRIu32 " must be a power of "
                  "2 between 512 and 32M, and at least the minimum",
                  c->b->name, *preferred);
    return -1;
  }
  if (*maximum != 0xffffffff &&
      (*maximum < *preferred || *maximum % *minimum != 0)) {
    nbdkit_error ("%s: block_size: maximum %" PRIu32 " must be at least the "
                  "preferred size and a multiple of the minimum",
                  c->b->name, *maximum);
    return -1;
  }
  return 0;
}

static inline bool
has_pwrite (struct nbdkit_plugin *p)
{
  return p->pwrite || p->_pwrite_v1;
}

static inline bool
has_flush (struct nbdkit_plugin *p)
{
  return p->flush || p->_flush_v1;
}

static inline bool
has_trim (struct nbdkit_plugin *p)
{
  return p->trim || p->_trim_v1;
}

static inline bool
has_zero (struct nbdkit_plugin *p)
{
  return p->zero || p->_zero_v1;
}

/* Turns a plugin's boolean answer into a normalized 0/1/-1. */
static int
boolean_answer (int r)
{
  return r == -1 ? -1 : r != 0;
}

static int
plugin_can_write (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->can_write)
    return boolean_answer (p->can_write (c->handle));
  return has_pwrite (p);
}

static int
plugin_can_flush (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->can_flush)
    return boolean_answer (p->can_flush (c->handle));
  return has_flush (p);
}

static int
plugin_is_rotational (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  return p->is_rotational ? boolean_answer (p->is_rotational (c->handle)) : 0;
}

static int
plugin_can_trim (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->can_trim)
    return boolean_answer (p->can_trim (c->handle));
  return has_trim (p);
}

/* Zero is always possible on a writable context: when the plugin cannot
 * zero natively, this layer writes zeroes (plugin_zero).
 */
static int
plugin_can_zero (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  int r;

  if (p->can_zero) {
    r = p->can_zero (c->handle);
    if (r == -1)
      return -1;
    return r ? NBDKIT_ZERO_NATIVE : NBDKIT_ZERO_EMULATE;
  }
  return has_zero (p) ? NBDKIT_ZERO_NATIVE : NBDKIT_ZERO_EMULATE;
}

/* Emulated zeroes fail fast (ENOTSUP at once), so they count as fast. */
static int
plugin_can_fast_zero (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  int r;

  if (p->can_fast_zero)
    return boolean_answer (p->can_fast_zero (c->handle));
  r = backend_can_zero (c);
  if (r == -1)
    return -1;
  return r == NBDKIT_ZERO_EMULATE;
}

static int
plugin_can_extents (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  if (p->can_extents)
    return boolean_answer (p->can_extents (c->handle));
  return p->extents != NULL;
}

static int
plugin_can_fua (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  int r;

  /* Version 1 plugins had no FUA flag: emulate it with flush. */
  if (p->can_fua && p->_api_version > 1) {
    r = p->can_fua (c->handle);
    if (r == -1)
      return -1;
    if (r > NBDKIT_FUA_EMULATE)
      return NBDKIT_FUA_NATIVE;
    if (r == NBDKIT_FUA_NONE)
      return NBDKIT_FUA_NONE;
  }
  r = backend_can_flush (c);
  if (r == -1)
    return -1;
  return r ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
}

static int
plugin_can_multi_conn (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);

  return p->can_multi_conn ?
    boolean_answer (p->can_multi_conn (c->handle)) : 0;
}

static int
plugin_can_cache (struct context *c)
{
  struct nbdkit_plugin *p = PLUGIN (c->b);
  int r;

  if (p->can_cache) {
    r = p->can_cache (c->handle);
    if (r == -1)
      return -1;
    return r > NBDKIT_CACHE_EMULATE ? NBDKIT_CACHE_NATIVE : r;
  }
  return p->cache ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
}

/* ---- registration ---- */

static const struct backend plugin_functions = {
  .free = plugin_free,
  .thread_model = plugin_thread_model,
  .plugin_name = plugin_name,
  .usage = plugin_usage,
  .version = plugin_version,
  .dump_fields = plugin_dump_fields,
  .config = plugin_config,
  .config_complete = plugin_config_complete,
  .magic_config_key = plugin_magic_config_key,
  .get_ready = plugin_get_ready,
  .after_fork = plugin_after_fork,
  .cleanup = plugin_cleanup,
  .preconnect = plugin_preconnect,
  .list_exports = plugin_list_exports,
  .default_export = plugin_default_export,
  .open = plugin_open,
  .close = plugin_close,
  .export_description = plugin_export_description,
  .get_size = plugin_get_size,
  .block_size = plugin_block_size,
  .can_write = plugin_can_write,
  .can_flush = plugin_can_flush,
  .is_rotational = plugin_is_rotational,
  .can_trim = plugin_can_trim,
  .can_zero = plugin_can_zero,
  .can_fast_zero = plugin_can_fast_zero,
  .can_extents = plugin_can_extents,
  .can_fua = plugin_can_fua,
  .can_multi_conn = plugin_can_multi_conn,
  .can_cache = plugin_can_cache,
  /* The data calls are set by plugin_set_data_calls. */
};

struct backend *
plugin_register (size_t index, const char *filename, void *dl,
                 struct nbdkit_plugin *(*init) (void))
{
  struct backend_plugin *bp;
  const struct nbdkit_plugin *given;
  size_t size;

  bp = calloc (1, sizeof *bp);
  if (bp == NULL) {
    perror ("calloc");
    exit (EXIT_FAILURE);
  }
  bp->backend = plugin_functions;
  plugin_set_data_calls (&bp->backend);
  backend_init (&bp->backend, NULL, index, filename, dl, "plugin");

  given = init ();
  if (given == NULL) {
    fprintf (stderr, "%s: %s: plugin_init returned NULL\n",
             program_name, filename);
    exit (EXIT_FAILURE);
  }

  /* The ABI check: any older layout is fine, a newer one is not. */
  if (given->_api_version < 1 || given->_api_version > 2) {
    fprintf (stderr, "%s: %s: plugin uses API version %d, but this "
             "blockkit only supports versions 1 and 2; rebuild the plugin "
             "against these headers, or use a newer blockkit\n",
             program_name, filename, given->_api_version);
    exit (EXIT_FAILURE);
  }
  size = given->_struct_size;
  if (size < MIN_PLUGIN_SIZE) {
    fprintf (stderr, "%s: %s: plugin struct is too small (%zu bytes): "
             "this is not a valid plugin\n", program_name, filename, size);
    exit (EXIT_FAILURE);
  }
  if (size > sizeof bp->plugin) {
    fprintf (stderr, "%s: %s: plugin was built for a newer blockkit "
             "(struct of %zu bytes, this blockkit knows %zu); upgrade "
             "blockkit to load it\n",
             program_name, filename, size, sizeof bp->plugin);
    exit (EXIT_FAILURE);
  }
  memcpy (&bp->plugin, given, size);

  if (bp->plugin._thread_model < NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS ||
      bp->plugin._thread_model > NBDKIT_THREAD_MODEL_PARALLEL) {
    fprintf (stderr, "%s: %s: plugin has an invalid thread model %d\n",
             program_name, filename, bp->plugin._thread_model);
    exit (EXIT_FAILURE);
  }
  /* In a version 1 plugin the v2 slots are padding: ignore anything there. */
  if (bp->plugin._api_version == 1) {
    bp->plugin.pread = NULL;
    bp->plugin.pwrite = NULL;
    bp->plugin.flush = NULL;
    bp->plugin.trim = NULL;
    bp->plugin.zero = NULL;
  }
  /* Conversely a version 2 plugin's v1 slots must be ignored. */
  else {
    bp->plugin._pread_v1 = NULL;
    bp->plugin._pwrite_v1 = NULL;
    bp->plugin._flush_v1 = NULL;
    bp->plugin._trim_v1 = NULL;
    bp->plugin._zero_v1 = NULL;
  }

  if (bp->plugin.open == NULL || bp->plugin.get_size == NULL ||
      (bp->plugin.pread == NULL && bp->plugin._pread_v1 == NULL)) {
    fprintf (stderr, "%s: %s: plugin must have .open, .get_size and "
             ".pread callbacks\n", program_name, filename);
    exit (EXIT_FAILURE);
  }

  backend_load (&bp->backend, bp->plugin.name, bp->plugin.load);
  return &bp->backend;
}
