/* blockkit: shutting the server down.
 *
 * A signal (or nbdkit_shutdown, or the end of a --run command) sets quit
 * and writes to a pipe; every thread that sleeps in poll(2) also polls
 * the read end, so nothing waits past a shutdown.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

volatile int quit;
int quit_fd = -1;
static int write_quit_fd = -1;

void
set_up_quit_pipe (void)
{
  int fds[2];

  if (pipe2 (fds, O_CLOEXEC) == -1) {
    perror ("pipe2");
    exit (EXIT_FAILURE);
  }
  quit_fd = fds[0];
  write_quit_fd = fds[1];
}

/* Async-signal-safe. */
void
set_quit (void)
{
  char c = 0;
  ssize_t r;

  quit = 1;
  r = write (write_quit_fd, &c, 1);
  (void) r;
}

void
handle_quit (int sig)
{
  int saved_errno = errno;

  set_quit ();
  errno = saved_errno;
}

void
nbdkit_shutdown (void)
{
  set_quit ();
}
