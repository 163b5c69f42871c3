/* blockkit: the data path of the sh and eval plugins: pread, pwrite,
 * flush, trim, zero, extents and cache, each one script run.
 *
 * pread takes exactly COUNT bytes from the script's stdout (fewer or more
 * is an error, since a disk that reads short would hand the client
 * garbage); pwrite gives COUNT bytes on its stdin.  A method the script
 * does not have (exit 2) does what a C plugin without the callback would
 * get: zero answers EOPNOTSUPP so that the server writes zeroes through
 * pwrite instead, flush, trim and cache succeed doing nothing (they are
 * only called when the script said it could), and pread, pwrite and
 * extents, which cannot be done without the script, fail.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* asprintf */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>

#include "call.h"
#include "methods.h"

/* Decimal numbers and the flags list, held for the duration of a call. */
struct io_args {
  char count[16], offset[24], flags[32];
};

static void
format_args (struct io_args *a, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  snprintf (a->count, sizeof a->count, "%" PRIu32, count);
  snprintf (a->offset, sizeof a->offset, "%" PRIu64, offset);
  /* Established order and spelling: "fua,may_trim,fast", "req_one". */
  a->flags[0] = '\0';
  if (flags & NBDKIT_FLAG_FUA)
    strcat (a->flags, ",fua");
  if (flags & NBDKIT_FLAG_MAY_TRIM)
    strcat (a->flags, ",may_trim");
  if (flags & NBDKIT_FLAG_FAST_ZERO)
    strcat (a->flags, ",fast");
  if (flags & NBDKIT_FLAG_REQ_ONE)
    strcat (a->flags, ",req_one");
  if (a->flags[0] == ',')
    memmove (a->flags, a->flags + 1, strlen (a->flags));
}

/* The statuses that make no sense for a data method. */
static int
unexpected (const char *method, int status)
{
  if (status == CALL_FALSE) {
    call_error (method, "%s method returned unexpected code (3/false)",
                method);
    nbdkit_set_error (EIO);
  }
  return -1;
}

int
script_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  struct handle *h = handle;
  struct io_args a;
  const char *args[4];
  /* One byte more than wanted is kept so that too much shows; the rest
   * is counted but not stored.
   */
  struct call_output out = { .max = (size_t) count + 1 };
  int r = -1, s;

  format_args (&a, count, offset, 0);
  args[0] = h->h; args[1] = a.count; args[2] = a.offset; args[3] = NULL;
  s = call_run ("pread", args, NULL, 0, &out);
  switch (s) {
  case CALL_OK:
    if (out.total == count) {
      memcpy (buf, out.data, count);
      r = 0;
    }
    else {
      call_error ("pread", "incorrect amount of data read: expecting "
                  "%" PRIu32 " bytes but received %zu bytes from the "
                  "script", count, out.total);
      nbdkit_set_error (EIO);
    }
    break;
  case CALL_MISSING:
    call_error ("pread", "the pread method is required");
    nbdkit_set_error (EIO);
    break;
  default:
    unexpected ("pread", s);
  }
  call_output_free (&out);
  return r;
}

int
script_pwrite (void *handle, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  struct io_args a;
  const char *args[5];
  int s;

  format_args (&a, count, offset, flags);
  args[0] = h->h; args[1] = a.count; args[2] = a.offset; args[3] = a.flags;
  args[4] = NULL;
  s = call_run ("pwrite", args, buf, count, NULL);
  switch (s) {
  case CALL_OK:
    return 0;
  case CALL_MISSING:
    /* can_write said yes, but there is nothing to write with. */
    call_error ("pwrite", "the pwrite method is missing");
    nbdkit_set_error (EROFS);
    return -1;
  default:
    return unexpected ("pwrite", s);
  }
}

int
script_flush (void *handle, uint32_t flags)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };
  int s = call_run ("flush", args, NULL, 0, NULL);

  return s == CALL_OK || s == CALL_MISSING ? 0 : unexpected ("flush", s);
}

/* trim, zero and cache take the same arguments. */
static int
range_method (const char *method, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags, bool with_flags)
{
  struct handle *h = handle;
  struct io_args a;
  const char *args[5];

  format_args (&a, count, offset, flags);
  args[0] = h->h; args[1] = a.count; args[2] = a.offset;
  args[3] = with_flags ? a.flags : NULL;
  args[4] = NULL;
  return call_run (method, args, NULL, 0, NULL);
}

int
script_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  int s = range_method ("trim", handle, count, offset, flags, true);

  return s == CALL_OK || s == CALL_MISSING ? 0 : unexpected ("trim", s);
}

int
script_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  int s = range_method ("zero", handle, count, offset, flags, true);

  switch (s) {
  case CALL_OK:
    return 0;
  case CALL_MISSING:
    /* The server writes zeroes with pwrite instead (or fails a fast
     * zero at once), as it would for a C plugin without .zero.
     */
    nbdkit_debug ("zero: no zero method, falling back to pwrite");
    nbdkit_set_error (EOPNOTSUPP);
    return -1;
  default:
    return unexpected ("zero", s);
  }
}

int
script_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  int s = range_method ("cache", handle, count, offset, flags, false);

  return s == CALL_OK || s == CALL_MISSING ? 0 : unexpected ("cache", s);
}

/* The type field of an extent line: a number, or words "hole" and
 * "zero" separated by commas (other words are ignored, as established),
 * or nothing (allocated data).
 */
static uint32_t
parse_type (const char *t)
{
  uint32_t type = 0;
  const char *p = t;

  if (isdigit ((unsigned char) *t))
    return strtoul (t, NULL, 0) & (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
  while (*p) {
    size_t n = strcspn (p, ", \t");
    if (n == 4 && strncmp (p, "hole", 4) == 0)
      type |= NBDKIT_EXTENT_HOLE;
    else if (n == 4 && strncmp (p, "zero", 4) == 0)
      type |= NBDKIT_EXTENT_ZERO;
    p += n;
    p += strspn (p, ", \t");
  }
  return type;
}

/* "offset length [type]" per line, sizes in nbdkit_parse_size's syntax. */
static int
parse_extents (char *text, struct nbdkit_extents *extents)
{
  char *line = text, *next, *p, *word[2];
  int64_t v[2];
  int i;

  while (*line) {
    next = strchr (line, '\n');
    if (next)
      *next++ = '\0';
    else
      next = line + strlen (line);

    p = line;
    for (i = 0; i < 2; i++) {
      p += strspn (p, " \t");
      word[i] = p;
      p += strcspn (p, " \t");
      if (*p)
        *p++ = '\0';
      if (*word[i] == '\0' || (v[i] = nbdkit_parse_size (word[i])) == -1) {
        call_error ("extents", "extents: cannot parse %s", line);
        nbdkit_set_error (EIO);
        return -1;
      }
    }
    p += strspn (p, " \t");
    if (nbdkit_add_extent (extents, v[0], v[1], parse_type (p)) == -1) {
      nbdkit_set_error (errno ? errno : EIO);
      return -1;
    }
    line = next;
  }
  return 0;
}

int
script_extents (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents)
{
  struct handle *h = handle;
  struct io_args a;
  const char *args[5];
  struct call_output out = { 0 };
  int r = -1, s;

  format_args (&a, count, offset, flags & NBDKIT_FLAG_REQ_ONE);
  args[0] = h->h; args[1] = a.count; args[2] = a.offset; args[3] = a.flags;
  args[4] = NULL;
  s = call_run ("extents", args, NULL, 0, &out);
  switch (s) {
  case CALL_OK:
    r = parse_extents (out.data, extents);
    break;
  case CALL_MISSING:
    call_error ("extents", "can_extents was true but there is no "
                "extents method");
    nbdkit_set_error (EIO);
    break;
  default:
    unexpected ("extents", s);
  }
  call_output_free (&out);
  return r;
}
