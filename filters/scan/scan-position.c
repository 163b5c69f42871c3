/* blockkit scan filter: where the scan is, and where it goes next. */
#include <config.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "minmax.h"
#include "scan-position.h"

void
scan_position_start (struct scan_position *p, uint64_t size, bool clock)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&p->lock);

  p->started = true;
  p->clock = clock;
  p->pos = 0;
  p->limit = size;
}

bool
scan_position_next (struct scan_position *p, uint32_t chunk,
                    uint64_t *offset, uint32_t *n)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&p->lock);

  if (p->stopped)
    return false;
  if (p->pos >= p->limit) {
    /* The first pass is over.  With scan-clock, go round once more over
     * the stretch that skipping ahead jumped over.
     */
    if (!p->clock || p->wrapped || !p->skipped)
      return false;
    p->wrapped = true;
    p->pos = p->skip_lo;
    p->limit = p->skip_hi;
    if (p->pos >= p->limit)
      return false;
  }
  *offset = p->pos;
  *n = (uint32_t) MIN ((uint64_t) chunk, p->limit - p->pos);
  p->pos += *n;
  return true;
}

void
scan_position_client_read (struct scan_position *p, uint64_t offset,
                           uint32_t count)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&p->lock);
  uint64_t end = offset + count;

  /* Only the first pass skips: the second one covers what was skipped. */
  if (!p->started || p->stopped || p->wrapped || end <= p->pos)
    return;
  if (offset > p->pos) {
    if (!p->skipped) {
      p->skipped = true;
      p->skip_lo = p->pos;
    }
    p->skip_hi = offset;
  }
  p->pos = MIN (end, p->limit);
}

void
scan_position_stop (struct scan_position *p)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&p->lock);

  p->stopped = true;
}

bool
scan_position_stopped (struct scan_position *p)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&p->lock);

  return p->stopped;
}
