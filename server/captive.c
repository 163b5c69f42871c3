/* blockkit: --run (captive mode), the pidfile, and daemonizing. */
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

static pid_t run_pid = -1;
int run_exit_status;

/* Builds the nbd URI a client should use, as nbdinfo and qemu accept. */
static char *
make_uri (void)
{
  const char *export = exportname_option ? exportname_option : "";
  char *uri = NULL;
  int r;

  if (unixsocket)
    r = asprintf (&uri, "nbd+unix:///%s?socket=%s", export, unixsocket);
  else if (port && ipaddr && strchr (ipaddr, ':'))
    r = asprintf (&uri, "nbd://[%s]:%s/%s", ipaddr, port, export);
  else if (port)
    r = asprintf (&uri, "nbd://%s:%s/%s",
                  ipaddr ? ipaddr : "localhost", port, export);
  else
    r = asprintf (&uri, "%s", "");
  if (r == -1) {
    perror ("asprintf");
    exit (EXIT_FAILURE);
  }
  return uri;
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
  setenv ("tls", "0", 1);
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

/* Goes into the background: the parent exits once the child is ready
 * to accept connections (sockets are already listening).
 */
void
daemonize (void)
{
  pid_t pid;
  int fd;

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid == -1) {
    perror ("fork");
    exit (EXIT_FAILURE);
  }
  if (pid > 0)
    _exit (EXIT_SUCCESS);

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
