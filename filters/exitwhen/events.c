/* blockkit exitwhen filter: parsing and checking events.
 *
 *   file-created:PATH   PATH exists
 *   file-deleted:PATH   PATH does not exist
 *   pipe-closed:FD      the other end of the pipe (or socket) FD has been
 *                       closed; anything written to it is read and thrown
 *                       away
 *   process-exits:PID   process PID no longer exists
 *   script:CMD          CMD, run with /bin/sh -c, exits with status 0
 *                       (any other status, or a failure to run it, means
 *                       "not yet")
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "events.h"

static const struct { const char *prefix; enum event_type type; } prefixes[] = {
  { "file-created:", EVENT_FILE_CREATED },
  { "file-deleted:", EVENT_FILE_DELETED },
  { "pipe-closed:", EVENT_PIPE_CLOSED },
  { "process-exits:", EVENT_PROCESS_EXITS },
  { "script:", EVENT_SCRIPT },
};

int
event_parse_typed (struct event *ev, enum event_type type,
                   const char *key, const char *value)
{
  int i;

  memset (ev, 0, sizeof *ev);
  ev->type = type;
  ev->fd = -1;
  switch (type) {
  case EVENT_FILE_CREATED:
  case EVENT_FILE_DELETED:
    if (*value == '\0')
      goto bad;
    /* The server may change directory after it starts. */
    ev->arg = nbdkit_absolute_path (value);
    return ev->arg ? 0 : -1;
  case EVENT_PIPE_CLOSED:
    if (nbdkit_parse_int (key, value, &ev->fd) == -1 || ev->fd < 0)
      goto bad;
    if (fcntl (ev->fd, F_GETFD) == -1) {
      nbdkit_error ("%s=%s: file descriptor %d is not open", key, value,
                    ev->fd);
      return -1;
    }
    /* The watcher must never block reading it. */
    fcntl (ev->fd, F_SETFL, fcntl (ev->fd, F_GETFL) | O_NONBLOCK);
    return 0;
  case EVENT_PROCESS_EXITS:
    if (nbdkit_parse_int (key, value, &i) == -1 || i <= 0)
      goto bad;
    ev->pid = i;
    return 0;
  case EVENT_SCRIPT:
    if (*value == '\0')
      goto bad;
    ev->arg = strdup (value);
    if (ev->arg == NULL) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
    return 0;
  }
 bad:
  nbdkit_error ("%s=%s: invalid value", key, value);
  return -1;
}

int
event_parse (struct event *ev, const char *key, const char *value)
{
  size_t i, n;

  for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; ++i) {
    n = strlen (prefixes[i].prefix);
    if (strncmp (value, prefixes[i].prefix, n) == 0)
      return event_parse_typed (ev, prefixes[i].type, key, value + n);
  }
  nbdkit_error ("%s=%s: unknown event (expected file-created:PATH, "
                "file-deleted:PATH, pipe-closed:FD, process-exits:PID or "
                "script:COMMAND)", key, value);
  return -1;
}

void
event_free (struct event *ev)
{
  free (ev->arg);
  ev->arg = NULL;
}

static bool
pipe_closed (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  char buf[512];
  ssize_t r;

  if (poll (&p, 1, 0) <= 0)
    return false;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
    return true;
  /* Readable: drain what was written; EOF means closed. */
  while ((r = read (fd, buf, sizeof buf)) > 0)
    ;
  return r == 0;
}

static bool
script_true (const char *cmd)
{
  int status = system (cmd);

  if (status == -1) {
    nbdkit_debug ("exitwhen: script:%s: %m", cmd);
    return false;
  }
  return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

bool
event_happened (struct event *ev)
{
  struct stat st;

  switch (ev->type) {
  case EVENT_FILE_CREATED:
    return stat (ev->arg, &st) == 0;
  case EVENT_FILE_DELETED:
    return stat (ev->arg, &st) == -1 && errno == ENOENT;
  case EVENT_PIPE_CLOSED:
    return pipe_closed (ev->fd);
  case EVENT_PROCESS_EXITS:
    return kill (ev->pid, 0) == -1 && errno == ESRCH;
  case EVENT_SCRIPT:
    return script_true (ev->arg);
  }
  return false;
}
