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

struct server_thread {
  pthread_t thread;
  int fd;
  int result;
};

static void *
serve_thread (void *arg)
{
  struct server_thread *t = arg;

  t->result = handle_kernel_connection (t->fd,
                                        exportname_option ?
                                        exportname_option : "");
  return NULL;
}

/* The kernel's flags for what the chain can do (the same bits as the
 * NBD protocol's transmission flags).
 */
static uint64_t
server_flags (const struct export_info *info)
{
  uint64_t f = info->eflags & (NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY |
                               NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                               NBD_FLAG_ROTATIONAL | NBD_FLAG_SEND_TRIM |
                               NBD_FLAG_SEND_WRITE_ZEROES |
                               NBD_FLAG_CAN_MULTI_CONN);
  return f;
}

/* Tells the waiting parent how it went: "0 /dev/nbdN" or "1 message". */
static int report_fd = -1;

static void
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

static void __attribute__ ((noreturn))
fail (const char *fmt, ...) NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2);

static void
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
attach (const char *plugin_name)
{
  struct export_info info;
  struct attach_params p = { 0 };
  struct server_thread *threads;
  int *kernel_fds;
  int i, index = -1, status = EXIT_SUCCESS;
  bool disconnected = false;
  char devname[32];
  struct sigaction sa = { .sa_handler = handle_signal };

  if (pipe2 (signal_pipe, O_CLOEXEC) == -1)
    die ("pipe: %s", strerror (errno));
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (!foreground)
    daemonize ();
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

  threads = calloc (connections, sizeof *threads);
  kernel_fds = calloc (connections, sizeof *kernel_fds);
  if (threads == NULL || kernel_fds == NULL)
    fail ("out of memory");
  for (i = 0; i < connections; ++i) {
    int sv[2], size = 4 * 1024 * 1024;

    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
      fail ("socketpair: %s", strerror (errno));
    /* A read reply can be 32M: let the daemon end hold plenty. */
    setsockopt (sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt (sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    kernel_fds[i] = sv[0];
    threads[i].fd = sv[1];
  }

  p.index = device_index;
  p.size = info.size;
  p.block_size = block_size;
  p.server_flags = server_flags (&info);
  p.timeout = timeout;
  p.dead_conn_timeout = dead_timeout;
  p.backend_id = backend_name;
  p.fds = kernel_fds;
  p.nr_fds = connections;

  /* Serve before telling the kernel: it may send requests at once (the
   * partition scan), and each socket must have its reader.
   */
  for (i = 0; i < connections; ++i)
    if (pthread_create (&threads[i].thread, NULL, serve_thread,
                        &threads[i]) != 0)
      fail ("pthread_create: %s", strerror (errno));

  if (reattach_target) {
    p.index = resolve_or_die (reattach_target);
    if (nl_nbd_reconfigure (&p) == -1)
      fail ("/dev/nbd%d: reattach failed: %s%s", p.index, strerror (errno),
            errno == EINVAL ? " (is it still bound, within its dead "
            "connection timeout, and with the same --name?)" : "");
    index = p.index;
  }
  else if (use_ioctl) {
    if (ioctl_attach (&p, &index) == -1)
      fail ("attaching with ioctls failed: %s", strerror (errno));
  }
  else if (nl_nbd_connect (&p, &index) == -1) {
    if (errno == EBUSY)
      fail ("/dev/nbd%d is busy (in use, or held open by another "
            "program)", device_index);
    fail ("the kernel refused the device: %s", strerror (errno));
  }
  /* The kernel holds its own references now. */
  for (i = 0; i < connections; ++i)
    close (kernel_fds[i]);
  free (kernel_fds);

  snprintf (devname, sizeof devname, "/dev/nbd%d", index);
  write_state (index, plugin_name, backend_name);
  write_pidfile ();
  if (!use_ioctl)
    nl_nbd_watch_link_dead ();
  report (0, devname);
  {
    char state[96];
    snprintf (state, sizeof state, "READY=1\nSTATUS=Serving %s\n", devname);
    notify_systemd (state);
  }

  /* Wait for a signal or for the kernel to end every connection. */
  for (;;) {
    struct pollfd pfd = { .fd = signal_pipe[0], .events = POLLIN };
    bool all_done = true;

    for (i = 0; i < connections; ++i)
      if (pthread_tryjoin_np (threads[i].thread, NULL) != 0 &&
          threads[i].fd >= 0)
        all_done = false;
      else
        threads[i].fd = -1;
    if (all_done)
      break;
    if (poll (&pfd, 1, 200) == 1 && !disconnected) {
      char c;
      if (read (signal_pipe[0], &c, 1) == 1)
        debug ("signal %d: disconnecting %s", c, devname);
      disconnected = true;
      notify_systemd ("STOPPING=1\n");
      /* The kernel sends NBD_CMD_DISC on each socket; the readers end and
       * flush the chain.
       */
      if ((use_ioctl ? ioctl_detach (index) : nl_nbd_disconnect (index))
          == -1) {
        nbdkit_error ("%s: disconnect failed: %m", devname);
        status = EXIT_FAILURE;
      }
    }
  }
  if (use_ioctl)
    ioctl_wait ();
  for (i = 0; i < connections; ++i)
    if (threads[i].result == -1)
      status = EXIT_FAILURE;
  free (threads);
  remove_state (index);
  if (pidfile)
    unlink (pidfile);
  debug ("%s detached", devname);
  return status;
}

