/* blockkit: --run (captive mode), the pidfile, daemonizing, and what
 * the server does with its own stdin and stdout.
 *
 * Once the plugins are configured, the server has no use for stdin and
 * stdout (unless -s gives them to the client), so they are pointed at
 * /dev/null: a plugin that reads or prints there later cannot steal a
 * terminal's input or write into a pipe the caller reads.  The --run
 * command still gets the originals, saved here, so it can be an
 * interactive program (nbdsh, qemu with a console) or a filter in a
 * pipeline.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "options.h"
#include "tls.h"

static pid_t run_pid = -1;
int run_exit_status;

/* The original stdin and stdout, for the --run command (-1: none). */
static int saved_stdin = -1, saved_stdout = -1;

/* The write end of the pipe on which a daemon tells the process that
 * started it that it is ready (-1: not daemonized, or already told).
 */
static int ready_fd = -1;

/* A process started with stdin, stdout or stderr closed would get them
 * back as the first files or pipes it opens (a plugin's pipe to a
 * script, a listening socket), and the next write to "stderr" would go
 * there.  Fill any gap with /dev/null first.
 */
void
open_std_fds (void)
{
  int fd;

  do {
    fd = open ("/dev/null", O_RDWR);
    if (fd == -1) {
      perror ("/dev/null");
      exit (EXIT_FAILURE);
    }
  } while (fd <= STDERR_FILENO);
  close (fd);
}

/* Close-on-exec copies of stdin and stdout, above fd 2. */
static void
save_stdio (int *in, int *out)
{
  *in = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  *out = fcntl (STDOUT_FILENO, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (*in == -1 || *out == -1) {
    perror ("fcntl: F_DUPFD_CLOEXEC");
    exit (EXIT_FAILURE);
  }
}

static void
null_stdio (void)
{
  int fd;

  fflush (stdout);
  fd = open ("/dev/null", O_RDWR);
  if (fd == -1 ||
      dup2 (fd, STDIN_FILENO) == -1 || dup2 (fd, STDOUT_FILENO) == -1) {
    perror ("/dev/null");
    exit (EXIT_FAILURE);
  }
  if (fd > STDERR_FILENO)
    close (fd);
}

/* After configuration (see the top of the file).  The copies are
 * close-on-exec, so only the --run command, which dup2s them back,
 * inherits them.
 */
void
redirect_stdio (void)
{
  if (run || print_uri_option)
    save_stdio (&saved_stdin, &saved_stdout);
  null_stdio ();
}

/* With -s: the client's connection is moved off fds 0 and 1, which
 * become /dev/null.  When the connection ends and closes its fds, 0 and
 * 1 stay open, so a pipe or file a plugin opens while it closes or
 * unloads cannot land on them (Debian's sh plugin asserts it), and a
 * plugin that prints on stdout never writes into the protocol stream.
 */
void
take_stdio_for_client (int *in, int *out)
{
  save_stdio (in, out);
  null_stdio ();
}

/* Appends S to F percent-encoded, as a URI path or query value: only
 * unreserved characters and '/' are kept as they are, so an export name
 * or socket path with spaces, '?', '&' or '=' survives the round trip.
 */
static void
put_encoded (FILE *f, const char *s)
{
  for (; *s; s++) {
    unsigned char c = *s;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || strchr ("-._~/", c))
      fputc (c, f);
    else
      fprintf (f, "%%%02X", c);
  }
}

/* Builds the NBD URI a client should use, in the form nbdkit gives
 * ($uri in nbdkit-captive(1)): the default export has no path at all,
 * "nbd+unix://?socket=PATH" and "nbd://HOST:PORT", and any other export
 * is "/NAME".
 */
static char *
make_uri (void)
{
  const char *export = exportname_option ? exportname_option : "";
  char *uri = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&uri, &len);

  if (f == NULL) {
    perror ("open_memstream");
    exit (EXIT_FAILURE);
  }
  /* With TLS required the URI says so (nbds), as the established
   * server's $uri does.
   */
  const char *scheme = tls_mode == TLS_REQUIRE ? "nbds" : "nbd";

  if (unixsocket)
    fprintf (f, "%s+unix://", scheme);
  else if (port && ipaddr && strchr (ipaddr, ':'))
    fprintf (f, "%s://[%s]:%s", scheme, ipaddr, port);
  else if (port)
    fprintf (f, "%s://%s:%s", scheme, ipaddr ? ipaddr : "localhost", port);
  if ((unixsocket || port) && *export) {
    fputc ('/', f);
    put_encoded (f, export);
  }
  if (unixsocket) {
    fputs ("?socket=", f);
    put_encoded (f, unixsocket);
  }
  if (fclose (f) == EOF) {
    perror ("open_memstream");
    exit (EXIT_FAILURE);
  }
  return uri;
}

/* --print-uri: the URI on stdout, once the server listens (before it
 * forks, so that the command that started it can read it).
 */
void
print_uri (void)
{
  char *uri = make_uri ();

  if (saved_stdout >= 0)
    dprintf (saved_stdout, "%s\n", uri);
  free (uri);
  /* Without --run nothing else needs the original stdout, and a daemon
   * holding it open would keep `$(blockkit --print-uri ...)` waiting.
   */
  if (run == NULL) {
    close (saved_stdin);
    close (saved_stdout);
    saved_stdin = saved_stdout = -1;
  }
}

/* Starts the --run command with the connection details in its
 * environment.  Called once the sockets are listening.
 */
void
run_command (void)
{
  char *uri;

  if (run == NULL)
    return;

  uri = make_uri ();
  setenv ("uri", uri, 1);
  setenv ("nbd", uri, 1);
  setenv ("exportname", exportname_option ? exportname_option : "", 1);
  /* $tls: unset without TLS, "1" for on, "2" for require (nbdkit's). */
  if (tls_mode == TLS_OFF)
    unsetenv ("tls");
  else
    setenv ("tls", tls_mode == TLS_ON ? "1" : "2", 1);
  if (unixsocket)
    setenv ("unixsocket", unixsocket, 1);
  else
    unsetenv ("unixsocket");
  if (port)
    setenv ("port", port, 1);
  else
    unsetenv ("port");
  free (uri);

  fflush (stdout);
  fflush (stderr);
  run_pid = fork ();
  if (run_pid == -1) {
    perror ("fork");
    exit (EXIT_FAILURE);
  }
  if (run_pid == 0) {
    /* The command must not inherit our blocked signals or SIGPIPE. */
    sigset_t mask;
    sigemptyset (&mask);
    sigprocmask (SIG_SETMASK, &mask, NULL);
    signal (SIGPIPE, SIG_DFL);
    if (saved_stdin >= 0)
      dup2 (saved_stdin, STDIN_FILENO);
    if (saved_stdout >= 0)
      dup2 (saved_stdout, STDOUT_FILENO);
    execl ("/bin/sh", "sh", "-c", run, (char *) NULL);
    perror ("/bin/sh");
    _exit (127);
  }
  debug ("--run: started command (pid %d)", (int) run_pid);
}

/* A thread that waits for the --run command, then stops the server. */
static void *
wait_for_run (void *arg)
{
  int status;

  while (waitpid (run_pid, &status, 0) == -1) {
    if (errno != EINTR) {
      perror ("waitpid");
      run_exit_status = EXIT_FAILURE;
      set_quit ();
      return NULL;
    }
  }
  if (WIFEXITED (status))
    run_exit_status = WEXITSTATUS (status);
  else if (WIFSIGNALED (status)) {
    fprintf (stderr, "%s: --run: command was killed by signal %d\n",
             program_name, WTERMSIG (status));
    run_exit_status = 128 + WTERMSIG (status);
  }
  else
    run_exit_status = EXIT_FAILURE;
  debug ("--run: command exited with status %d", run_exit_status);
  set_quit ();
  return NULL;
}

void
start_run_waiter (void)
{
  pthread_t thread;

  if (run_pid <= 0)
    return;
  if (pthread_create (&thread, NULL, wait_for_run, NULL) != 0) {
    perror ("pthread_create");
    exit (EXIT_FAILURE);
  }
  pthread_detach (thread);
}

void
write_pidfile (void)
{
  char buf[32];
  int fd, len;

  if (pidfile == NULL)
    return;
  fd = open (pidfile, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC | O_NOCTTY,
             0644);
  if (fd == -1) {
    fprintf (stderr, "%s: cannot write pidfile %s: %s\n",
             program_name, pidfile, strerror (errno));
    exit (EXIT_FAILURE);
  }
  len = snprintf (buf, sizeof buf, "%d\n", (int) getpid ());
  if (write (fd, buf, len) != len || close (fd) == -1) {
    fprintf (stderr, "%s: cannot write pidfile %s: %s\n",
             program_name, pidfile, strerror (errno));
    exit (EXIT_FAILURE);
  }
  debug ("wrote pidfile %s", pidfile);
}

/* Goes into the background.  The command the user ran returns only
 * once the daemon is ready (daemon_ready: pidfile written, plugins
 * started, sockets listening), so that a script can read the pidfile
 * and connect straight away; it fails if the daemon dies before that.
 * Every path the daemon uses was made absolute before, since it changes
 * to / here.
 */
void
daemonize (void)
{
  pid_t pid;
  int fd, pfd[2];
  char c;
  ssize_t r;

  fflush (stdout);
  fflush (stderr);
  if (pipe2 (pfd, O_CLOEXEC) == -1) {
    perror ("pipe2");
    exit (EXIT_FAILURE);
  }
  pid = fork ();
  if (pid == -1) {
    perror ("fork");
    exit (EXIT_FAILURE);
  }
  if (pid > 0) {
    close (pfd[1]);
    do
      r = read (pfd[0], &c, 1);
    while (r == -1 && errno == EINTR);
    _exit (r == 1 ? EXIT_SUCCESS : EXIT_FAILURE);
  }
  close (pfd[0]);
  ready_fd = pfd[1];

  setsid ();
  /* Second fork: never reacquire a controlling terminal. */
  pid = fork ();
  if (pid == -1) {
    perror ("fork");
    exit (EXIT_FAILURE);
  }
  if (pid > 0)
    _exit (EXIT_SUCCESS);

  if (chdir ("/") == -1) {
    perror ("chdir");
    exit (EXIT_FAILURE);
  }
  fd = open ("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2 (fd, STDIN_FILENO);
    dup2 (fd, STDOUT_FILENO);
    if (!verbose)
      dup2 (fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
      close (fd);
  }
  if (!verbose)
    log_to_syslog = true;
}

/* Lets the command that started the daemon return (see daemonize). */
void
daemon_ready (void)
{
  if (ready_fd == -1)
    return;
  if (write (ready_fd, "", 1) != 1)
    nbdkit_debug ("daemon: cannot tell the parent we are ready: %m");
  close (ready_fd);
  ready_fd = -1;
}
