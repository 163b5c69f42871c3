/* blockkit: stand-ins for server functions, for the common/ unit tests.
 *
 * These replace server/log.c and friends when individual server sources
 * (parse.c, paths.c, extents.c, exports.c) are linked into a test.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "test-stubs.h"

char test_last_error[4096];
unsigned test_error_count;
unsigned test_failures;

void
test_reset_error (void)
{
  test_last_error[0] = '\0';
  test_error_count = 0;
}

void
nbdkit_verror (const char *msg, va_list args)
{
  vsnprintf (test_last_error, sizeof test_last_error, msg, args);
  test_error_count++;
  fprintf (stderr, "  (expected?) error: %s\n", test_last_error);
}

void
nbdkit_error (const char *msg, ...)
{
  va_list args;

  va_start (args, msg);
  nbdkit_verror (msg, args);
  va_end (args);
}

void
nbdkit_vdebug (const char *msg, va_list args)
{
  fprintf (stderr, "  debug: ");
  vfprintf (stderr, msg, args);
  fprintf (stderr, "\n");
}

void
nbdkit_debug (const char *msg, ...)
{
  va_list args;

  va_start (args, msg);
  nbdkit_vdebug (msg, args);
  va_end (args);
}

/* The tests never use stdin as the NBD socket. */
int
nbdkit_stdio_safe (void)
{
  return 1;
}
