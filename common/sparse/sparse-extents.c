/* blockkit: a sparse array's allocation, as a plugin's block status.
 * Shared by the memory and data plugins: missing pages are holes that
 * read as zeroes, allocated pages are data.
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "sparse.h"

struct extents_ctx {
  struct nbdkit_extents *extents;
  bool req_one;
};

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, bool allocated)
{
  struct extents_ctx *ctx = opaque;

  if (nbdkit_add_extent (ctx->extents, offset, length,
                         allocated ? 0
                         : NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1)
    return -1;
  /* With REQ_ONE the first extent is all the client wants. */
  return ctx->req_one ? 1 : 0;
}

int
sparse_array_plugin_extents (struct sparse_array *sa, uint32_t count,
                             uint64_t offset, uint32_t flags,
                             struct nbdkit_extents *extents)
{
  struct extents_ctx ctx = {
    .extents = extents,
    .req_one = flags & NBDKIT_FLAG_REQ_ONE,
  };

  return sparse_array_extents (sa, count, offset, add_extent, &ctx);
}
