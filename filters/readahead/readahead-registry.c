/* blockkit: the readahead filter's list of open handles.
 *
 * Lock order: the registry lock, then a handle's lock.  A reader holds
 * only its handle's lock (also while it reads from below), so a writer
 * invalidating waits for a fill in progress to finish and then drops it:
 * data read before the write reached below never outlives the write.
 */
#include <config.h>

#include <pthread.h>
#include <stdint.h>

#include "cleanup.h"
#include "readahead.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ra_handle *handles;

void
ra_register (struct ra_handle *h)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&registry_lock);

  h->prev = NULL;
  h->next = handles;
  if (handles)
    handles->prev = h;
  handles = h;
}

void
ra_unregister (struct ra_handle *h)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&registry_lock);

  if (h->prev)
    h->prev->next = h->next;
  else
    handles = h->next;
  if (h->next)
    h->next->prev = h->prev;
  h->prev = h->next = NULL;
}

void
ra_invalidate (uint64_t offset, uint64_t count)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&registry_lock);
  struct ra_handle *h;

  for (h = handles; h != NULL; h = h->next) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&h->lock);

    if (h->buf_len > 0 && offset < h->buf_offset + h->buf_len &&
        h->buf_offset < offset + count)
      h->buf_len = 0;
  }
}
