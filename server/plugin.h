/* blockkit: the plugin layer's private parts, shared by plugins.c and
 * plugin-data.c.
 */
#ifndef BLOCKKIT_PLUGIN_H
#define BLOCKKIT_PLUGIN_H

#include <stdint.h>

#include "internal.h"

struct backend_plugin {
  struct backend backend;
  struct nbdkit_plugin plugin;  /* our full-size copy */
};

#define PLUGIN(b) (&((struct backend_plugin *) (b))->plugin)

/* plugin-data.c: fills in the data calls of the plugin's struct backend. */
extern void plugin_set_data_calls (struct backend *b);

#endif /* BLOCKKIT_PLUGIN_H */
