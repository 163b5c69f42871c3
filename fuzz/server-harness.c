/* blockkit fuzzing: the real server, run in process on one end of a
 * socketpair, for the protocol targets.
 *
 * harness_init sets up what main() would for `blockkit memory 1M`: the
 * quit pipe, the chain (the memory plugin, compiled into the target and
 * registered exactly as chain_load registers a dlopened one), its
 * configuration, the thread model and .get_ready.  Each connection is
 * then the server's own handle_single_connection on one end of a
 * socketpair, the code path of every network client, while a client
 * thread writes the fuzz input into the other end and drains the
 * replies, so that the server never blocks on a full socket.  Nothing
 * is left behind: the connection frees its state, the client thread is
 * joined, both ends are closed.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "server-harness.h"

/* The memory plugin's entry point (plugins/memory/memory.c). */
extern struct nbdkit_plugin *plugin_init (void);

void
harness_init (void)
{
  char *argv[] = { (char *) "size=1M" };

  signal (SIGPIPE, SIG_IGN);
  set_up_quit_pipe ();
  /* Few workers: each connection starts its own, every iteration. */
  threads_option = 2;
  top = plugin_register (0, "memory", NULL, plugin_init);
  chain_configure (1, argv);
  lock_init_thread_model ();
  if (top->get_ready (top) == -1 || top->after_fork (top) == -1)
    abort ();
}

struct client {
  int fd;
  const uint8_t *part[2];
  size_t len[2];
};

/* Writes both parts, then shuts down its sending side; reads until the
 * server closes.  Non-blocking, with poll, so that it reads whenever
 * the server writes, whether or not it is done writing itself.
 */
static void *
client_thread (void *arg)
{
  struct client *c = arg;
  char buf[65536];
  size_t k = 0, done = 0;
  bool sending = true;

  for (;;) {
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    ssize_t r;

    while (sending && k < 2 && done == c->len[k]) {
      k++;
      done = 0;
    }
    if (sending && k == 2) {
      shutdown (c->fd, SHUT_WR);
      sending = false;
    }
    if (sending)
      pfd.events |= POLLOUT;
    if (poll (&pfd, 1, -1) == -1) {
      if (errno == EINTR)
        continue;
      abort ();
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      r = read (c->fd, buf, sizeof buf);
      if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR))
        return NULL;            /* the server closed the connection */
    }
    if (sending && (pfd.revents & POLLOUT)) {
      r = send (c->fd, c->part[k] + done, c->len[k] - done, MSG_NOSIGNAL);
      if (r > 0)
        done += r;
      else if (r == -1 && errno != EAGAIN && errno != EINTR)
        sending = false;        /* the server stopped reading */
    }
  }
}

void
harness_connection (const uint8_t *part1, size_t len1,
                    const uint8_t *part2, size_t len2)
{
  struct client c = {
    .part = { part1, part2 }, .len = { len1, len2 },
  };
  pthread_t thread;
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
    abort ();
  c.fd = sv[1];
  if (fcntl (c.fd, F_SETFL, O_NONBLOCK) == -1)
    abort ();
  if (pthread_create (&thread, NULL, client_thread, &c) != 0)
    abort ();
  handle_single_connection (sv[0], sv[0]);      /* closes sv[0] */
  pthread_join (thread, NULL);
  close (sv[1]);
}
