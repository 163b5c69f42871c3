/* blockkit: the partition list and bounded reads of the disk. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <nbdkit-filter.h>

#include "table.h"

int
table_add (struct table *t, unsigned number, uint64_t start,
           uint64_t length, bool container)
{
  struct part *p = realloc (t->ptr, (t->len + 1) * sizeof *p);

  if (p == NULL) {
    nbdkit_error ("realloc: %m");
    return -1;
  }
  t->ptr = p;
  t->ptr[t->len++] = (struct part) {
    .number = number, .start = start, .length = length,
    .container = container,
  };
  return 0;
}

void
table_free (struct table *t)
{
  free (t->ptr);
  t->ptr = NULL;
  t->len = 0;
}

int
read_disk (nbdkit_next *next, uint64_t disk_size, void *buf,
           uint32_t count, uint64_t offset, const char *what)
{
  int err;

  if (offset > disk_size || count > disk_size - offset) {
    nbdkit_error ("partition filter: the %s at byte %" PRIu64 " is past "
                  "the end of the disk (size %" PRIu64 "): corrupt or "
                  "truncated partition table", what, offset, disk_size);
    return -1;
  }
  if (next->pread (next, buf, count, offset, 0, &err) == -1) {
    errno = err;
    nbdkit_error ("partition filter: reading the %s: %m", what);
    return -1;
  }
  return 0;
}
