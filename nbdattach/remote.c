/* nbdattach: remote data sources get the retry filter by default.
 *
 * A device backed by another machine (the nbd, curl and rbd plugins, or
 * a URI given in place of the plugin) fails whenever that machine
 * restarts or the network blips.  The commonest complaint about
 * nbd-client is exactly that: the server restarts and the device is
 * dead.  So for these plugins nbdattach stacks the retry filter directly
 * on the plugin unless the chain already has one or --no-retry is
 * given: a failed request then reopens the plugin (a new connection to
 * the server) and is tried again, with the retry filter's defaults (5
 * retries, 2 s doubling: about a minute), before the kernel sees EIO.
 * Local plugins get nothing: for them a failure is not transient.
 */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nbdattach.h"

static const char *const remote_plugins[] = { "nbd", "curl", "rbd" };
static const char *const remote_schemes[] = {
  "nbd://", "nbds://", "nbd+unix://", "nbds+unix://", "nbd+vsock://",
  "nbds+vsock://", "http://", "https://",
};

bool
plugin_is_remote (const char *plugin)
{
  const char *base = strrchr (plugin, '/');
  size_t i;

  for (i = 0; i < sizeof remote_schemes / sizeof remote_schemes[0]; ++i)
    if (strncmp (plugin, remote_schemes[i], strlen (remote_schemes[i])) == 0)
      return true;
  /* A name, or a path to blockkit-NAME-plugin.so / nbdkit-NAME-plugin.so. */
  base = base ? base + 1 : plugin;
  for (i = 0; i < sizeof remote_plugins / sizeof remote_plugins[0]; ++i) {
    const char *n = remote_plugins[i];
    size_t len = strlen (n);
    const char *dash = strchr (base, '-');

    if (strcmp (base, n) == 0)
      return true;
    if (dash && strncmp (dash + 1, n, len) == 0 &&
        strncmp (dash + 1 + len, "-plugin", 7) == 0)
      return true;
  }
  return false;
}

/* The filter list to load: FILTERS (N of them, nearest the client first)
 * with "retry" added nearest the plugin when that is called for.  The
 * result is a new array (free it); the strings are not copied.
 */
char **
filters_with_auto_retry (const char *plugin, char **filters, size_t *n,
                         bool no_retry)
{
  char **v = malloc ((*n + 1) * sizeof *v);
  bool has_retry = false;
  size_t i;

  if (v == NULL)
    return NULL;
  for (i = 0; i < *n; ++i) {
    v[i] = filters[i];
    if (strcmp (filters[i], "retry") == 0 ||
        strstr (filters[i], "-retry-filter") != NULL)
      has_retry = true;
  }
  if (!no_retry && !has_retry && plugin_is_remote (plugin)) {
    v[(*n)++] = (char *) "retry";
    debug ("%s is remote: the retry filter is added (--no-retry to "
           "leave it out)", plugin);
  }
  return v;
}
