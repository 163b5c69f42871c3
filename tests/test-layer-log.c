/* The call log of the test layers: see test-layer-log.h. */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "test-layer-log.h"

/* Lines logged before the file is known: .load and the first .config
 * calls.  A handful at most.
 */
#define MAX_PENDING 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *layer = "?";
static int fd = -1;
static char *pending[MAX_PENDING];
static size_t n_pending;

void
layer_log_name (const char *name)
{
  layer = name;
}

/* Writes LINE (which ends in \n) in one system call, so that lines from
 * other threads and other layers (separate descriptors on the same
 * O_APPEND file) never interleave.
 */
static void
write_line (const char *line)
{
  size_t len = strlen (line);

  if (write (fd, line, len) != (ssize_t) len)
    abort ();
}

int
layer_log_config (const char *key, const char *value)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  size_t i;

  if (strcmp (key, "orderlog") != 0 || fd >= 0)
    return 0;
  fd = open (value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd == -1) {
    nbdkit_error ("orderlog=%s: %m", value);
    return -1;
  }
  for (i = 0; i < n_pending; ++i) {
    write_line (pending[i]);
    free (pending[i]);
  }
  n_pending = 0;
  return 0;
}

void
layer_log (const char *fmt, ...)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  struct timespec ts;
  char event[256], *line;
  va_list ap;
  int saved_errno = errno;

  va_start (ap, fmt);
  vsnprintf (event, sizeof event, fmt, ap);
  va_end (ap);
  clock_gettime (CLOCK_MONOTONIC, &ts);
  if (asprintf (&line, "%" PRIu64 " %s %s\n",
                (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec,
                layer, event) == -1)
    abort ();

  if (fd >= 0) {
    write_line (line);
    free (line);
  }
  else if (n_pending < MAX_PENDING)
    pending[n_pending++] = line;
  else
    abort ();
  errno = saved_errno;
}

void
layer_log_close (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);

  if (fd >= 0)
    close (fd);
  fd = -1;
}
