/* blockkit: listening sockets and the accept loop. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

#include "internal.h"
#include "conn-io.h"
#include "minmax.h"
#include "sockets.h"

int tcpip_family = AF_UNSPEC;
int *listen_fds;
size_t n_listen_fds;

static void
add_listen_fd (int fd)
{
  int *p = realloc (listen_fds, (n_listen_fds + 1) * sizeof *p);

  if (p == NULL) {
    perror ("realloc");
    exit (EXIT_FAILURE);
  }
  listen_fds = p;
  listen_fds[n_listen_fds++] = fd;
}

void
bind_unix_socket (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path) {
    fprintf (stderr, "%s: -U %s: socket path too long (max %zu bytes)\n",
             program_name, path, sizeof addr.sun_path - 1);
    exit (EXIT_FAILURE);
  }
  strcpy (addr.sun_path, path);

  set_socket_label (true);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  set_socket_label (false);
  if (fd == -1) {
    perror ("socket");
    exit (EXIT_FAILURE);
  }
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == -1) {
    fprintf (stderr, "%s: cannot bind Unix socket %s: %s%s\n",
             program_name, path, strerror (errno),
             errno == EADDRINUSE ?
             " (is another server running? remove the socket if not)" : "");
    exit (EXIT_FAILURE);
  }
  if (listen (fd, SOMAXCONN) == -1) {
    perror ("listen");
    exit (EXIT_FAILURE);
  }
  add_listen_fd (fd);
  debug ("listening on Unix socket %s", path);
}

void
bind_tcpip_socket (const char *ipaddr, const char *port)
{
  struct addrinfo hints = {
    .ai_family = tcpip_family,
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_PASSIVE | AI_ADDRCONFIG,
  };
  struct addrinfo *ai, *a;
  bool bound = false;
  int err, saved_errno = 0;

  err = getaddrinfo (ipaddr, port, &hints, &ai);
  if (err) {
    fprintf (stderr, "%s: %s%s%s: %s\n", program_name,
             ipaddr ? ipaddr : "", ipaddr ? ":" : "port ", port,
             gai_strerror (err));
    exit (EXIT_FAILURE);
  }
  for (a = ai; a; a = a->ai_next) {
    int one = 1;
    int fd;

    set_socket_label (true);
    fd = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    set_socket_label (false);

    if (fd == -1)
      continue;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Keep IPv6 sockets IPv6-only so the IPv4 one can bind as well. */
    if (a->ai_family == AF_INET6)
      setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind (fd, a->ai_addr, a->ai_addrlen) == -1 ||
        listen (fd, SOMAXCONN) == -1) {
      saved_errno = errno;
      close (fd);
      continue;
    }
    add_listen_fd (fd);
    bound = true;
  }
  freeaddrinfo (ai);
  if (!bound) {
    fprintf (stderr, "%s: cannot listen on %s%s%s: %s\n", program_name,
             ipaddr ? ipaddr : "", ipaddr ? ":" : "port ", port,
             strerror (saved_errno));
    exit (EXIT_FAILURE);
  }
  debug ("listening on port %s", port);
}

/* --vsock: AF_VSOCK on PORT, any context ID (a host serving its guests,
 * or a guest serving its host).
 */
void
bind_vsock_socket (const char *port)
{
  struct sockaddr_vm addr = {
    .svm_family = AF_VSOCK,
    .svm_cid = VMADDR_CID_ANY,
  };
  unsigned p;
  int fd;

  if (nbdkit_parse_unsigned ("--vsock port (-p)", port, &p) == -1)
    exit (EXIT_FAILURE);
  addr.svm_port = p;
  set_socket_label (true);
  fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  set_socket_label (false);
  if (fd == -1) {
    if (errno == EAFNOSUPPORT)
      fprintf (stderr, "%s: --vsock: this kernel has no AF_VSOCK support "
               "(modules vsock and a transport such as "
               "vmw_vsock_virtio_transport or vsock_loopback)\n",
               program_name);
    else
      fprintf (stderr, "%s: --vsock: socket: %s\n", program_name,
               strerror (errno));
    exit (EXIT_FAILURE);
  }
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == -1 ||
      listen (fd, SOMAXCONN) == -1) {
    fprintf (stderr, "%s: --vsock: cannot listen on port %u: %s\n",
             program_name, p, strerror (errno));
    exit (EXIT_FAILURE);
  }
  add_listen_fd (fd);
  debug ("listening on AF_VSOCK port %u", p);
}

/* systemd socket activation: LISTEN_PID names us, fds start at 3. */
size_t
get_socket_activation (void)
{
  const char *s;
  long pid, n;
  size_t i;

  s = getenv ("LISTEN_PID");
  if (s == NULL || (pid = strtol (s, NULL, 10)) != getpid ())
    return 0;
  s = getenv ("LISTEN_FDS");
  if (s == NULL || (n = strtol (s, NULL, 10)) <= 0 || n > 64)
    return 0;
  for (i = 0; i < (size_t) n; ++i) {
    int fd = 3 + i;
    fcntl (fd, F_SETFD, FD_CLOEXEC);
    add_listen_fd (fd);
  }
  unsetenv ("LISTEN_PID");
  unsetenv ("LISTEN_FDS");
  unsetenv ("LISTEN_FDNAMES");
  debug ("socket activation: %ld listening sockets", n);
  return n;
}

/* Connection threads still running, so that exit can wait for them. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t count_cond = PTHREAD_COND_INITIALIZER;
static unsigned running_connections;

/* At exit, how long connections get to send the replies of requests
 * already running, and then how long before the server stops waiting
 * for a plugin call that does not return.  Together under 2 s: a
 * client must not be able to hold the server up at SIGTERM.
 */
#define QUIT_GRACE_MS 800
#define QUIT_ABANDON_MS 900

/* After accept fails for want of descriptors or memory, the listening
 * sockets are left alone this long (doubling up to the maximum while it
 * goes on), instead of waking poll again at once and spinning.
 */
#define ACCEPT_PAUSE_MIN_MS 50u
#define ACCEPT_PAUSE_MAX_MS 1000u

static void *
connection_thread (void *arg)
{
  int fd = (int) (intptr_t) arg;

  handle_single_connection (fd, fd);

  pthread_mutex_lock (&count_lock);
  running_connections--;
  pthread_cond_broadcast (&count_cond);
  pthread_mutex_unlock (&count_lock);
  return NULL;
}

/* True for the accept errors that mean "not now": the process or system
 * is out of descriptors or memory, which closing connections cures.
 */
static bool
accept_exhausted (int err)
{
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Accepts one connection and starts its thread.  Returns 0, or the errno
 * of an accept that failed for want of resources.
 */
static int
accept_one (int listen_fd)
{
  pthread_attr_t attr;
  pthread_t thread;
  int fd, err, one = 1;

  fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd == -1) {
    if (accept_exhausted (errno))
      return errno;
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      nbdkit_error ("accept: %m");
    return 0;
  }
  /* Replies are written whole; never hold back a small one.  Both calls
   * fail harmlessly on a Unix socket.
   */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (keepalive_option)
    setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);

  pthread_mutex_lock (&count_lock);
  running_connections++;
  pthread_mutex_unlock (&count_lock);

  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  err = pthread_create (&thread, &attr, connection_thread,
                        (void *) (intptr_t) fd);
  pthread_attr_destroy (&attr);
  if (err) {
    errno = err;
    nbdkit_error ("pthread_create: %m");
    close (fd);
    pthread_mutex_lock (&count_lock);
    running_connections--;
    pthread_mutex_unlock (&count_lock);
  }
  return 0;
}

/* Waits up to MS milliseconds for every connection thread to end. */
static bool
wait_connections (unsigned ms)
{
  struct timespec ts;
  bool done;

  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long) (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock (&count_lock);
  while (running_connections > 0 &&
         pthread_cond_timedwait (&count_cond, &count_lock, &ts) == 0)
    ;
  done = running_connections == 0;
  pthread_mutex_unlock (&count_lock);
  return done;
}

bool
accept_incoming_connections (void)
{
  struct pollfd *fds, *quit_pollfd;
  unsigned pause_ms = 0, next_pause_ms = ACCEPT_PAUSE_MIN_MS;
  bool exhausted = false;
  size_t i;

  fds = calloc (n_listen_fds + 1, sizeof *fds);
  if (fds == NULL) {
    perror ("calloc");
    exit (EXIT_FAILURE);
  }
  for (i = 0; i < n_listen_fds; ++i) {
    fds[i].fd = listen_fds[i];
    fds[i].events = POLLIN;
  }
  quit_pollfd = &fds[n_listen_fds];
  quit_pollfd->fd = quit_fd;
  quit_pollfd->events = POLLIN;

  while (!quit) {
    int r;

    /* While pausing, poll only the quit pipe. */
    if (pause_ms > 0)
      r = poll (quit_pollfd, 1, pause_ms);
    else
      r = poll (fds, n_listen_fds + 1, -1);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("poll: %m");
      break;
    }
    if (quit_pollfd->revents)
      break;
    if (pause_ms > 0) {
      pause_ms = 0;
      continue;
    }
    for (i = 0; i < n_listen_fds; ++i) {
      int err;

      if (!(fds[i].revents & POLLIN))
        continue;
      err = accept_one (fds[i].fd);
      if (err) {
        /* Logged once per episode, not once per attempt. */
        if (!exhausted)
          nbdkit_error ("accept: %s: not accepting new connections "
                        "until some close", strerror (err));
        exhausted = true;
        pause_ms = next_pause_ms;
        next_pause_ms = MIN (next_pause_ms * 2, ACCEPT_PAUSE_MAX_MS);
        break;
      }
      if (exhausted)
        nbdkit_error ("accept: accepting new connections again");
      exhausted = false;
      next_pause_ms = ACCEPT_PAUSE_MIN_MS;
    }
  }
  free (fds);

  for (i = 0; i < n_listen_fds; ++i)
    close (listen_fds[i]);

  /* Connections notice quit; wait until they have closed their contexts,
   * so that unloading the plugin is safe.  Requests already running may
   * finish and be answered; queued ones are dropped (transmission.c).
   */
  shutdown_all_connections (SHUT_RD);
  if (wait_connections (QUIT_GRACE_MS))
    return true;
  shutdown_all_connections (SHUT_RDWR);
  if (wait_connections (QUIT_ABANDON_MS))
    return true;
  nbdkit_error ("%u connections still busy in the plugin at exit: "
                "not waiting for them", running_connections);
  return false;
}
