/* blockkit: the retry filter (placeholder until it is written). */
#include <config.h>

#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "retry",
  .longname = "blockkit retry filter (not yet implemented: passes through)",
};

NBDKIT_REGISTER_FILTER (filter)
