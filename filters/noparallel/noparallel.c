/* blockkit: the noparallel filter (placeholder until it is written). */
#include <config.h>

#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "noparallel",
  .longname = "blockkit noparallel filter (not yet implemented: passes through)",
};

NBDKIT_REGISTER_FILTER (filter)
