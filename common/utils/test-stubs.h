/* blockkit: helpers shared by the common/ unit tests.
 *
 * test-stubs.c provides the few server symbols (nbdkit_error & co) that
 * the server sources linked into the unit tests need, and records the
 * last error message so tests can check what was reported.
 */
#ifndef BLOCKKIT_TEST_STUBS_H
#define BLOCKKIT_TEST_STUBS_H

#include <stdio.h>
#include <string.h>

/* Last message passed to nbdkit_error, and how many there were. */
extern char test_last_error[4096];
extern unsigned test_error_count;
extern void test_reset_error (void);

/* Number of failed checks so far; main returns test_failures != 0. */
extern unsigned test_failures;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

/* Check that an error was reported and that its message contains
 * NEEDLE (which may be NULL to skip that part).
 */
#define CHECK_ERROR(needle)                                             \
  do {                                                                  \
    const char *needle_ = (needle);                                     \
    if (test_error_count == 0) {                                        \
      fprintf (stderr, "%s:%d: FAILED: no error was reported\n",        \
               __FILE__, __LINE__);                                     \
      test_failures++;                                                  \
    }                                                                   \
    else if (needle_ && strstr (test_last_error, needle_) == NULL) {    \
      fprintf (stderr, "%s:%d: FAILED: error \"%s\" does not contain \"%s\"\n", \
               __FILE__, __LINE__, test_last_error, needle_);           \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#define CHECK_NO_ERROR()                                                \
  do {                                                                  \
    if (test_error_count != 0) {                                        \
      fprintf (stderr, "%s:%d: FAILED: unexpected error: %s\n",         \
               __FILE__, __LINE__, test_last_error);                    \
      test_failures++;                                                  \
    }                                                                   \
  } while (0)

#endif /* BLOCKKIT_TEST_STUBS_H */
