/* blockkit: a BOOL|/PATH switch (see trigger.h). */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "trigger.h"

int
blk_trigger_parse (const char *key, const char *value, struct blk_trigger *t)
{
  int r;

  blk_trigger_free (t);
  if (value[0] == '/') {
    t->path = strdup (value);
    if (t->path == NULL) {
      nbdkit_error ("%s=%s: strdup: %m", key, value);
      return -1;
    }
    return 0;
  }
  r = nbdkit_parse_bool (value);
  if (r == -1) {
    nbdkit_error ("%s=%s: expected a boolean or an absolute path", key,
                  value);
    return -1;
  }
  t->on = r;
  return 0;
}

bool
blk_trigger_active (const struct blk_trigger *t)
{
  if (t->path)
    return access (t->path, F_OK) == 0;
  return t->on;
}

void
blk_trigger_free (struct blk_trigger *t)
{
  free (t->path);
  t->path = NULL;
  t->on = false;
}
