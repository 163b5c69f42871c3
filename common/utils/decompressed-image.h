/* blockkit: the capabilities of a filter that serves the decompressed
 * form of the image below it (the xz and gzip filters), in one copy.
 *
 * The image served is read-only and unchanging, and nothing the layer
 * below says about itself applies to it: its block size limits and its
 * extents describe the compressed file.  So: no write, zero or trim; no
 * block size constraints; extents as "all data"; CACHE served by reading
 * (which warms the filter's own cache); multi-conn, since every
 * connection reads the same bytes.
 *
 * Include it in the filter's one source file that defines its struct
 * nbdkit_filter, and point the callbacks there at these.
 */
#ifndef BLOCKKIT_DECOMPRESSED_IMAGE_H
#define BLOCKKIT_DECOMPRESSED_IMAGE_H

#include <nbdkit-filter.h>

static int
decompressed_block_size (nbdkit_next *next, void *handle, uint32_t *minimum,
                         uint32_t *preferred, uint32_t *maximum)
{
  *minimum = *preferred = *maximum = 0;
  return 0;
}

static int
decompressed_false (nbdkit_next *next, void *handle)
{
  return 0;
}

static int
decompressed_true (nbdkit_next *next, void *handle)
{
  return 1;
}

static int
decompressed_can_zero (nbdkit_next *next, void *handle)
{
  return NBDKIT_ZERO_NONE;
}

static int
decompressed_can_cache (nbdkit_next *next, void *handle)
{
  return NBDKIT_CACHE_EMULATE;
}

/* In the filter's struct: .block_size, .can_write ... .can_multi_conn. */
#define DECOMPRESSED_IMAGE_CAPABILITIES             \
  .block_size        = decompressed_block_size,     \
  .can_write         = decompressed_false,          \
  .can_zero          = decompressed_can_zero,       \
  .can_trim          = decompressed_false,          \
  .can_extents       = decompressed_false,          \
  .can_cache         = decompressed_can_cache,      \
  .can_multi_conn    = decompressed_true

#endif /* BLOCKKIT_DECOMPRESSED_IMAGE_H */
