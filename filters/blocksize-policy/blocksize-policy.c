/* blockkit: the blocksize-policy filter (placeholder until it is written). */
#include <config.h>

#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "blocksize-policy",
  .longname = "blockkit blocksize-policy filter (not yet implemented: passes through)",
};

NBDKIT_REGISTER_FILTER (filter)
