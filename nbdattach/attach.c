/* nbdattach: the attaching daemon.  It opens the chain, makes one
 * socketpair per connection, serves the daemon ends with the server's
 * transmission code (handle_kernel_connection), hands the kernel ends to
 * the nbd driver (CONNECT, RECONFIGURE for --reattach, or ioctls), then
 * waits for a signal or for the kernel to end every connection.  When it
 * daemonizes, the waiting parent learns the outcome through report().
 * Option parsing and the other modes are in main.c.
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
#include "nbd-protocol.h"
#include "nbdattach.h"
#include "ublk.h"

/* Written by the signal handler, read by the wait loop's poll. */
static int signal_pipe[2] = { -1, -1 };

static void
handle_signal (int sig)
{
  char c = sig;
  ssize_t r = write (signal_pipe[1], &c, 1);

  (void) r;
}

/* The kernel's flags for what the chain can do (the same bits as the
 * NBD protocol's transmission flags).
 */
uint64_t
chain_server_flags (uint64_t eflags)
{
  return eflags & (NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY |
                   NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                   NBD_FLAG_ROTATIONAL | NBD_FLAG_SEND_TRIM |
                   NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN);
}

/* Tells the waiting parent how it went: "0 /dev/nbdN" or "1 message".
 * For an upgrade the parent is the old daemon (upgrade.c).
 */
int report_fd = -1;

void
report (int status, const char *msg)
{
  char buf[512];
  int len;

  if (report_fd < 0) {
    if (status == 0)
      printf ("%s\n", msg);
    else
      fprintf (stderr, "nbdattach: %s\n", msg);
    fflush (stdout);
    return;
  }
  len = snprintf (buf, sizeof buf, "%d %s", status, msg);
  if (write (report_fd, buf, len) != len)
    perror ("nbdattach: write");
  close (report_fd);
  report_fd = -1;
}

void
fail (const char *fmt, ...)
{
  char msg[400];
  va_list args;

  va_start (args, fmt);
  vsnprintf (msg, sizeof msg, fmt, args);
  va_end (args);
  report (1, msg);
  exit (EXIT_FAILURE);
}

/* Goes into the background; the parent waits for the child's report so
 * that it can print the device (or the error) and exit with the right
 * status.
 */
static void
daemonize (void)
{
  int fds[2];
  pid_t pid;

  if (pipe2 (fds, O_CLOEXEC) == -1)
    die ("pipe: %s", strerror (errno));
  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid == -1)
    die ("fork: %s", strerror (errno));
  if (pid > 0) {
    char buf[512];
    ssize_t n;

    close (fds[1]);
    n = read (fds[0], buf, sizeof buf - 1);
    if (n <= 0)
      die ("the daemon exited before attaching a device");
    buf[n] = '\0';
    if (buf[0] == '0') {
      printf ("%s\n", buf + 2);
      exit (EXIT_SUCCESS);
    }
    fprintf (stderr, "nbdattach: %s\n", buf + 2);
    exit (EXIT_FAILURE);
  }
  close (fds[0]);
  report_fd = fds[1];
  setsid ();
  if (chdir ("/") == -1)
    perror ("chdir");
  {
    int null = open ("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2 (null, STDIN_FILENO);
      dup2 (null, STDOUT_FILENO);
      if (!verbose)
        dup2 (null, STDERR_FILENO);
      if (null > STDERR_FILENO)
        close (null);
    }
  }
  if (!verbose)
    log_to_syslog = true;
}

static void
write_pidfile (void)
{
  FILE *fp;

  if (pidfile == NULL)
    return;
  fp = fopen (pidfile, "we");
  if (fp == NULL || fprintf (fp, "%d\n", (int) getpid ()) < 0 ||
      fclose (fp) != 0)
    fail ("cannot write pidfile %s: %s", pidfile, strerror (errno));
}

int
connection_socketpair (int *kernel_fd, int *daemon_fd)
{
  int sv[2], size = 4 * 1024 * 1024;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
    return -1;
  /* A read reply can be 32M: let the daemon end hold plenty. */
  setsockopt (sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt (sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  *kernel_fd = sv[0];
  *daemon_fd = sv[1];
  return 0;
}

/* Makes the socketpairs and gives the kernel its ends: CONNECT, or
 * RECONFIGURE for --reattach, or the ioctls.  The daemon ends are being
 * served already: the kernel may send requests at once (the partition
 * scan), and each socket must have its reader (a reattach serves them
 * once the kernel has taken them).
 */
static void
connect_device (const struct export_info *info)
{
  struct attach_params p = { 0 };
  int *kernel_fds;
  int i;

  served.nr_fds = connections;
  served.fds = calloc (connections, sizeof *served.fds);
  kernel_fds = calloc (connections, sizeof *kernel_fds);
  if (served.fds == NULL || kernel_fds == NULL)
    fail ("out of memory");
  for (i = 0; i < connections; ++i)
    if (connection_socketpair (&kernel_fds[i], &served.fds[i]) == -1)
      fail ("socketpair: %s", strerror (errno));

  p.index = device_index;
  p.size = info->size;
  p.block_size = block_size;
  p.server_flags = chain_server_flags (info->eflags);
  p.timeout = timeout;
  p.dead_conn_timeout = dead_timeout;
  p.backend_id = backend_name;
  p.fds = kernel_fds;
  p.nr_fds = connections;

  if (!reattach_target && serve_start () == -1)
    fail ("pthread_create: %s", strerror (errno));

  if (reattach_target) {
    struct io_probe probe;
    char why[400];

    /* Only the sockets the kernel took are served (reattach.c); it
     * queues requests in them meanwhile.
     */
    p.index = resolve_or_die (reattach_target);
    if (reattach_send (&p, kernel_fds, served.fds, &probe, why,
                       sizeof why) == -1)
      fail ("%s", why);
    if (serve_start () == -1)
      fail ("pthread_create: %s", strerror (errno));
    if (reattach_confirm (p.index, &probe, why, sizeof why) == -1)
      fail ("%s", why);
    served.index = p.index;
  }
  else if (use_ioctl) {
    if (ioctl_attach (&p, &served.index) == -1)
      fail ("attaching with ioctls failed: %s", strerror (errno));
  }
  else if (nl_nbd_connect (&p, &served.index) == -1) {
    if (errno == EBUSY)
      fail ("/dev/nbd%d is busy (in use, or held open by another "
            "program)", device_index);
    fail ("the kernel refused the device: %s", strerror (errno));
  }
  /* The kernel holds its own references now. */
  for (i = 0; i < connections; ++i)
    close (kernel_fds[i]);
  free (kernel_fds);
  served.size = info->size;
  served.flags = p.server_flags;
}

/* Waits for a signal, a command on the control socket, a size change
 * the plugin noticed, or the kernel ending every connection.  Returns 0
 * then, or what device_upgrade returned once this daemon must exit
 * without disconnecting (1: a new binary serves the device, -1: it is
 * left for --reattach).
 */
static int
wait_loop (int control_fd, int *status)
{
  bool disconnected = false;

  for (;;) {
    struct pollfd pfd[3] = {
      { .fd = signal_pipe[0], .events = POLLIN },
      { .fd = disconnected ? -1 : control_fd, .events = POLLIN },
      { .fd = size_changed_fd (), .events = POLLIN },
    };

    if (serve_all_done ())
      return 0;
    if (poll (pfd, 3, 200) <= 0)
      continue;
    if (pfd[0].revents & POLLIN) {
      char c;
      if (read (signal_pipe[0], &c, 1) == 1 && !disconnected) {
        debug ("signal %d: disconnecting %s", c, served.name);
        disconnected = true;
        notify_systemd ("STOPPING=1\n");
        /* The kernel sends NBD_CMD_DISC on each socket; the readers end
         * and flush the chain.
         */
        if ((use_ioctl ? ioctl_detach (served.index)
             : nl_nbd_disconnect (served.index)) == -1) {
          nbdkit_error ("%s: disconnect failed: %m", served.name);
          *status = EXIT_FAILURE;
        }
      }
    }
    if (pfd[1].revents & POLLIN) {
      int r = control_handle (control_fd);
      if (r != 0)
        return r;
    }
    if ((pfd[2].revents & POLLIN) && !disconnected)
      size_changed_event ();
  }
}

int
attach (const char *plugin_name)
{
  struct export_info info;
  int status = EXIT_SUCCESS, control_fd;
  struct sigaction sa = { .sa_handler = handle_signal };

  if (pipe2 (signal_pipe, O_CLOEXEC) == -1)
    die ("pipe: %s", strerror (errno));
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (!foreground && !upgrading)
    daemonize ();
  /* Before the chain opens: a plugin may report a new size at once. */
  size_changed_fd ();
  if (top->after_fork (top) == -1)
    fail ("the plugin failed to start (after_fork)");

  if (probe_export (exportname_option ? exportname_option : "", &info) == -1)
    fail ("the chain failed to open (see the messages above or the log)");
  if (info.size == 0 || info.size % block_size != 0)
    fail ("the export size %" PRIu64 " is not a non-zero multiple of the "
          "block size %" PRIu64 " (use --block-size, or the truncate "
          "filter)", info.size, block_size);
  if (connections > 1 && !(info.eflags & NBD_FLAG_CAN_MULTI_CONN))
    fail ("-C %d: this chain does not allow multiple connections "
          "(the plugin does not support multi-conn)", connections);

  if (use_ublk)
    return ublk_attach (&info, plugin_name, signal_pipe[0], report,
                        write_pidfile);

  if (upgrading)
    upgrade_take_over (&info);
  else
    connect_device (&info);

  snprintf (served.name, sizeof served.name, "/dev/nbd%d", served.index);
  write_state (served.index, plugin_name, backend_name);
  write_pidfile ();
  control_fd = upgrading ? upgrade_listen_fd : control_listen (served.index);
  if (!use_ioctl)
    nl_nbd_watch_link_dead ();
  report (0, served.name);
  if (!upgrading) {
    char state[96];
    snprintf (state, sizeof state, "READY=1\nSTATUS=Serving %s\n",
              served.name);
    notify_systemd (state);
  }

  switch (wait_loop (control_fd, &status)) {
  case 1:
    return EXIT_SUCCESS;        /* the new binary serves it now */
  case -1:
    return EXIT_FAILURE;        /* left for --reattach */
  }
  if (use_ioctl)
    ioctl_wait ();
  if (serve_failed ())
    status = EXIT_FAILURE;
  control_remove (served.index);
  remove_state (served.index);
  if (pidfile)
    unlink (pidfile);
  debug ("%s detached", served.name);
  return status;
}
