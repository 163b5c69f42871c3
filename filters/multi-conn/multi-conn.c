/* blockkit: the multi-conn filter (placeholder until it is written). */
#include <config.h>

#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "multi-conn",
  .longname = "blockkit multi-conn filter (not yet implemented: passes through)",
};

NBDKIT_REGISTER_FILTER (filter)
