/* nbdattach: --upgrade, replacing the daemon of a live device by the
 * nbdattach binary now installed, without the kernel ever seeing a dead
 * connection.
 *
 * The old daemon stays in charge until the new one serves: it forks, the
 * child executes the binary it was itself started from (the path, read
 * at startup: a package upgrade replaces the file, and /proc/self/exe
 * then names the deleted one) with the same arguments, the daemon ends
 * of the device's sockets and the control socket inherited, and the
 * device's state in $NBDATTACH_UPGRADE.  Over a SOCK_SEQPACKET pair:
 *
 *   new -> old  "R"            chain loaded, opened, same flags: ready
 *               "1 message"    it cannot serve (report() in attach.c)
 *   old -> new  "G"            the old connections are paused: go
 *   new -> old  "0 /dev/nbdN"  serving
 *
 * Until "G" the new process has read nothing from the sockets, so any
 * failure before it (the binary missing or broken, a plugin that does
 * not load, a chain that does not open, other flags) rolls back: the
 * old daemon never stopped serving.  Only between "G" and "0" (thread
 * creation) can the new one die holding requests it read; the old one
 * then closes the sockets and exits, and the kernel keeps the device
 * for --reattach during its dead-connection timeout (systemd's
 * Restart= does that for nbdattach@ units).
 *
 * The stall the kernel sees is from the pause (requests in flight
 * answered, the chain flushed, its contexts closed) to the new threads
 * reading: the new binary opened its chain before.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nbd-protocol.h"
#include "nbdattach.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* How long the new binary may take to open its chain, and then to
 * start serving.
 */
#define READY_TIMEOUT_MS (120 * 1000)
#define SERVING_TIMEOUT_MS (30 * 1000)

#define ENV_STATE "NBDATTACH_UPGRADE"
#define ENV_CWD "NBDATTACH_UPGRADE_CWD"

char **saved_argv;
const char *start_cwd;
static char exe_path[PATH_MAX];

/* The new binary's side, from $NBDATTACH_UPGRADE. */
bool upgrading;
int upgrade_listen_fd = -1;
static int up_index = -1, up_ctl = -1, up_daemon, *up_fds, up_nr_fds;
static uint64_t up_size, up_flags;

extern char **environ;

static uint64_t
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Parses "index=N size=N flags=N ctl=FD listen=FD daemon=0|1
 * fds=FD,FD...".  Returns -1 if anything is missing or malformed.
 */
static int
parse_state (char *s)
{
  char *tok, *save = NULL;

  for (tok = strtok_r (s, " ", &save); tok; tok = strtok_r (NULL, " ", &save)) {
    if (sscanf (tok, "index=%d", &up_index) == 1 ||
        sscanf (tok, "size=%" SCNu64, &up_size) == 1 ||
        sscanf (tok, "flags=%" SCNu64, &up_flags) == 1 ||
        sscanf (tok, "ctl=%d", &up_ctl) == 1 ||
        sscanf (tok, "listen=%d", &upgrade_listen_fd) == 1 ||
        sscanf (tok, "daemon=%d", &up_daemon) == 1)
      continue;
    if (strncmp (tok, "fds=", 4) == 0) {
      char *p = tok + 4, *end;
      while (*p) {
        int *n = realloc (up_fds, (up_nr_fds + 1) * sizeof *n);
        if (n == NULL)
          return -1;
        up_fds = n;
        up_fds[up_nr_fds++] = strtol (p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0'))
          return -1;
        p = *end ? end + 1 : end;
      }
      continue;
    }
    return -1;
  }
  return up_index >= 0 && up_ctl >= 0 && up_nr_fds > 0 ? 0 : -1;
}

/* First thing in main: remembers what an upgrade needs (the binary's
 * path, the arguments, the directory they are relative to) and, in a
 * binary started by an upgrade, takes the device's state from the
 * environment (then removed, so that plugins' commands never see it).
 */
void
upgrade_init (char **argv)
{
  const char *state = getenv (ENV_STATE), *cwd = getenv (ENV_CWD);
  ssize_t n = readlink ("/proc/self/exe", exe_path, sizeof exe_path - 1);
  static char cwd_buf[PATH_MAX];

  exe_path[n > 0 ? n : 0] = '\0';
  saved_argv = argv;
  if (state == NULL) {
    start_cwd = getcwd (cwd_buf, sizeof cwd_buf);
    return;
  }
  {
    char *copy = strdup (state);
    if (copy == NULL || parse_state (copy) == -1)
      die ("%s: malformed (\"%s\")", ENV_STATE, state);
    free (copy);
  }
  upgrading = true;
  /* Relative paths in the arguments mean what they meant at the start. */
  if (cwd && chdir (cwd) == 0) {
    snprintf (cwd_buf, sizeof cwd_buf, "%s", cwd);
    start_cwd = cwd_buf;
  }
  unsetenv (ENV_STATE);
  unsetenv (ENV_CWD);
  fcntl (up_ctl, F_SETFD, FD_CLOEXEC);
  fcntl (upgrade_listen_fd, F_SETFD, FD_CLOEXEC);
  for (n = 0; n < up_nr_fds; ++n)
    fcntl (up_fds[n], F_SETFD, FD_CLOEXEC);
  /* fail() tells the old daemon why this one cannot serve. */
  report_fd = up_ctl;
}

/* The new binary, its chain open: checks it fits the device, says it is
 * ready, waits for the old daemon to pause, then serves.
 */
void
upgrade_take_over (const struct export_info *info)
{
  uint64_t flags = chain_server_flags (info->eflags);
  char go;

  if (up_daemon && !verbose)
    log_to_syslog = true;
  if (flags != up_flags)
    fail ("the chain's flags (0x%" PRIx64 ") differ from those the "
          "kernel has for /dev/nbd%d (0x%" PRIx64 "): read-only and the "
          "supported requests cannot change on a live device",
          flags, up_index, up_flags);
  if (info->size != up_size)
    nbdkit_error ("/dev/nbd%d: the chain is now %" PRIu64 " bytes, the "
                  "device %" PRIu64 ": nbdattach --resize applies it",
                  up_index, info->size, up_size);
  served.index = up_index;
  served.size = up_size;
  served.flags = up_flags;
  served.fds = up_fds;
  served.nr_fds = up_nr_fds;

  if (send (up_ctl, "R", 1, MSG_NOSIGNAL) != 1 ||
      recv (up_ctl, &go, 1, 0) != 1 || go != 'G')
    exit (EXIT_FAILURE);        /* the old daemon rolled back */
  if (serve_start () == -1)
    fail ("pthread_create: %s", strerror (errno));
  if (up_daemon && chdir ("/") == -1)
    nbdkit_error ("chdir /: %m");
}

/* ---- the old daemon's side ---- */

/* Whether the device's data lives in this process (a RAM disk, a
 * copy-on-write overlay), which a new process would not have.
 */
static const char *
data_in_process (void)
{
  struct backend *b;

  if (served.flags & NBD_FLAG_READ_ONLY)
    return NULL;
  for_each_backend (b)
    if (strcmp (b->name, "memory") == 0 || strcmp (b->name, "data") == 0 ||
        strcmp (b->name, "cow") == 0)
      return b->name;
  return NULL;
}

/* One message from the new binary within TIMEOUT_MS, into BUF: its
 * length, 0 if it exited (or closed its end), -1 on timeout.
 */
static ssize_t
receive (int fd, char *buf, size_t len, int timeout_ms)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  ssize_t r;

  if (poll (&pfd, 1, timeout_ms) != 1)
    return -1;
  r = recv (fd, buf, len - 1, 0);
  if (r < 0)
    r = 0;
  buf[r] = '\0';
  return r;
}

/* Ends the new binary's process (our child) and says how it ended. */
static void
reap (pid_t pid, bool kill_it, char *how, size_t len)
{
  int status;

  if (kill_it)
    kill (pid, SIGKILL);
  if (waitpid (pid, &status, 0) == -1)
    snprintf (how, len, "lost");
  else if (WIFEXITED (status) && WEXITSTATUS (status) == 127)
    snprintf (how, len, "could not be executed");
  else if (WIFEXITED (status))
    snprintf (how, len, "exited with status %d", WEXITSTATUS (status));
  else
    snprintf (how, len, "was killed by signal %d", WTERMSIG (status));
}

/* The environment of the new binary: ours with the device's state.
 * Only the array is allocated.
 */
static char **
upgrade_environment (int ctl, int listen_fd)
{
  static char state[4096], cwd[PATH_MAX + 32];
  size_t n = 0, i, j = 0;
  char **env;
  int k;

  while (environ[n])
    n++;
  env = calloc (n + 3, sizeof *env);
  if (env == NULL)
    return NULL;
  for (i = 0; i < n; ++i)
    if (strncmp (environ[i], ENV_STATE, strlen (ENV_STATE)) != 0)
      env[j++] = environ[i];
  k = snprintf (state, sizeof state, "%s=index=%d size=%" PRIu64
                " flags=%" PRIu64 " ctl=%d listen=%d daemon=%d fds=",
                ENV_STATE, served.index, served.size, served.flags, ctl,
                listen_fd, !foreground);
  for (i = 0; i < (size_t) served.nr_fds && k < (int) sizeof state; ++i)
    k += snprintf (state + k, sizeof state - k, "%s%d", i ? "," : "",
                   served.fds[i]);
  if (k >= (int) sizeof state) {
    free (env);
    return NULL;
  }
  env[j++] = state;
  if (start_cwd) {
    snprintf (cwd, sizeof cwd, "%s=%s", ENV_CWD, start_cwd);
    env[j++] = cwd;
  }
  env[j] = NULL;
  return env;
}

/* Returns 1 once the new binary serves the device (this daemon exits
 * without disconnecting), 0 after a rollback (this daemon serves on),
 * -1 if the device is left for --reattach (this daemon exits and fails).
 * MSG says what happened.
 */
int
device_upgrade (int listen_fd, char *msg, size_t len)
{
  const char *in_process = data_in_process ();
  char buf[512], how[64];
  char **env;
  int sv[2], i;
  ssize_t r;
  pid_t pid;
  uint64_t paused_at, went_at;

  if (use_ioctl) {
    snprintf (msg, len, "%s: --upgrade needs the netlink interface (this "
              "daemon uses --ioctl)", served.name);
    return 0;
  }
  if (in_process) {
    snprintf (msg, len, "%s: refusing to upgrade: the device's data lives "
              "in this process (%s), and a new one would start without it",
              served.name, in_process);
    return 0;
  }
  if (exe_path[0] != '/' || access (exe_path, X_OK) == -1) {
    snprintf (msg, len, "%s: cannot upgrade: %s: %s (still serving from "
              "the old binary)", served.name, exe_path,
              exe_path[0] ? strerror (errno) : "unknown binary");
    return 0;
  }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
    snprintf (msg, len, "socketpair: %s", strerror (errno));
    return 0;
  }
  env = upgrade_environment (sv[1], listen_fd);
  if (env == NULL) {
    snprintf (msg, len, "out of memory");
    close (sv[0]);
    close (sv[1]);
    return 0;
  }

  fflush (NULL);
  pid = fork ();
  if (pid == 0) {
    /* Only async-signal-safe calls until execve: other threads exist.
     * Nothing but what is listed here reaches the new binary.
     */
#ifdef SYS_close_range
    syscall (SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
    fcntl (sv[1], F_SETFD, 0);
    if (listen_fd >= 0)
      fcntl (listen_fd, F_SETFD, 0);
    for (i = 0; i < served.nr_fds; ++i)
      fcntl (served.fds[i], F_SETFD, 0);
    execve (exe_path, saved_argv, env);
    _exit (127);
  }
  close (sv[1]);
  free (env);
  if (pid == -1) {
    snprintf (msg, len, "fork: %s", strerror (errno));
    close (sv[0]);
    return 0;
  }

  /* Phase 1: the old daemon serves while the new one gets ready. */
  r = receive (sv[0], buf, sizeof buf, READY_TIMEOUT_MS);
  if (r != 1 || buf[0] != 'R') {
    bool timed_out = r == -1;
    if (r <= 0)
      buf[0] = '\0';
    reap (pid, true, how, sizeof how);
    close (sv[0]);
    snprintf (msg, len, "%s: the new binary %s %s%s%s; rolled back, still "
              "serving from the old one (pid %d)", served.name, exe_path,
              buf[0] == '1' ? "cannot serve: " :
              timed_out ? "did not get ready and " : "",
              buf[0] == '1' ? buf + 2 : how,
              buf[0] == '1' ? "" : " (see the log)", (int) getpid ());
    return 0;
  }

  /* Phase 2: pause here, let the new one go. */
  paused_at = now_us ();
  if (serve_pause () == -1) {
    send (sv[0], "A", 1, MSG_NOSIGNAL);
    serve_resume ();
    reap (pid, true, how, sizeof how);
    close (sv[0]);
    snprintf (msg, len, "%s: a connection ended or failed to flush while "
              "pausing; not upgraded", served.name);
    return 0;
  }
  went_at = now_us ();
  buf[0] = '\0';
  if (send (sv[0], "G", 1, MSG_NOSIGNAL) != 1 ||
      receive (sv[0], buf, sizeof buf, SERVING_TIMEOUT_MS) <= 0 ||
      buf[0] != '0') {
    reap (pid, true, how, sizeof how);
    close (sv[0]);
    for (i = 0; i < served.nr_fds; ++i)
      close (served.fds[i]);
    snprintf (msg, len, "%s: the new binary failed after taking the device "
              "over (%s); its connections are dead now: run nbdattach "
              "--reattach %s with the same options within %" PRIu64
              " seconds (systemd's Restart= does it for nbdattach@ units)",
              served.name, buf[0] == '1' ? buf + 2 : how, served.name,
              dead_timeout);
    return -1;
  }
  close (sv[0]);

  snprintf (buf, sizeof buf, "MAINPID=%d\nREADY=1\nSTATUS=Serving %s\n",
            (int) pid, served.name);
  notify_systemd (buf);
  snprintf (msg, len, "%s: upgraded, now served by pid %d (%s); requests "
            "waited %.1f ms (%.1f to pause the old daemon, %.1f for the new "
            "one to start serving)", served.name, (int) pid, exe_path,
            (now_us () - paused_at) / 1000.0,
            (went_at - paused_at) / 1000.0, (now_us () - went_at) / 1000.0);
  nbdkit_debug ("%s", msg);
  return 1;
}
