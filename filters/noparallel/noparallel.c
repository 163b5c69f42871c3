/* blockkit: the noparallel filter.
 *
 * Forces a stricter thread model on the whole chain (the server runs at
 * the most restrictive model any layer asks for), to work around a
 * plugin that is less thread-safe than it claims or to measure what
 * parallelism is worth:
 *
 *   serialize=requests       one request at a time per connection
 *                            (default)
 *   serialize=all-requests   one request at a time across all
 *                            connections
 *   serialize=connections    one connection at a time
 */
#include <config.h>

#include <string.h>

#include <nbdkit-filter.h>

static int model = NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;

static int
noparallel_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                   const char *key, const char *value)
{
  if (strcmp (key, "serialize") == 0 || strcmp (key, "serialise") == 0) {
    if (strcmp (value, "requests") == 0)
      model = NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;
    else if (strcmp (value, "all-requests") == 0 ||
             strcmp (value, "all_requests") == 0)
      model = NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
    else if (strcmp (value, "connections") == 0)
      model = NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS;
    else {
      nbdkit_error ("%s=%s: unknown value (expected requests, "
                    "all-requests or connections)", key, value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

#define noparallel_config_help \
  "serialize=<MODE>     requests (default), all-requests or connections."

static int
noparallel_thread_model (void)
{
  return model;
}

static struct nbdkit_filter filter = {
  .name = "noparallel",
  .longname = "blockkit noparallel filter",
  .config = noparallel_config,
  .config_help = noparallel_config_help,
  .thread_model = noparallel_thread_model,
};

NBDKIT_REGISTER_FILTER (filter)
