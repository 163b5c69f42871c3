/* blockkit: per-thread state.
 *
 * The nbdkit_* helpers a plugin calls have no context argument: which
 * connection they are about, and which error the last callback set, is
 * kept per thread.  __thread variables cost nothing on the request path.
 */
#include <config.h>

#include "internal.h"

static __thread const char *thread_name;
static __thread struct connection *thread_conn;
static __thread int thread_error;

void
threadlocal_set_name (const char *name)
{
  thread_name = name;
}

const char *
threadlocal_get_name (void)
{
  return thread_name;
}

void
threadlocal_set_conn (struct connection *conn)
{
  thread_conn = conn;
}

struct connection *
threadlocal_get_conn (void)
{
  return thread_conn;
}

void
threadlocal_set_error (int err)
{
  thread_error = err;
}

int
threadlocal_get_error (void)
{
  return thread_error;
}

void
nbdkit_set_error (int err)
{
  thread_error = err;
}
