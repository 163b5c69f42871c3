/* blockkit: MIN/MAX that evaluate their arguments once, and alignment. */
#ifndef BLOCKKIT_MINMAX_H
#define BLOCKKIT_MINMAX_H

#include <stdbool.h>
#include <stdint.h>

#undef MIN
#undef MAX
#define MIN(a, b) ({ __typeof__ (a) a_ = (a); __typeof__ (b) b_ = (b); \
                     a_ < b_ ? a_ : b_; })
#define MAX(a, b) ({ __typeof__ (a) a_ = (a); __typeof__ (b) b_ = (b); \
                     a_ > b_ ? a_ : b_; })

/* ALIGN must be a power of two. */
#define ROUND_UP(n, align)   (((n) + (align) - 1) & ~((__typeof__ (n)) (align) - 1))
#define ROUND_DOWN(n, align) ((n) & ~((__typeof__ (n)) (align) - 1))
#define IS_ALIGNED(n, align) (((n) & ((align) - 1)) == 0)

static inline bool
is_power_of_2 (uint64_t v)
{
  return v && (v & (v - 1)) == 0;
}

#endif /* BLOCKKIT_MINMAX_H */
