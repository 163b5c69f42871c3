/* blockkit: the cache filter's eviction (see cache.h).
 *
 * The clock runs over a ring of the blocks in the cache rather than over
 * the whole export, so a small cache on a huge disk scans little.  Each
 * block has two flags: "referenced" (used since the hand last passed:
 * spared once) and "in ring" (so a block enters the ring once).  A block
 * that left the cache by other means (trim) keeps its ring entry until
 * the hand finds it absent and drops it.
 *
 * Locking: evict_lock guards the ring and the flags.  A caller holds the
 * lock of the block it is adding; a victim's lock is only ever tried
 * (never waited for), so no two threads can wait for each other.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "blkstore.h"
#include "cache.h"
#include "cleanup.h"

#define REFERENCED 1
#define IN_RING 2

static pthread_mutex_t evict_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *flags;          /* one byte per block */
static uint64_t nflags;
static uint64_t *ring;          /* blocks in the cache (roughly) */
static uint64_t ring_len, ring_cap, hand;

int
cache_evict_grow (uint64_t nblocks)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&evict_lock);
  uint8_t *p;

  if (cache_max_blocks == 0 || nblocks <= nflags)
    return 0;
  p = realloc (flags, nblocks);
  if (p == NULL) {
    nbdkit_error ("cache: realloc: %m");
    return -1;
  }
  memset (p + nflags, 0, nblocks - nflags);
  flags = p;
  nflags = nblocks;
  return 0;
}

void
cache_evict_free (void)
{
  free (flags);
  free (ring);
  flags = NULL;
  ring = NULL;
  nflags = ring_len = ring_cap = hand = 0;
}

void
cache_evict_touch (uint64_t blk)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&evict_lock);

  if (blk < nflags)
    flags[blk] |= REFERENCED;
}

void
cache_evict_added (uint64_t blk)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&evict_lock);

  if (blk >= nflags || (flags[blk] & IN_RING))
    return;
  if (ring_len == ring_cap) {
    uint64_t cap = ring_cap ? ring_cap * 2 : 64;
    uint64_t *p = realloc (ring, cap * sizeof *ring);

    if (p == NULL) {
      /* The block is cached but cannot be evicted: the limit is soft. */
      nbdkit_debug ("cache: realloc: %m");
      return;
    }
    ring = p;
    ring_cap = cap;
  }
  ring[ring_len++] = blk;
  flags[blk] |= IN_RING | REFERENCED;
}

/* With evict_lock held: drops the entry under the hand. */
static void
ring_remove_at_hand (void)
{
  flags[ring[hand]] &= ~IN_RING;
  ring[hand] = ring[--ring_len];
}

/* With evict_lock held: picks a victim and returns with its block lock
 * held and its ring entry gone, or returns false when there is none.
 */
static bool
pick_victim (uint64_t held, uint64_t *victim)
{
  uint64_t steps;
  /* Two full turns: the first may only clear "referenced" flags. */
  const uint64_t max_steps = 2 * ring_len + 2;

  for (steps = 0; steps < max_steps && ring_len > 0; ++steps) {
    uint64_t blk;

    if (hand >= ring_len)
      hand = 0;
    blk = ring[hand];
    if (blkstore_get (cache_store, blk) == CACHE_ABSENT) {
      ring_remove_at_hand ();   /* stale: left by trim */
      continue;
    }
    if (flags[blk] & REFERENCED) {
      flags[blk] &= ~REFERENCED;
      hand++;
      continue;
    }
    if (blkstore_same_lock (cache_store, blk, held) ||
        !blkstore_trylock (cache_store, blk)) {
      hand++;                   /* busy: someone is using it */
      continue;
    }
    ring_remove_at_hand ();
    *victim = blk;
    return true;
  }
  return false;
}

static uint64_t
cached_blocks (void)
{
  return blkstore_count (cache_store, CACHE_CLEAN) +
    blkstore_count (cache_store, CACHE_DIRTY);
}

int
cache_evict_make_room (nbdkit_next *next, uint64_t held, int *err)
{
  unsigned evicted = 0, written = 0;

  if (cache_max_blocks == 0)
    return 0;
  while (cached_blocks () >= cache_max_blocks) {
    uint64_t victim;
    unsigned state;
    bool found;

    pthread_mutex_lock (&evict_lock);
    found = pick_victim (held, &victim);
    pthread_mutex_unlock (&evict_lock);
    if (!found)
      break;

    /* We hold the victim's lock: nobody else can change it now. */
    state = blkstore_get (cache_store, victim);
    if (state == CACHE_DIRTY) {
      if (cache_writeback_locked (next, victim, 0, err) == -1) {
        blkstore_unlock (cache_store, victim);
        cache_evict_added (victim);     /* still cached, still dirty */
        return -1;
      }
      written++;
    }
    if (state != CACHE_ABSENT) {
      blkstore_set (cache_store, victim, CACHE_ABSENT);
      blkstore_discard (cache_store, victim);
      evicted++;
    }
    blkstore_unlock (cache_store, victim);
  }
  if (evicted > 0)
    nbdkit_debug ("cache: evicted %u blocks (%u written back first); "
                  "%" PRIu64 " blocks cached, the file holds %" PRIu64
                  " bytes", evicted, written, cached_blocks (),
                  blkstore_allocated (cache_store));
  return 0;
}
