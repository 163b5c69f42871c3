/* A filter whose .open opens the context below by hand instead of calling
 * next: nbdkit_context_get_backend + nbdkit_next_context_open (not
 * shared) + nbdkit_context_set_next.  Once associated, the server is to
 * prepare, finalize and close that context exactly as if next had been
 * called; test-filter-contexts.sh checks that from the call log
 * (test-layer-log.h), where this filter is layer "manual".
 *
 *   manual.closeself=BOOL   in .close, take the context back with
 *                           nbdkit_context_set_next (context, NULL) and
 *                           close it here (the server must then not
 *                           close it a second time)
 */
#include <config.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

static bool closeself;

struct handle {
  nbdkit_context *context;      /* valid until .close returns */
};

static void
manual_load (void)
{
  layer_log_name ("manual");
}

static void
manual_unload (void)
{
  layer_log_close ();
}

static int
manual_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  if (strcmp (key, "manual.closeself") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    closeself = r;
    return 0;
  }
  return next (nxdata, key, value);
}

static void *
manual_open (nbdkit_next_open *next, nbdkit_context *context,
             int readonly, const char *exportname, int is_tls)
{
  struct handle *h;
  nbdkit_next *below, *old;

  h = malloc (sizeof *h);
  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  h->context = context;

  layer_log ("open");
  below = nbdkit_next_context_open (nbdkit_context_get_backend (context),
                                    readonly, exportname, 0);
  if (below == NULL) {
    free (h);
    return NULL;
  }
  old = nbdkit_context_set_next (context, below);
  if (old != NULL) {
    nbdkit_error ("manual: a next context was already associated");
    nbdkit_next_context_close (below);
    free (h);
    return NULL;
  }
  layer_log ("open: associated");
  return h;
}

static void
manual_close (void *handle)
{
  struct handle *h = handle;

  layer_log ("close");
  if (closeself) {
    nbdkit_next *below = nbdkit_context_set_next (h->context, NULL);

    layer_log ("close: closing below itself");
    nbdkit_next_context_close (below);
  }
  free (h);
}

static int
manual_prepare (nbdkit_next *next, void *handle, int readonly)
{
  layer_log ("prepare");
  return 0;
}

static int
manual_finalize (nbdkit_next *next, void *handle)
{
  layer_log ("finalize");
  return 0;
}

static struct nbdkit_filter filter = {
  .name              = "ctxmanual",
  .longname          = "manual next context test filter",
  .load              = manual_load,
  .unload            = manual_unload,
  .config            = manual_config,
  .config_help       = "manual.closeself=BOOL",
  .open              = manual_open,
  .close             = manual_close,
  .prepare           = manual_prepare,
  .finalize          = manual_finalize,
};

NBDKIT_REGISTER_FILTER (filter)
