/* blockkit: the readahead filter (placeholder until it is written). */
#include <config.h>

#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "readahead",
  .longname = "blockkit readahead filter (not yet implemented: passes through)",
};

NBDKIT_REGISTER_FILTER (filter)
