/* blockkit: the limit filter.
 *
 * Limits how many clients may be connected at once (limit=N, default 1;
 * 0 means no limit).  A client over the limit is refused in .preconnect,
 * before the handshake, so it sees the connection closed at once.  Two
 * clients arriving together may both pass .preconnect; .open, which
 * every client reaches before it can transfer data, enforces the limit
 * exactly.
 *
 * A client is counted while it has the export open (from .open to
 * .close).  The filter must sit above any filter that opens contexts of
 * its own (scan, retry while reopening), so that only clients are
 * counted: put it first on the command line.
 */
#include <config.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"

static unsigned limit = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned connections;

/* Any non-NULL handle: the filter keeps no state per client. */
static int handle_token;

static int
limit_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "limit") == 0)
    return nbdkit_parse_unsigned ("limit", value, &limit);
  return next (nxdata, key, value);
}

#define limit_config_help \
  "limit=<N>            Maximum number of clients at once (default 1;\n" \
  "                     0: no limit)."

static bool
over_limit_locked (void)
{
  return limit > 0 && connections >= limit;
}

static int
limit_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                  int readonly)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    if (over_limit_locked ()) {
      nbdkit_error ("limit=%u: too many clients connected, refusing this "
                    "one", limit);
      return -1;
    }
  }
  return next (nxdata, readonly);
}

static void *
limit_open (nbdkit_next_open *next, nbdkit_context *context,
            int readonly, const char *exportname, int is_tls)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    if (over_limit_locked ()) {
      nbdkit_error ("limit=%u: too many clients connected, refusing this "
                    "one", limit);
      return NULL;
    }
    connections++;
  }
  if (next (context, readonly, exportname) == -1) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
    connections--;
    return NULL;
  }
  return &handle_token;
}

static void
limit_close (void *handle)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  connections--;
}

static struct nbdkit_filter filter = {
  .name = "limit",
  .longname = "blockkit limit filter",
  .config = limit_config,
  .config_help = limit_config_help,
  .preconnect = limit_preconnect,
  .open = limit_open,
  .close = limit_close,
};

NBDKIT_REGISTER_FILTER (filter)
