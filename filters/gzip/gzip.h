/* blockkit: the gzip filter's internal interface.
 *
 * gzip.c is the glue to the filter API; inflate.c decompresses the .gz
 * file below into a temporary file that the image is then served from.
 */
#ifndef BLOCKKIT_GZIP_H
#define BLOCKKIT_GZIP_H

#include <stdint.h>

#include <nbdkit-filter.h>

/* Decompresses the whole of the file below (every gzip member, in
 * order) into FD from offset 0, and sets *SIZE to the number of bytes
 * written.  Errors are reported with nbdkit_error.
 */
extern int gz_inflate_to_fd (nbdkit_next *next, int fd, uint64_t *size);

#endif /* BLOCKKIT_GZIP_H */
