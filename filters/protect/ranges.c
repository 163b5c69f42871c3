/* blockkit: parsing and merging the protect filter's ranges.
 *
 * protect=START-END, START-, -END, - and ~START-END (the complement), in
 * inclusive byte offsets, as nbdkit-protect-filter(1) defines them; the
 * set is sorted and merged once, after the last key.
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "ranges.h"

static int
add (struct ranges *rs, uint64_t first, uint64_t last)
{
  struct range *p = realloc (rs->ptr, (rs->len + 1) * sizeof *p);

  if (p == NULL) {
    nbdkit_error ("realloc: %m");
    return -1;
  }
  rs->ptr = p;
  rs->ptr[rs->len].first = first;
  rs->ptr[rs->len].last = last;
  rs->len++;
  return 0;
}

/* A bound is written as nbdkit-protect-filter(1) has it: decimal,
 * octal with a leading 0 (0777), or hexadecimal (0x1ff), like C.  As an
 * extension, a decimal number may end in a size suffix (1M, 4k): such a
 * string is not a number to nbdkit, so nothing it accepts changes
 * meaning.  Plain digits must not go through nbdkit_parse_size, which
 * reads 0400 as four hundred rather than 256.
 */
static int
parse_bound (const char *spec, const char *s, uint64_t *r)
{
  bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  bool digits = strspn (s, "0123456789") == strlen (s);

  if (hex || digits) {
    if (nbdkit_parse_uint64_t ("protect", s, r) == -1)
      goto bad;
    return 0;
  }
  {
    int64_t v = nbdkit_parse_size (s);

    if (v == -1)
      goto bad;
    *r = v;
    return 0;
  }
 bad:
  nbdkit_error ("protect filter: protect=%s: could not parse \"%s\" "
                "(expected decimal, 0octal, 0xhex, or a size like 1M)",
                spec, s);
  return -1;
}

int
ranges_add_spec (struct ranges *rs, const char *spec)
{
  bool invert = spec[0] == '~';
  const char *p = invert ? spec + 1 : spec;
  const char *dash = strchr (p, '-');
  CLEANUP_FREE char *start_str = NULL;
  uint64_t first = 0, last = UINT64_MAX;

  if (dash == NULL) {
    nbdkit_error ("protect filter: protect=%s: expected START-END "
                  "(inclusive byte offsets), START- or ~START-END", spec);
    return -1;
  }
  start_str = strndup (p, dash - p);
  if (start_str == NULL) {
    nbdkit_error ("strndup: %m");
    return -1;
  }
  if (*start_str && parse_bound (spec, start_str, &first) == -1)
    return -1;
  if (dash[1] && parse_bound (spec, dash + 1, &last) == -1)
    return -1;
  if (first > last) {
    nbdkit_error ("protect filter: protect=%s: the start is after the end",
                  spec);
    return -1;
  }

  if (!invert)
    return add (rs, first, last);
  /* Everything before and everything after. */
  if (first > 0 && add (rs, 0, first - 1) == -1)
    return -1;
  if (last < UINT64_MAX && add (rs, last + 1, UINT64_MAX) == -1)
    return -1;
  return 0;
}

static int
compare (const void *a, const void *b)
{
  const struct range *x = a, *y = b;

  return x->first < y->first ? -1 : x->first > y->first;
}

void
ranges_normalize (struct ranges *rs)
{
  size_t i, j;

  if (rs->len == 0)
    return;
  qsort (rs->ptr, rs->len, sizeof rs->ptr[0], compare);
  for (i = 0, j = 1; j < rs->len; ++j) {
    /* Touching ranges merge too (last + 1 == next first). */
    if (rs->ptr[i].last == UINT64_MAX ||
        rs->ptr[j].first <= rs->ptr[i].last + 1) {
      if (rs->ptr[j].last > rs->ptr[i].last)
        rs->ptr[i].last = rs->ptr[j].last;
    }
    else
      rs->ptr[++i] = rs->ptr[j];
  }
  rs->len = i + 1;
}

void
ranges_free (struct ranges *rs)
{
  free (rs->ptr);
  rs->ptr = NULL;
  rs->len = 0;
}
