/* blockkit: unit tests for server/parse.c (nbdkit_parse_*). */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>

#include "internal.h"
#include "test-stubs.h"

/* ---- integers ---- */

/* A valid input: returns 0, stores EXPECTED, reports nothing. */
#define INT_OK(fn, type, str, expected)                                 \
  do {                                                                  \
    type r_ = 0;                                                        \
    int rc_;                                                            \
    test_reset_error ();                                                \
    rc_ = fn ("test_value", (str), &r_);                                \
    if (rc_ != 0 || r_ != (type) (expected) || test_error_count != 0) { \
      fprintf (stderr, "%s:%d: FAILED: %s (\"%s\"): rc=%d, "            \
               "got %jd/%ju, expected %s\n", __FILE__, __LINE__, #fn,   \
               (str), rc_, (intmax_t) r_, (uintmax_t) r_, #expected);   \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

/* An invalid input: returns -1, leaves the result alone, and the error
 * names what was parsed and the bad string.
 */
#define INT_BAD(fn, type, str)                                          \
  do {                                                                  \
    type r_ = 42;                                                       \
    int rc_;                                                            \
    test_reset_error ();                                                \
    rc_ = fn ("test_value", (str), &r_);                                \
    if (rc_ != -1 || r_ != 42) {                                        \
      fprintf (stderr, "%s:%d: FAILED: %s (\"%s\") should fail: "       \
               "rc=%d, r=%jd\n", __FILE__, __LINE__, #fn, (str), rc_,   \
               (intmax_t) r_);                                          \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_ERROR ("test_value");                                         \
    if (*(str))                                                         \
      CHECK_ERROR (str);                                                \
  } while (0)

/* Inputs that no integer parser accepts. */
static const char *const bad_for_all_ints[] = {
  "", " ", " 1", "\t1", "1 ", "1\n", "+", "-", "++1", "--1", "+-1", "-+1",
  "x", "1x", "12x", "0x", "0X", "0xg", "0x-1", "0x+1", "08", "09", "018",
  "0b1", "0B1", "1.0", "1.", ".1", "1e3", "1,000", "1_000", "one", "1k",
  "0x1p3", "inf", "nan", "99999999999999999999999",
  "0x10000000000000000", "-99999999999999999999999",
};

static void
test_ints (void)
{
  size_t i;

  for (i = 0; i < sizeof bad_for_all_ints / sizeof bad_for_all_ints[0]; ++i) {
    const char *s = bad_for_all_ints[i];
    INT_BAD (nbdkit_parse_int, int, s);
    INT_BAD (nbdkit_parse_unsigned, unsigned, s);
    INT_BAD (nbdkit_parse_int8_t, int8_t, s);
    INT_BAD (nbdkit_parse_uint8_t, uint8_t, s);
    INT_BAD (nbdkit_parse_int16_t, int16_t, s);
    INT_BAD (nbdkit_parse_uint16_t, uint16_t, s);
    INT_BAD (nbdkit_parse_int32_t, int32_t, s);
    INT_BAD (nbdkit_parse_uint32_t, uint32_t, s);
    INT_BAD (nbdkit_parse_int64_t, int64_t, s);
    INT_BAD (nbdkit_parse_uint64_t, uint64_t, s);
  }

  /* NULL is an error, not a crash. */
  {
    int r = 42;
    test_reset_error ();
    CHECK (nbdkit_parse_int ("test_value", NULL, &r) == -1);
    CHECK (r == 42);
    CHECK_ERROR ("test_value");
  }

  /* int */
  INT_OK (nbdkit_parse_int, int, "0", 0);
  INT_OK (nbdkit_parse_int, int, "00", 0);
  INT_OK (nbdkit_parse_int, int, "-0", 0);
  INT_OK (nbdkit_parse_int, int, "+0", 0);
  INT_OK (nbdkit_parse_int, int, "1", 1);
  INT_OK (nbdkit_parse_int, int, "+1", 1);
  INT_OK (nbdkit_parse_int, int, "-1", -1);
  INT_OK (nbdkit_parse_int, int, "123456", 123456);
  INT_OK (nbdkit_parse_int, int, "010", 8);
  INT_OK (nbdkit_parse_int, int, "-010", -8);
  INT_OK (nbdkit_parse_int, int, "0777", 511);
  INT_OK (nbdkit_parse_int, int, "0x10", 16);
  INT_OK (nbdkit_parse_int, int, "0X1f", 31);
  INT_OK (nbdkit_parse_int, int, "0xABCdef", 0xabcdef);
  INT_OK (nbdkit_parse_int, int, "-0x10", -16);
  INT_OK (nbdkit_parse_int, int, "0x0", 0);
  INT_OK (nbdkit_parse_int, int, "2147483647", INT_MAX);
  INT_OK (nbdkit_parse_int, int, "-2147483648", INT_MIN);
  INT_OK (nbdkit_parse_int, int, "0x7fffffff", INT_MAX);
  INT_OK (nbdkit_parse_int, int, "-0x80000000", INT_MIN);
  INT_OK (nbdkit_parse_int, int, "017777777777", INT_MAX);
  INT_BAD (nbdkit_parse_int, int, "2147483648");
  INT_BAD (nbdkit_parse_int, int, "-2147483649");
  INT_BAD (nbdkit_parse_int, int, "0x80000000");
  INT_BAD (nbdkit_parse_int, int, "-0x80000001");
  INT_BAD (nbdkit_parse_int, int, "020000000000");
  INT_BAD (nbdkit_parse_int, int, "4294967296");
  INT_BAD (nbdkit_parse_int, int, "9223372036854775807");

  /* unsigned: a minus sign is always rejected, even on zero. */
  INT_OK (nbdkit_parse_unsigned, unsigned, "0", 0);
  INT_OK (nbdkit_parse_unsigned, unsigned, "+0", 0);
  INT_OK (nbdkit_parse_unsigned, unsigned, "+7", 7);
  INT_OK (nbdkit_parse_unsigned, unsigned, "4294967295", UINT_MAX);
  INT_OK (nbdkit_parse_unsigned, unsigned, "0xffffffff", UINT_MAX);
  INT_OK (nbdkit_parse_unsigned, unsigned, "037777777777", UINT_MAX);
  INT_BAD (nbdkit_parse_unsigned, unsigned, "4294967296");
  INT_BAD (nbdkit_parse_unsigned, unsigned, "0x100000000");
  INT_BAD (nbdkit_parse_unsigned, unsigned, "-0");
  INT_BAD (nbdkit_parse_unsigned, unsigned, "-1");
  INT_BAD (nbdkit_parse_unsigned, unsigned, "-0x0");
  INT_BAD (nbdkit_parse_unsigned, unsigned, "-4294967295");

  /* int8_t */
  INT_OK (nbdkit_parse_int8_t, int8_t, "127", 127);
  INT_OK (nbdkit_parse_int8_t, int8_t, "-128", -128);
  INT_OK (nbdkit_parse_int8_t, int8_t, "0x7f", 127);
  INT_OK (nbdkit_parse_int8_t, int8_t, "-0x80", -128);
  INT_OK (nbdkit_parse_int8_t, int8_t, "0177", 127);
  INT_BAD (nbdkit_parse_int8_t, int8_t, "128");
  INT_BAD (nbdkit_parse_int8_t, int8_t, "-129");
  INT_BAD (nbdkit_parse_int8_t, int8_t, "0x80");
  INT_BAD (nbdkit_parse_int8_t, int8_t, "0200");
  INT_BAD (nbdkit_parse_int8_t, int8_t, "255");
  INT_BAD (nbdkit_parse_int8_t, int8_t, "256");

  /* uint8_t */
  INT_OK (nbdkit_parse_uint8_t, uint8_t, "0", 0);
  INT_OK (nbdkit_parse_uint8_t, uint8_t, "255", 255);
  INT_OK (nbdkit_parse_uint8_t, uint8_t, "0xff", 255);
  INT_OK (nbdkit_parse_uint8_t, uint8_t, "0377", 255);
  INT_BAD (nbdkit_parse_uint8_t, uint8_t, "256");
  INT_BAD (nbdkit_parse_uint8_t, uint8_t, "0x100");
  INT_BAD (nbdkit_parse_uint8_t, uint8_t, "0400");
  INT_BAD (nbdkit_parse_uint8_t, uint8_t, "-1");
  INT_BAD (nbdkit_parse_uint8_t, uint8_t, "-0");

  /* int16_t */
  INT_OK (nbdkit_parse_int16_t, int16_t, "32767", INT16_MAX);
  INT_OK (nbdkit_parse_int16_t, int16_t, "-32768", INT16_MIN);
  INT_OK (nbdkit_parse_int16_t, int16_t, "0x7fff", INT16_MAX);
  INT_BAD (nbdkit_parse_int16_t, int16_t, "32768");
  INT_BAD (nbdkit_parse_int16_t, int16_t, "-32769");
  INT_BAD (nbdkit_parse_int16_t, int16_t, "0x8000");

  /* uint16_t */
  INT_OK (nbdkit_parse_uint16_t, uint16_t, "65535", UINT16_MAX);
  INT_OK (nbdkit_parse_uint16_t, uint16_t, "0xFFFF", UINT16_MAX);
  INT_BAD (nbdkit_parse_uint16_t, uint16_t, "65536");
  INT_BAD (nbdkit_parse_uint16_t, uint16_t, "-0");

  /* int32_t */
  INT_OK (nbdkit_parse_int32_t, int32_t, "2147483647", INT32_MAX);
  INT_OK (nbdkit_parse_int32_t, int32_t, "-2147483648", INT32_MIN);
  INT_BAD (nbdkit_parse_int32_t, int32_t, "2147483648");
  INT_BAD (nbdkit_parse_int32_t, int32_t, "-2147483649");

  /* uint32_t */
  INT_OK (nbdkit_parse_uint32_t, uint32_t, "4294967295", UINT32_MAX);
  INT_OK (nbdkit_parse_uint32_t, uint32_t, "0xffffffff", UINT32_MAX);
  INT_BAD (nbdkit_parse_uint32_t, uint32_t, "4294967296");
  INT_BAD (nbdkit_parse_uint32_t, uint32_t, "-1");

  /* int64_t */
  INT_OK (nbdkit_parse_int64_t, int64_t, "9223372036854775807", INT64_MAX);
  INT_OK (nbdkit_parse_int64_t, int64_t, "-9223372036854775808", INT64_MIN);
  INT_OK (nbdkit_parse_int64_t, int64_t, "0x7fffffffffffffff", INT64_MAX);
  INT_OK (nbdkit_parse_int64_t, int64_t, "-0x8000000000000000", INT64_MIN);
  INT_OK (nbdkit_parse_int64_t, int64_t, "0777777777777777777777", INT64_MAX);
  INT_OK (nbdkit_parse_int64_t, int64_t, "-1000000000000", -1000000000000);
  INT_BAD (nbdkit_parse_int64_t, int64_t, "9223372036854775808");
  INT_BAD (nbdkit_parse_int64_t, int64_t, "-9223372036854775809");
  INT_BAD (nbdkit_parse_int64_t, int64_t, "0x8000000000000000");
  INT_BAD (nbdkit_parse_int64_t, int64_t, "-0x8000000000000001");
  INT_BAD (nbdkit_parse_int64_t, int64_t, "18446744073709551615");
  INT_BAD (nbdkit_parse_int64_t, int64_t, "18446744073709551616");
  INT_BAD (nbdkit_parse_int64_t, int64_t, "-18446744073709551616");

  /* uint64_t */
  INT_OK (nbdkit_parse_uint64_t, uint64_t, "0", 0);
  INT_OK (nbdkit_parse_uint64_t, uint64_t, "18446744073709551615", UINT64_MAX);
  INT_OK (nbdkit_parse_uint64_t, uint64_t, "0xffffffffffffffff", UINT64_MAX);
  INT_OK (nbdkit_parse_uint64_t, uint64_t, "01777777777777777777777",
          UINT64_MAX);
  INT_OK (nbdkit_parse_uint64_t, uint64_t, "0x00000000000000000001", 1);
  INT_BAD (nbdkit_parse_uint64_t, uint64_t, "18446744073709551616");
  INT_BAD (nbdkit_parse_uint64_t, uint64_t, "0x10000000000000000");
  INT_BAD (nbdkit_parse_uint64_t, uint64_t, "02000000000000000000000");
  INT_BAD (nbdkit_parse_uint64_t, uint64_t, "-1");
  INT_BAD (nbdkit_parse_uint64_t, uint64_t, "-0");

  /* Error messages say what kind of problem it is. */
  test_reset_error ();
  CHECK (nbdkit_parse_uint8_t ("flag", "300", NULL) == -1);
  CHECK_ERROR ("flag: value out of range");
  test_reset_error ();
  CHECK (nbdkit_parse_unsigned ("count", "-0", NULL) == -1);
  CHECK_ERROR ("count: value cannot be negative: \"-0\"");
  test_reset_error ();
  CHECK (nbdkit_parse_int ("n", "12x", NULL) == -1);
  CHECK_ERROR ("n: could not parse number: \"12x\"");
  test_reset_error ();
  CHECK (nbdkit_parse_int ("n", " 1", NULL) == -1);
  CHECK_ERROR ("whitespace");
}

/* ---- sizes ---- */

#define SIZE_OK(str, expected)                                          \
  do {                                                                  \
    int64_t r_;                                                         \
    test_reset_error ();                                                \
    r_ = nbdkit_parse_size (str);                                       \
    if (r_ != (int64_t) (expected) || test_error_count != 0) {          \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_parse_size (\"%s\") = %"  \
               PRIi64 ", expected %s\n", __FILE__, __LINE__, (str), r_, \
               #expected);                                              \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#define SIZE_BAD(str)                                                   \
  do {                                                                  \
    int64_t r_;                                                         \
    test_reset_error ();                                                \
    r_ = nbdkit_parse_size (str);                                       \
    if (r_ != -1) {                                                     \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_parse_size (\"%s\") = %"  \
               PRIi64 ", expected an error\n", __FILE__, __LINE__,      \
               (str), r_);                                              \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_ERROR ("size");                                               \
    if (*(str))                                                         \
      CHECK_ERROR (str);                                                \
  } while (0)

static void
test_sizes (void)
{
  SIZE_OK ("0", 0);
  SIZE_OK ("1", 1);
  SIZE_OK ("010", 10);          /* decimal, not octal */
  SIZE_OK ("1024", 1024);
  SIZE_OK ("0b", 0);
  SIZE_OK ("1b", 1);
  SIZE_OK ("1B", 1);
  SIZE_OK ("1s", 512);
  SIZE_OK ("3S", 1536);
  SIZE_OK ("1k", 1024);
  SIZE_OK ("1K", 1024);
  SIZE_OK ("2k", 2048);
  SIZE_OK ("1m", 1048576);
  SIZE_OK ("1M", 1048576);
  SIZE_OK ("1g", INT64_C (1) << 30);
  SIZE_OK ("1G", INT64_C (1) << 30);
  SIZE_OK ("10G", INT64_C (10) << 30);
  SIZE_OK ("1t", INT64_C (1) << 40);
  SIZE_OK ("1T", INT64_C (1) << 40);
  SIZE_OK ("1p", INT64_C (1) << 50);
  SIZE_OK ("1P", INT64_C (1) << 50);
  SIZE_OK ("1e", INT64_C (1) << 60);
  SIZE_OK ("1E", INT64_C (1) << 60);
  SIZE_OK ("7E", INT64_C (7) << 60);
  SIZE_OK ("0E", 0);
  SIZE_OK ("8191P", INT64_MAX - (INT64_C (1) << 50) + 1);
  SIZE_OK ("8388607T", INT64_MAX - (INT64_C (1) << 40) + 1);
  SIZE_OK ("18014398509481983s", INT64_MAX - 511);
  SIZE_OK ("9223372036854775807", INT64_MAX);
  SIZE_OK ("9223372036854775807b", INT64_MAX);

  SIZE_BAD ("");
  SIZE_BAD ("-1");
  SIZE_BAD ("-0");
  SIZE_BAD ("-1k");
  SIZE_BAD ("+1");
  SIZE_BAD (" 1");
  SIZE_BAD ("1 ");
  SIZE_BAD ("1 k");
  SIZE_BAD ("k");
  SIZE_BAD ("b");
  SIZE_BAD ("1x");
  SIZE_BAD ("12x");
  SIZE_BAD ("1kb");
  SIZE_BAD ("1KiB");
  SIZE_BAD ("1KB");
  SIZE_BAD ("1kk");
  SIZE_BAD ("1.5G");
  SIZE_BAD ("0x10");
  SIZE_BAD ("1e3");
  SIZE_BAD ("8E");
  SIZE_BAD ("8192P");
  SIZE_BAD ("8388608T");
  SIZE_BAD ("18014398509481984s");
  SIZE_BAD ("9223372036854775808");
  SIZE_BAD ("18446744073709551615");
  SIZE_BAD ("18446744073709551616");
  SIZE_BAD ("99999999999999999999999999");
  SIZE_BAD ("99999999999999999999999999x");
  SIZE_BAD ("16E");

  test_reset_error ();
  CHECK (nbdkit_parse_size (NULL) == -1);
  CHECK_ERROR ("size");

  /* The exact wording promised in the design of the error messages. */
  test_reset_error ();
  CHECK (nbdkit_parse_size ("12x") == -1);
  CHECK_ERROR ("size: could not parse number: \"12x\"");
  test_reset_error ();
  CHECK (nbdkit_parse_size ("-5") == -1);
  CHECK_ERROR ("negative");
  test_reset_error ();
  CHECK (nbdkit_parse_size ("8E") == -1);
  CHECK_ERROR ("too large");
}

/* ---- booleans ---- */

static void
test_bools (void)
{
  static const char *const yes[] = {
    "1", "true", "TRUE", "True", "t", "T", "yes", "YES", "Yes", "y", "Y",
    "on", "ON", "On",
  };
  static const char *const no[] = {
    "0", "false", "FALSE", "False", "f", "F", "no", "NO", "No", "n", "N",
    "off", "OFF", "Off",
  };
  static const char *const bad[] = {
    "", " ", "2", "-1", "10", "01", "00", " yes", "yes ", "tru", "ye",
    "of", "onn", "enable", "disable", "truee", "nope", "yes\n", "+1",
  };
  size_t i;

  for (i = 0; i < sizeof yes / sizeof yes[0]; ++i) {
    test_reset_error ();
    if (nbdkit_parse_bool (yes[i]) != 1) {
      fprintf (stderr, "FAILED: nbdkit_parse_bool (\"%s\") != 1\n", yes[i]);
      test_failures++;
    }
    CHECK_NO_ERROR ();
  }
  for (i = 0; i < sizeof no / sizeof no[0]; ++i) {
    test_reset_error ();
    if (nbdkit_parse_bool (no[i]) != 0) {
      fprintf (stderr, "FAILED: nbdkit_parse_bool (\"%s\") != 0\n", no[i]);
      test_failures++;
    }
    CHECK_NO_ERROR ();
  }
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    test_reset_error ();
    if (nbdkit_parse_bool (bad[i]) != -1) {
      fprintf (stderr, "FAILED: nbdkit_parse_bool (\"%s\") != -1\n", bad[i]);
      test_failures++;
    }
    CHECK_ERROR ("boolean");
    CHECK_ERROR (bad[i]);
  }
  test_reset_error ();
  CHECK (nbdkit_parse_bool (NULL) == -1);
  CHECK_ERROR ("boolean");
}

/* ---- probabilities ---- */

#define PROB_OK(str, expected)                                          \
  do {                                                                  \
    double r_ = -1;                                                     \
    int rc_;                                                            \
    test_reset_error ();                                                \
    rc_ = nbdkit_parse_probability ("test_prob", (str), &r_);           \
    if (rc_ != 0 || fabs (r_ - (expected)) > 1e-12 ||                   \
        test_error_count != 0) {                                        \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_parse_probability (\"%s\")" \
               ": rc=%d, got %g, expected %g\n", __FILE__, __LINE__,    \
               (str), rc_, r_, (double) (expected));                    \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#define PROB_BAD(str)                                                   \
  do {                                                                  \
    double r_ = 42;                                                     \
    int rc_;                                                            \
    test_reset_error ();                                                \
    rc_ = nbdkit_parse_probability ("test_prob", (str), &r_);           \
    if (rc_ != -1 || r_ != 42) {                                        \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_parse_probability (\"%s\")" \
               " should fail: rc=%d, r=%g\n", __FILE__, __LINE__,       \
               (str), rc_, r_);                                         \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_ERROR ("test_prob");                                          \
    if (*(str))                                                         \
      CHECK_ERROR (str);                                                \
  } while (0)

static void
test_probabilities (void)
{
  PROB_OK ("0", 0);
  PROB_OK ("1", 1);
  PROB_OK ("0.0", 0);
  PROB_OK ("1.0", 1);
  PROB_OK ("0.1", 0.1);
  PROB_OK ("0.5", 0.5);
  PROB_OK (".5", 0.5);
  PROB_OK ("1.", 1);
  PROB_OK ("00.25", 0.25);
  PROB_OK ("1e-3", 0.001);
  PROB_OK ("1E-3", 0.001);
  PROB_OK ("1e0", 1);
  PROB_OK ("5e-1", 0.5);
  PROB_OK ("0.01e+2", 1);
  PROB_OK ("0%", 0);
  PROB_OK ("10%", 0.1);
  PROB_OK ("100%", 1);
  PROB_OK ("12.5%", 0.125);
  PROB_OK ("1e-1%", 0.001);
  PROB_OK ("1/8", 0.125);
  PROB_OK ("1:8", 0.125);
  PROB_OK ("3/4", 0.75);
  PROB_OK ("0/5", 0);
  PROB_OK ("5/5", 1);
  PROB_OK ("0.5/2", 0.25);
  PROB_OK ("1/1e3", 0.001);
  PROB_OK ("1:1000000", 1e-6);

  PROB_BAD ("");
  PROB_BAD (" 0.1");
  PROB_BAD ("0.1 ");
  PROB_BAD ("-0.1");
  PROB_BAD ("-0");
  PROB_BAD ("+0.1");
  PROB_BAD ("1.1");
  PROB_BAD ("2");
  PROB_BAD ("1e1");
  PROB_BAD ("101%");
  PROB_BAD ("100.1%");
  PROB_BAD ("2/1");
  PROB_BAD ("9:8");
  PROB_BAD ("1/0");
  PROB_BAD ("0/0");
  PROB_BAD ("1/0.0");
  PROB_BAD ("1/-2");
  PROB_BAD ("1/");
  PROB_BAD ("/8");
  PROB_BAD (":8");
  PROB_BAD ("1/8/2");
  PROB_BAD ("1/8%");
  PROB_BAD ("10%%");
  PROB_BAD ("%");
  PROB_BAD ("10 %");
  PROB_BAD (".");
  PROB_BAD ("..5");
  PROB_BAD ("0.5.");
  PROB_BAD ("1e");
  PROB_BAD ("1e-");
  PROB_BAD ("1ex");
  PROB_BAD ("e-3");
  PROB_BAD ("abc");
  PROB_BAD ("0.1x");
  PROB_BAD ("inf");
  PROB_BAD ("nan");
  PROB_BAD ("infinity");
  PROB_BAD ("0x1p-1");
  PROB_BAD ("0x0");
  PROB_BAD ("1e400");

  test_reset_error ();
  CHECK (nbdkit_parse_probability ("p", "1/0", NULL) == -1);
  CHECK_ERROR ("zero denominator");
  test_reset_error ();
  CHECK (nbdkit_parse_probability ("p", "150%", NULL) == -1);
  CHECK_ERROR ("out of range");
  test_reset_error ();
  CHECK (nbdkit_parse_probability ("p", "-1/2", NULL) == -1);
  CHECK_ERROR ("negative");
  test_reset_error ();
  CHECK (nbdkit_parse_probability ("p", NULL, NULL) == -1);
  CHECK_ERROR ("p");
}

/* ---- delays ---- */

#define DELAY_OK(str, esec, ensec)                                      \
  do {                                                                  \
    unsigned s_ = 12345, ns_ = 12345;                                   \
    int rc_;                                                            \
    test_reset_error ();                                                \
    rc_ = nbdkit_parse_delay ("test_delay", (str), &s_, &ns_);          \
    if (rc_ != 0 || s_ != (unsigned) (esec) ||                          \
        ns_ != (unsigned) (ensec) || test_error_count != 0) {           \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_parse_delay (\"%s\"): "   \
               "rc=%d, got %u s %u ns, expected %s s %s ns\n",          \
               __FILE__, __LINE__, (str), rc_, s_, ns_, #esec, #ensec); \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#define DELAY_BAD(str)                                                  \
  do {                                                                  \
    unsigned s_ = 12345, ns_ = 12345;                                   \
    int rc_;                                                            \
    test_reset_error ();                                                \
    rc_ = nbdkit_parse_delay ("test_delay", (str), &s_, &ns_);          \
    if (rc_ != -1 || s_ != 12345 || ns_ != 12345) {                     \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_parse_delay (\"%s\") "    \
               "should fail: rc=%d\n", __FILE__, __LINE__, (str), rc_); \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_ERROR ("test_delay");                                         \
    if (*(str))                                                         \
      CHECK_ERROR (str);                                                \
  } while (0)

static void
test_delays (void)
{
  DELAY_OK ("0", 0, 0);
  DELAY_OK ("0s", 0, 0);
  DELAY_OK ("0ms", 0, 0);
  DELAY_OK ("1", 1, 0);
  DELAY_OK ("1s", 1, 0);
  DELAY_OK ("007", 7, 0);
  DELAY_OK ("1.5", 1, 500000000);
  DELAY_OK ("1.5s", 1, 500000000);
  DELAY_OK ("0.1", 0, 100000000);
  DELAY_OK (".5", 0, 500000000);
  DELAY_OK ("5.", 5, 0);
  DELAY_OK ("2.000000001", 2, 1);
  DELAY_OK ("0.123456789", 0, 123456789);
  DELAY_OK ("0.1234567899", 0, 123456789);   /* below 1ns: truncated */
  DELAY_OK ("10ms", 0, 10000000);
  DELAY_OK ("1000ms", 1, 0);
  DELAY_OK ("1500ms", 1, 500000000);
  DELAY_OK ("1.5ms", 0, 1500000);
  DELAY_OK ("0.001ms", 0, 1000);
  DELAY_OK ("250us", 0, 250000);
  DELAY_OK ("1000000us", 1, 0);
  DELAY_OK ("2.5us", 0, 2500);
  DELAY_OK ("100ns", 0, 100);
  DELAY_OK ("1000000000ns", 1, 0);
  DELAY_OK ("1999999999ns", 1, 999999999);
  DELAY_OK ("1.9ns", 0, 1);
  DELAY_OK ("4294967295", UINT_MAX, 0);
  DELAY_OK ("4294967295.999999999", UINT_MAX, 999999999);
  DELAY_OK ("4294967295999ms", UINT_MAX, 999000000);
  DELAY_OK ("4294967295999999999ns", UINT_MAX, 999999999);

  DELAY_BAD ("");
  DELAY_BAD ("-1");
  DELAY_BAD ("-0");
  DELAY_BAD ("-1ms");
  DELAY_BAD ("+1");
  DELAY_BAD (" 1");
  DELAY_BAD ("1 ");
  DELAY_BAD ("1 ms");
  DELAY_BAD (".");
  DELAY_BAD (".s");
  DELAY_BAD ("s");
  DELAY_BAD ("ms");
  DELAY_BAD ("1..5");
  DELAY_BAD ("1.5.5");
  DELAY_BAD ("1m");
  DELAY_BAD ("1h");
  DELAY_BAD ("1sec");
  DELAY_BAD ("1S");
  DELAY_BAD ("1MS");
  DELAY_BAD ("1mss");
  DELAY_BAD ("1e3");
  DELAY_BAD ("0x10");
  DELAY_BAD ("abc");
  DELAY_BAD ("1,5");
  DELAY_BAD ("4294967296");
  DELAY_BAD ("4294967296s");
  DELAY_BAD ("4294967296000ms");
  DELAY_BAD ("4294967296000000000ns");
  DELAY_BAD ("99999999999999999999999");
  DELAY_BAD ("99999999999999999999999ns");

  test_reset_error ();
  CHECK (nbdkit_parse_delay ("d", "-5", NULL, NULL) == -1);
  CHECK_ERROR ("negative");
  test_reset_error ();
  CHECK (nbdkit_parse_delay ("d", "5000000000", NULL, NULL) == -1);
  CHECK_ERROR ("too large");
  test_reset_error ();
  CHECK (nbdkit_parse_delay ("d", NULL, NULL, NULL) == -1);
  CHECK_ERROR ("d");
}

int
main (void)
{
  test_ints ();
  test_sizes ();
  test_bools ();
  test_probabilities ();
  test_delays ();

  if (test_failures) {
    fprintf (stderr, "test-parse: %u check(s) FAILED\n", test_failures);
    return 1;
  }
  printf ("test-parse: all checks passed\n");
  return 0;
}
