/* blockkit scan filter: where the scan is, and where it goes next. */
#ifndef BLOCKKIT_SCAN_POSITION_H
#define BLOCKKIT_SCAN_POSITION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* The scan reads [pos, limit) in order.  Client reads beyond pos move pos
 * forward (scan-ahead); the stretch jumped over is remembered as
 * [skip_lo, skip_hi), which a second pass re-reads at the end
 * (scan-clock).  Everything is under the lock: the scan thread and the
 * client's requests both move pos.
 */
struct scan_position {
  pthread_mutex_t lock;
  bool started, stopped, wrapped, skipped, clock;
  uint64_t pos, limit, skip_lo, skip_hi;
};

#define SCAN_POSITION_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Begins a scan of SIZE bytes (a stop asked for earlier still holds). */
extern void scan_position_start (struct scan_position *p, uint64_t size,
                                 bool clock);
/* Claims the next piece of at most CHUNK bytes; false when the scan is
 * over (finished or stopped).
 */
extern bool scan_position_next (struct scan_position *p, uint32_t chunk,
                                uint64_t *offset, uint32_t *n);
/* A client read [offset, offset+count): skip ahead past it. */
extern void scan_position_client_read (struct scan_position *p,
                                       uint64_t offset, uint32_t count);
extern void scan_position_stop (struct scan_position *p);
extern bool scan_position_stopped (struct scan_position *p);

#endif /* BLOCKKIT_SCAN_POSITION_H */
