/* blockkit: the usual first step of a filter's .open.
 *
 * Most filters keep per-connection state in a struct that starts zeroed:
 * their .open opens the layer below and allocates it, and their .close
 * frees it (a .close that does only that can be `free` itself).
 */
#ifndef BLOCKKIT_FILTER_HANDLE_H
#define BLOCKKIT_FILTER_HANDLE_H

#include <stdlib.h>

#include <nbdkit-filter.h>

/* Opens the layer below (READONLY as given: a filter that only ever
 * reads below passes 1), then returns SIZE zeroed bytes for the
 * connection's handle.  NULL, with the error reported, if either fails.
 */
static inline void *
filter_handle_open (nbdkit_next_open *next, nbdkit_context *nxdata,
                    int readonly, const char *exportname, size_t size)
{
  void *h;

  if (next (nxdata, readonly, exportname) == -1)
    return NULL;
  h = calloc (1, size);
  if (h == NULL)
    nbdkit_error ("calloc: %m");
  return h;
}

#endif /* BLOCKKIT_FILTER_HANDLE_H */
