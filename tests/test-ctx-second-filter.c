/* A filter that, besides the context the server manages for it (next),
 * opens a SECOND context below in .open, prepares it itself, reads
 * through it, and finalizes and closes it itself in .close.  The plugin
 * must see two opens and two closes per connection.  Layer "second" in
 * the call log (test-layer-log.h); for test-filter-contexts.sh.
 */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

struct handle {
  nbdkit_next *second;          /* ours: we prepare, finalize, close it */
};

static void
second_load (void)
{
  layer_log_name ("second");
}

static void
second_unload (void)
{
  layer_log_close ();
}

static int
second_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  return next (nxdata, key, value);
}

static void *
second_open (nbdkit_next_open *next, nbdkit_context *context,
             int readonly, const char *exportname, int is_tls)
{
  struct handle *h;
  char buf[512];
  int err = 0;

  layer_log ("open");
  if (next (context, readonly, exportname) == -1)
    return NULL;

  h = malloc (sizeof *h);
  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  /* Read-only: this one only ever reads. */
  h->second = nbdkit_next_context_open (nbdkit_context_get_backend (context),
                                        1, exportname, 0);
  if (h->second == NULL) {
    free (h);
    return NULL;
  }
  layer_log ("open: second opened");
  if (h->second->prepare (h->second) == -1)
    goto err;
  if (h->second->get_size (h->second) < (int64_t) sizeof buf) {
    nbdkit_error ("second: the disk is too small");
    goto err;
  }
  if (h->second->pread (h->second, buf, sizeof buf, 0, 0, &err) == -1) {
    nbdkit_error ("second: read through the second context: %s",
                  strerror (err));
    goto err;
  }
  layer_log ("open: read through second ok");
  return h;

 err:
  /* Finalize even after a failed prepare: it only undoes what was done. */
  h->second->finalize (h->second);
  nbdkit_next_context_close (h->second);
  free (h);
  return NULL;
}

static void
second_close (void *handle)
{
  struct handle *h = handle;

  layer_log ("close");
  if (h->second->finalize (h->second) == -1)
    layer_log ("close: finalize of second failed");
  nbdkit_next_context_close (h->second);
  layer_log ("close: second closed");
  free (h);
}

static int
second_prepare (nbdkit_next *next, void *handle, int readonly)
{
  layer_log ("prepare");
  return 0;
}

static int
second_finalize (nbdkit_next *next, void *handle)
{
  layer_log ("finalize");
  return 0;
}

static struct nbdkit_filter filter = {
  .name              = "ctxsecond",
  .longname          = "second context test filter",
  .load              = second_load,
  .unload            = second_unload,
  .config            = second_config,
  .open              = second_open,
  .close             = second_close,
  .prepare           = second_prepare,
  .finalize          = second_finalize,
};

NBDKIT_REGISTER_FILTER (filter)
