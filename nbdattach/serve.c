/* nbdattach: the threads that serve the daemon ends of the device's
 * sockets, one per connection, each running the server's transmission
 * code (handle_kernel_connection).
 *
 * They can be paused between two requests and started again on the same
 * sockets: --resize does it to reopen the chain at its new size,
 * --upgrade to hand the sockets to a new binary.  The kernel meanwhile
 * sees a server that is slow to answer, never a dead one.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"

struct served_device served = { .index = -1 };

struct server_thread {
  pthread_t thread;
  bool live;                    /* started and not joined yet */
  bool closed;                  /* handle_kernel_connection closed the fd */
  int result;
};
static struct server_thread *threads;

static void *
serve_thread (void *arg)
{
  struct server_thread *t = arg;
  int i = t - threads;

  t->result = handle_kernel_connection (served.fds[i],
                                        exportname_option ?
                                        exportname_option : "");
  return NULL;
}

/* Starts a thread for each socket not yet closed. */
int
serve_start (void)
{
  int i;

  if (threads == NULL) {
    threads = calloc (served.nr_fds, sizeof *threads);
    if (threads == NULL)
      return -1;
  }
  for (i = 0; i < served.nr_fds; ++i) {
    int err;

    if (threads[i].closed || threads[i].live)
      continue;
    err = pthread_create (&threads[i].thread, NULL, serve_thread,
                          &threads[i]);
    if (err != 0) {
      errno = err;
      return -1;
    }
    threads[i].live = true;
  }
  return 0;
}

static void
joined (struct server_thread *t)
{
  t->live = false;
  /* 1 and 2: paused with the socket open (connections.c). */
  if (t->result <= 0)
    t->closed = true;
}

/* For the wait loop: true once every connection has ended. */
bool
serve_all_done (void)
{
  bool done = true;
  int i;

  for (i = 0; i < served.nr_fds; ++i) {
    if (threads[i].live) {
      if (pthread_tryjoin_np (threads[i].thread, NULL) == 0)
        joined (&threads[i]);
      else
        done = false;
    }
    if (!threads[i].closed && !threads[i].live)
      done = false;             /* paused: serve_resume starts it again */
  }
  return done;
}

/* Stops every connection between two requests, after what is in flight
 * is answered and the chain flushed.  Returns 0, or -1 if a connection
 * ended instead (the kernel is disconnecting) or a flush failed: the
 * caller then resumes rather than hand the sockets on.
 */
int
serve_pause (void)
{
  int i, r = 0;

  pause_kernel_connections ();
  for (i = 0; i < served.nr_fds; ++i) {
    if (threads[i].live) {
      pthread_join (threads[i].thread, NULL);
      joined (&threads[i]);
    }
    if (threads[i].closed || threads[i].result == 2)
      r = -1;
  }
  return r;
}

/* Serves the paused sockets again (a connection that ended stays so). */
void
serve_resume (void)
{
  resume_kernel_connections ();
  if (serve_start () == -1)
    nbdkit_error ("%s: cannot restart serving: %m", served.name);
}

/* True if a connection ended with an error. */
bool
serve_failed (void)
{
  int i;

  for (i = 0; i < served.nr_fds; ++i)
    if (threads[i].result == -1)
      return true;
  return false;
}
