/* blockkit: parsing of configuration values for plugins and filters.
 *
 * The nbdkit_parse_* family turns the strings a user writes on the
 * command line (key=value) into numbers, booleans, probabilities and
 * delays.  Each function reports a precise error naming WHAT is being
 * parsed and the offending string, and returns -1 on failure.
 *
 * Decisions shared by all the parsers here:
 *
 * - Leading (and trailing) whitespace is rejected.  strtol(3) silently
 *   skips leading whitespace but not trailing whitespace, which is
 *   inconsistent; a value such as " 1" on a command line is almost
 *   always a quoting mistake, so it is better reported than guessed.
 *
 * - Integers use their own digit scanner rather than strtol(3), so that
 *   the accepted syntax does not depend on the C library version (newer
 *   glibc versions accept "0b101" binary literals in base 0 under some
 *   feature macros).  The syntax is exactly C's: an optional sign, then
 *   "0x"/"0X" + hex digits, or "0" + octal digits, or decimal digits.
 *
 * - Sizes (nbdkit_parse_size) are decimal only: hex digits 'b' and 'e'
 *   would be ambiguous with the byte and exabyte suffixes, and leading
 *   zeros do not mean octal ("010" is ten bytes).
 *
 * - Probabilities must lie in [0, 1] (0% .. 100%); larger values are
 *   rejected rather than clamped, so a filter can rely on the range.
 */

#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>

#include "internal.h"

/* Used when a caller passes what == NULL. */
static const char *
what_or_default (const char *what)
{
  return what ? what : "value";
}

static bool
is_space_char (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         c == '\v' || c == '\f';
}

/* Value of an ASCII digit in any base up to 16, or -1. */
static int
digit_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parse an integer in C syntax (optional sign, base auto-detected) into
 * a sign and a 64-bit magnitude.  The whole string must be consumed.
 * Reports errors itself.
 */
static int
parse_integer (const char *what, const char *str, bool allow_negative,
               bool *negative, uint64_t *magnitude)
{
  const char *p;
  unsigned base;
  uint64_t v = 0;
  bool overflow = false;
  int d;

  what = what_or_default (what);

  if (str == NULL) {
    nbdkit_error ("%s: missing value (NULL string)", what);
    return -1;
  }
  if (*str == '\0') {
    nbdkit_error ("%s: could not parse number: empty string", what);
    return -1;
  }
  if (is_space_char (*str)) {
    nbdkit_error ("%s: could not parse number: "
                  "leading whitespace is not allowed: \"%s\"", what, str);
    return -1;
  }

  p = str;
  *negative = false;
  if (*p == '+' || *p == '-') {
    *negative = *p == '-';
    p++;
  }
  if (*negative && !allow_negative) {
    /* Also rejects "-0": a minus sign on an unsigned value is a mistake. */
    nbdkit_error ("%s: value cannot be negative: \"%s\"", what, str);
    return -1;
  }

  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  }
  else if (p[0] == '0')
    base = 8;                   /* the leading 0 is itself an octal digit */
  else
    base = 10;

  d = digit_value (*p);
  if (d < 0 || (unsigned) d >= base) {
    nbdkit_error ("%s: could not parse number: \"%s\"", what, str);
    return -1;
  }

  for (; (d = digit_value (*p)) >= 0 && (unsigned) d < base; p++) {
    if (v > (UINT64_MAX - (unsigned) d) / base)
      overflow = true;          /* keep scanning to diagnose junk first */
    else
      v = v * base + (unsigned) d;
  }

  if (*p != '\0') {
    nbdkit_error ("%s: could not parse number: \"%s\" "
                  "(unexpected characters \"%s\")", what, str, p);
    return -1;
  }
  if (overflow) {
    nbdkit_error ("%s: value out of range: \"%s\"", what, str);
    return -1;
  }

  *magnitude = v;
  return 0;
}

static int
parse_signed (const char *what, const char *str,
              int64_t min, int64_t max, int64_t *r)
{
  bool negative;
  uint64_t mag;

  if (parse_integer (what, str, true, &negative, &mag) == -1)
    return -1;

  if (negative) {
    /* -(min + 1) is representable; the magnitude of min is one more. */
    uint64_t limit = (uint64_t) -(min + 1) + 1;

    if (mag > limit)
      goto out_of_range;
    *r = mag == 0 ? 0 : -(int64_t) (mag - 1) - 1;
  }
  else {
    if (mag > (uint64_t) max)
      goto out_of_range;
    *r = (int64_t) mag;
  }
  return 0;

 out_of_range:
  nbdkit_error ("%s: value out of range (%" PRIi64 " to %" PRIi64 "): \"%s\"",
                what_or_default (what), min, max, str);
  return -1;
}

static int
parse_unsigned (const char *what, const char *str, uint64_t max, uint64_t *r)
{
  bool negative;
  uint64_t mag;

  if (parse_integer (what, str, false, &negative, &mag) == -1)
    return -1;
  if (mag > max) {
    nbdkit_error ("%s: value out of range (0 to %" PRIu64 "): \"%s\"",
                  what_or_default (what), max, str);
    return -1;
  }
  *r = mag;
  return 0;
}

/* The result is only written on success. */
#define DEFINE_PARSE_SIGNED(fn, type, min, max)                         \
  NBDKIT_DLL_PUBLIC int                                                 \
  fn (const char *what, const char *str, type *rp)                      \
  {                                                                     \
    int64_t v;                                                          \
    if (parse_signed (what, str, (min), (max), &v) == -1)               \
      return -1;                                                        \
    if (rp)                                                             \
      *rp = (type) v;                                                   \
    return 0;                                                           \
  }

#define DEFINE_PARSE_UNSIGNED(fn, type, max)                            \
  NBDKIT_DLL_PUBLIC int                                                 \
  fn (const char *what, const char *str, type *rp)                      \
  {                                                                     \
    uint64_t v;                                                         \
    if (parse_unsigned (what, str, (max), &v) == -1)                    \
      return -1;                                                        \
    if (rp)                                                             \
      *rp = (type) v;                                                   \
    return 0;                                                           \
  }

DEFINE_PARSE_SIGNED (nbdkit_parse_int, int, INT_MIN, INT_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_unsigned, unsigned, UINT_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int8_t, int8_t, INT8_MIN, INT8_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint8_t, uint8_t, UINT8_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int16_t, int16_t, INT16_MIN, INT16_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint16_t, uint16_t, UINT16_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int32_t, int32_t, INT32_MIN, INT32_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint32_t, uint32_t, UINT32_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int64_t, int64_t, INT64_MIN, INT64_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint64_t, uint64_t, UINT64_MAX)

/* Sizes: decimal digits, then at most one suffix.
 *   b or B          bytes
 *   s or S          512-byte sectors
 *   k, m, g, t, p, e (either case)  powers of 1024
 * Returns the size, or -1 after reporting an error.
 */
NBDKIT_DLL_PUBLIC int64_t
nbdkit_parse_size (const char *str)
{
  const char *p;
  uint64_t v = 0, mult;
  bool overflow = false;

  if (str == NULL) {
    nbdkit_error ("size: missing value (NULL string)");
    return -1;
  }
  if (*str == '\0') {
    nbdkit_error ("size: could not parse number: empty string");
    return -1;
  }
  if (*str == '-') {
    nbdkit_error ("size: size cannot be negative: \"%s\"", str);
    return -1;
  }
  if (!(*str >= '0' && *str <= '9')) {
    nbdkit_error ("size: could not parse number: \"%s\"", str);
    return -1;
  }

  for (p = str; *p >= '0' && *p <= '9'; p++) {
    unsigned d = *p - '0';
    if (v > (UINT64_MAX - d) / 10)
      overflow = true;
    else
      v = v * 10 + d;
  }

  switch (*p) {
  case '\0':          mult = 1; break;
  case 'b': case 'B': mult = 1; p++; break;
  case 's': case 'S': mult = 512; p++; break;
  case 'k': case 'K': mult = UINT64_C (1) << 10; p++; break;
  case 'm': case 'M': mult = UINT64_C (1) << 20; p++; break;
  case 'g': case 'G': mult = UINT64_C (1) << 30; p++; break;
  case 't': case 'T': mult = UINT64_C (1) << 40; p++; break;
  case 'p': case 'P': mult = UINT64_C (1) << 50; p++; break;
  case 'e': case 'E': mult = UINT64_C (1) << 60; p++; break;
  default:            mult = 0; break;
  }
  if (mult == 0 || *p != '\0') {
    nbdkit_error ("size: could not parse number: \"%s\" "
                  "(expected digits and an optional suffix "
                  "b, s, k, m, g, t, p or e)", str);
    return -1;
  }

  if (overflow || v > (uint64_t) INT64_MAX / mult) {
    nbdkit_error ("size: value too large (maximum is %" PRIi64 " bytes): "
                  "\"%s\"", INT64_MAX, str);
    return -1;
  }
  return (int64_t) (v * mult);
}

/* Booleans: 1/true/t/yes/y/on or 0/false/f/no/n/off, any case. */
NBDKIT_DLL_PUBLIC int
nbdkit_parse_bool (const char *str)
{
  static const char *const yes[] = { "1", "true", "t", "yes", "y", "on" };
  static const char *const no[] = { "0", "false", "f", "no", "n", "off" };
  size_t i;

  if (str == NULL) {
    nbdkit_error ("boolean: missing value (NULL string)");
    return -1;
  }
  for (i = 0; i < sizeof yes / sizeof yes[0]; ++i)
    if (strcasecmp (str, yes[i]) == 0)
      return 1;
  for (i = 0; i < sizeof no / sizeof no[0]; ++i)
    if (strcasecmp (str, no[i]) == 0)
      return 0;

  nbdkit_error ("boolean: could not parse \"%s\" "
                "(expected true/false, yes/no, on/off or 1/0)", str);
  return -1;
}

/* Scan a non-negative decimal floating point number at P (digits, an
 * optional fraction and an optional exponent: no sign, no hex floats,
 * no "inf" or "nan").  Sets *endp after it.  Returns false if there is
 * no such number at P.
 */
static bool
scan_unsigned_double (const char *p, const char **endp, double *d)
{
  const char *q;
  char *end;
  bool digits = false;

  /* Validate the syntax ourselves, then let strtod do the conversion of
   * exactly the characters we validated.
   */
  q = p;
  while (*q >= '0' && *q <= '9') { q++; digits = true; }
  if (*q == '.') {
    q++;
    while (*q >= '0' && *q <= '9') { q++; digits = true; }
  }
  if (!digits)
    return false;
  if (*q == 'e' || *q == 'E') {
    const char *e = q + 1;
    if (*e == '+' || *e == '-')
      e++;
    if (*e >= '0' && *e <= '9') {
      while (*e >= '0' && *e <= '9')
        e++;
      q = e;
    }
    /* else: 'e' not followed by an exponent is left as junk */
  }

  *d = strtod (p, &end);
  if (end != q || !isfinite (*d))
    return false;
  *endp = q;
  return true;
}

/* Probabilities: "0.1", "1e-3", "10%", "1/8" or "1:8" (one in eight).
 * The result must lie in [0, 1].
 */
NBDKIT_DLL_PUBLIC int
nbdkit_parse_probability (const char *what, const char *str, double *r)
{
  const char *p;
  double d, denom;

  what = what_or_default (what);

  if (str == NULL) {
    nbdkit_error ("%s: missing value (NULL string)", what);
    return -1;
  }
  if (*str == '-') {
    nbdkit_error ("%s: probability cannot be negative: \"%s\"", what, str);
    return -1;
  }
  if (!scan_unsigned_double (str, &p, &d))
    goto bad;

  switch (*p) {
  case '\0':
    break;
  case '%':
    if (p[1] != '\0')
      goto bad;
    d /= 100;
    break;
  case '/':
  case ':':
    if (p[1] == '-') {
      nbdkit_error ("%s: probability cannot be negative: \"%s\"", what, str);
      return -1;
    }
    if (!scan_unsigned_double (p + 1, &p, &denom) || *p != '\0')
      goto bad;
    if (denom == 0) {
      nbdkit_error ("%s: probability has a zero denominator: \"%s\"",
                    what, str);
      return -1;
    }
    d /= denom;
    break;
  default:
    goto bad;
  }

  if (!(d >= 0 && d <= 1)) {
    nbdkit_error ("%s: probability out of range (must be between 0 and 1, "
                  "or 0%% and 100%%): \"%s\"", what, str);
    return -1;
  }
  if (r)
    *r = d;
  return 0;

 bad:
  nbdkit_error ("%s: could not parse probability: \"%s\" "
                "(expected a number like 0.1, 1e-3, 10%%, 1/8 or 1:8)",
                what, str);
  return -1;
}

/* Delays: "1", "1.5", "2s", "10ms", "250us", "100ns".  A fraction is
 * allowed with any unit; precision below one nanosecond is truncated.
 * The arithmetic is exact (integer), with no floating point rounding.
 */
NBDKIT_DLL_PUBLIC int
nbdkit_parse_delay (const char *what, const char *str,
                    unsigned *sec, unsigned *nsec)
{
  const char *p, *frac = NULL, *frac_end = NULL;
  uint64_t ipart = 0, scale, total, unit;
  bool digits = false, overflow = false;

  what = what_or_default (what);

  if (str == NULL) {
    nbdkit_error ("%s: missing value (NULL string)", what);
    return -1;
  }
  if (*str == '-') {
    nbdkit_error ("%s: delay cannot be negative: \"%s\"", what, str);
    return -1;
  }

  for (p = str; *p >= '0' && *p <= '9'; p++) {
    unsigned d = *p - '0';
    digits = true;
    if (ipart > (UINT64_MAX - d) / 10)
      overflow = true;
    else
      ipart = ipart * 10 + d;
  }
  if (*p == '.') {
    frac = ++p;
    while (*p >= '0' && *p <= '9') {
      p++;
      digits = true;
    }
    frac_end = p;
  }
  if (!digits)
    goto bad;

  if (strcmp (p, "") == 0 || strcmp (p, "s") == 0)
    scale = 1000000000;
  else if (strcmp (p, "ms") == 0)
    scale = 1000000;
  else if (strcmp (p, "us") == 0)
    scale = 1000;
  else if (strcmp (p, "ns") == 0)
    scale = 1;
  else
    goto bad;

  /* Total in nanoseconds.  UINT_MAX seconds is about 4.3e18 ns, which
   * fits in 64 bits, so anything that overflows here is out of range.
   */
  if (overflow || ipart > UINT64_MAX / scale)
    goto too_large;
  total = ipart * scale;

  if (frac) {
    unit = scale;
    for (p = frac; p < frac_end; p++) {
      unit /= 10;
      if (unit == 0)
        break;                  /* finer than 1ns: truncated */
      /* Sum of all fraction digits is < scale, so cannot overflow
       * unless total itself is near the limit.
       */
      if (total > UINT64_MAX - (unsigned) (*p - '0') * unit)
        goto too_large;
      total += (unsigned) (*p - '0') * unit;
    }
  }

  if (total / 1000000000 > UINT_MAX)
    goto too_large;

  if (sec)
    *sec = (unsigned) (total / 1000000000);
  if (nsec)
    *nsec = (unsigned) (total % 1000000000);
  return 0;

 too_large:
  nbdkit_error ("%s: delay too large (maximum is %u seconds): \"%s\"",
                what, UINT_MAX, str);
  return -1;

 bad:
  nbdkit_error ("%s: could not parse delay: \"%s\" "
                "(expected seconds like 1 or 1.5, or a number with "
                "a suffix s, ms, us or ns)", what, str);
  return -1;
}
