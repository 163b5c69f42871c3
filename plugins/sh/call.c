/* blockkit: running a script method for the sh and eval plugins.
 *
 * Every callback runs a fresh process, "SCRIPT METHOD ARGS...", with a
 * pipe on each of stdin, stdout and stderr.  The three pipes are served
 * together by one poll loop, so a script may print any amount on stdout
 * or stderr before, while or without reading its stdin and nothing
 * deadlocks: a write the script does not read yet waits for POLLOUT
 * while its output keeps being drained.  There is no timeout, as there
 * is none in the established plugin: a script that never exits (or
 * leaves a background process holding its stdout) holds its request.
 *
 * The exit status is the answer (0 ok, 1 error, 2 missing, 3 false);
 * on an error, stderr may start with an errno name ("ENOSPC Out of
 * space"), which becomes the request's error.  This file also owns the
 * per-server temporary directory passed to scripts as $tmpdir.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "call.h"

extern char **environ;

char *call_tmpdir;
static pid_t tmpdir_owner;          /* the process that made it */

/* How much of stderr is kept for the error message: the errno name is at
 * its start, and a script flooding stderr must not grow the server.
 */
#define STDERR_KEEP (64 * 1024)

/* A text answer (a size, a list of exports or extents) larger than this
 * is an error rather than a way to exhaust the server's memory.
 */
#define STDOUT_DEFAULT_MAX (64 * 1024 * 1024)

/* ---------------------------------------------------------------- */
/* $tmpdir */

int
call_load (void)
{
  const char *base = getenv ("TMPDIR");
  char *t;

  if (base == NULL || *base == '\0')
    base = "/tmp";
  if (asprintf (&t, "%s/blockkit-script.XXXXXX", base) == -1) {
    nbdkit_error ("asprintf: %m");
    return -1;
  }
  if (mkdtemp (t) == NULL) {
    nbdkit_error ("mkdtemp: %s: %m", t);
    free (t);
    return -1;
  }
  /* Set once, before any thread exists, so every script inherits it. */
  if (setenv ("tmpdir", t, 1) == -1) {
    nbdkit_error ("setenv: tmpdir: %m");
    rmdir (t);
    free (t);
    return -1;
  }
  call_tmpdir = t;
  tmpdir_owner = getpid ();
  /* The server may exit without unloading (--dump-plugin does): remove
   * $tmpdir then too.  A handler registered by a shared object also runs
   * when it is unloaded, so it never outlives this code; it does nothing
   * after call_unload, or in a forked child that exits.
   */
  atexit (call_unload);
  return 0;
}

static int
remove_one (const char *path, const struct stat *sb, int type,
            struct FTW *ftw)
{
  /* Depth first, so directories are empty by the time they are seen. */
  if (remove (path) == -1 && errno != ENOENT)
    nbdkit_debug ("remove: %s: %m", path);
  return 0;
}

void
call_unload (void)
{
  if (call_tmpdir && getpid () == tmpdir_owner) {
    /* FTW_PHYS: a symlink a script left there is removed, never followed. */
    nftw (call_tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free (call_tmpdir);
    call_tmpdir = NULL;
  }
}

/* ---------------------------------------------------------------- */
/* Messages and errno names */

static const struct { const char *name; int err; } errno_names[] = {
  { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EINTR", EINTR },
  { "EIO", EIO }, { "ENXIO", ENXIO }, { "E2BIG", E2BIG },
  { "EBADF", EBADF }, { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM },
  { "EACCES", EACCES }, { "EFAULT", EFAULT }, { "EBUSY", EBUSY },
  { "EEXIST", EEXIST }, { "ENODEV", ENODEV }, { "ENOTDIR", ENOTDIR },
  { "EISDIR", EISDIR }, { "EINVAL", EINVAL }, { "ENFILE", ENFILE },
  { "EMFILE", EMFILE }, { "EFBIG", EFBIG }, { "ENOSPC", ENOSPC },
  { "ESPIPE", ESPIPE }, { "EROFS", EROFS }, { "EPIPE", EPIPE },
  { "ERANGE", ERANGE }, { "EDQUOT", EDQUOT }, { "ENOSYS", ENOSYS },
  { "ENOTSUP", ENOTSUP }, { "EOPNOTSUPP", EOPNOTSUPP },
  { "EOVERFLOW", EOVERFLOW }, { "ESHUTDOWN", ESHUTDOWN },
  { "ETIMEDOUT", ETIMEDOUT }, { "ECONNRESET", ECONNRESET },
  { "ENOTCONN", ENOTCONN }, { "EWOULDBLOCK", EWOULDBLOCK },
  { "EDEADLK", EDEADLK }, { "ENOTEMPTY", ENOTEMPTY },
  { "ENAMETOOLONG", ENAMETOOLONG }, { "ELOOP", ELOOP },
  { "ECANCELED", ECANCELED }, { "EHOSTUNREACH", EHOSTUNREACH },
  { "ECONNREFUSED", ECONNREFUSED }, { "ENOLINK", ENOLINK },
  { "EBADMSG", EBADMSG }, { "ENOMEDIUM", ENOMEDIUM },
};

/* The errno named by the first word of S (matched without regard to
 * case, as the established plugin does), or 0.  *LEN is the word's.
 */
static int
errno_of_word (const char *s, size_t *len)
{
  size_t n = 0, i;

  while (s[n] && !isspace ((unsigned char) s[n]))
    n++;
  for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++) {
    if (strlen (errno_names[i].name) == n &&
        strncasecmp (s, errno_names[i].name, n) == 0) {
      *len = n;
      return errno_names[i].err;
    }
  }
  return 0;
}

void
call_chomp (char *s)
{
  size_t n = strlen (s);

  /* One newline only, as established: "echo" adds exactly one. */
  if (n > 0 && s[n-1] == '\n')
    s[n-1] = '\0';
}

/* The script whose messages these are: set per thread by call_run so that
 * errors about a method's answer name the program that gave it.
 */
static __thread const char *current_script;

void
call_error (const char *method, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) == -1)
    msg = NULL;
  va_end (ap);
  nbdkit_error ("%s: %s", current_script ? current_script : method,
                msg ? msg : fmt);
  free (msg);
}

/* A script exited with an error: its stderr says which and why. */
static void
report_script_error (char *ebuf)
{
  char *p = ebuf;
  size_t n;
  int err;

  /* Trailing whitespace (the final newline at least) is not part of it. */
  n = strlen (ebuf);
  while (n > 0 && isspace ((unsigned char) ebuf[n-1]))
    ebuf[--n] = '\0';

  err = errno_of_word (p, &n);
  if (err) {
    p += n;
    while (isspace ((unsigned char) *p))
      p++;
  }

  if (err == 0 && *p == '\0')
    call_error ("", "script exited with error, "
                "but did not print an error message on stderr");
  else if (*p == '\0')
    call_error ("", "%s", ebuf);     /* only the errno name */
  else
    call_error ("", "%s", p);
  nbdkit_set_error (err ? err : EIO);
}

/* ---------------------------------------------------------------- */
/* Running it */

/* Start the program with FDS[0..2] as its stdin, stdout and stderr. */
static int
spawn (const char *prog, bool via_sh, const char *method,
       const char *const *args, const int fds[3], pid_t *pid)
{
  size_t nargs = 0, i, j;
  const char **argv;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t mask, defaults;
  int r;
  static const int reset[] = {
    SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2,
    SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ,
  };

  while (args && args[nargs])
    nargs++;
  argv = calloc (nargs + 4, sizeof *argv);
  if (argv == NULL)
    return errno;

  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, fds[0], 0);
  posix_spawn_file_actions_adddup2 (&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2 (&fa, fds[2], 2);
#if defined (__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  /* Everything else stays with the server: our pipes are close-on-exec
   * already, but a plugin or library may have opened an fd without it,
   * and a client socket held open by a script would outlive the client.
   */
  posix_spawn_file_actions_addclosefrom_np (&fa, 3);
#endif

  /* The server ignores SIGPIPE and blocks signals in its threads; a
   * script must start with the defaults ("yes | head" must end).
   */
  posix_spawnattr_init (&attr);
  sigemptyset (&mask);
  sigemptyset (&defaults);
  for (i = 0; i < sizeof reset / sizeof reset[0]; i++)
    sigaddset (&defaults, reset[i]);
  posix_spawnattr_setsigmask (&attr, &mask);
  posix_spawnattr_setsigdefault (&attr, &defaults);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK |
                            POSIX_SPAWN_SETSIGDEF);

  for (;;) {
    j = 0;
    if (via_sh)
      argv[j++] = "/bin/sh";
    argv[j++] = prog;
    argv[j++] = method;
    for (i = 0; i < nargs; i++)
      argv[j++] = args[i];
    argv[j] = NULL;
    r = posix_spawn (pid, argv[0], &fa, &attr, (char *const *) argv,
                     environ);
    /* No "#!" line: run it with the shell, as execvp and the established
     * plugin do (an inline script needs no shebang).
     */
    if (r == ENOEXEC && !via_sh) {
      via_sh = true;
      continue;
    }
    break;
  }

  posix_spawnattr_destroy (&attr);
  posix_spawn_file_actions_destroy (&fa);
  free (argv);
  return r;
}

/* A pipe being read: the first MAX bytes are kept, the rest counted. */
struct sink {
  char *data;
  size_t len, cap, max, total;
};

/* Read what is there on FD into S.  Returns false at EOF or on an error,
 * when the fd should be closed.
 */
static bool
drain (int fd, struct sink *s)
{
  char scratch[16384];
  ssize_t r;

  if (s->len < s->max) {
    /* Grow geometrically, keeping room for the terminating NUL. */
    if (s->cap - s->len <= 1) {
      size_t cap = s->cap ? s->cap * 2 : 4096;
      char *p;

      if (cap > s->max + 1)
        cap = s->max + 1;
      p = realloc (s->data, cap);
      if (p == NULL) {
        /* Keep what fits; the missing bytes show as a short answer. */
        s->max = s->len;
        return drain (fd, s);
      }
      s->data = p;
      s->cap = cap;
    }
    r = read (fd, s->data + s->len, s->cap - 1 - s->len);
    if (r > 0)
      s->len += r;
  }
  else
    r = read (fd, scratch, sizeof scratch);

  if (r > 0) {
    s->total += r;
    return true;
  }
  if (r == -1 && (errno == EAGAIN || errno == EINTR))
    return true;
  return false;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0) {
    close (*fd);
    *fd = -1;
  }
}

static int
status_of (int wstatus)
{
  if (WIFEXITED (wstatus)) {
    switch (WEXITSTATUS (wstatus)) {
    case 0: return CALL_OK;
    case 2: return CALL_MISSING;
    case 3: return CALL_FALSE;
    default: return CALL_ERROR;   /* 1, the reserved 4-7, and 8-255 */
    }
  }
  return CALL_ERROR;
}

int
call_run (const char *method, const char *const *args,
          const void *in, size_t inlen, struct call_output *out)
{
  bool via_sh = false;
  const char *prog = script_for_method (method, &via_sh);
  int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
  int err_pipe[2] = { -1, -1 };
  int child_fds[3], wfd, rfd, efd;
  struct sink so = { 0 }, se = { 0 };
  size_t done = 0;
  pid_t pid;
  int r, wstatus, status;

  if (prog == NULL)
    return CALL_MISSING;
  current_script = prog;

  so.max = out && out->max ? out->max : STDOUT_DEFAULT_MAX;
  se.max = STDERR_KEEP;

  if (pipe2 (in_pipe, O_CLOEXEC) == -1 ||
      pipe2 (out_pipe, O_CLOEXEC) == -1 ||
      pipe2 (err_pipe, O_CLOEXEC) == -1) {
    call_error (method, "pipe: %m");
    goto fail;
  }
  child_fds[0] = in_pipe[0];
  child_fds[1] = out_pipe[1];
  child_fds[2] = err_pipe[1];
  r = spawn (prog, via_sh, method, args, child_fds, &pid);
  if (r != 0) {
    errno = r;
    call_error (method, "%s: %m", prog);
    goto fail;
  }
  close_fd (&in_pipe[0]);
  close_fd (&out_pipe[1]);
  close_fd (&err_pipe[1]);
  wfd = in_pipe[1];
  rfd = out_pipe[0];
  efd = err_pipe[0];
  in_pipe[1] = out_pipe[0] = err_pipe[0] = -1;  /* owned by the loop now */
  /* Never block in read or write: poll decides which pipe moves. */
  fcntl (wfd, F_SETFL, O_NONBLOCK);
  fcntl (rfd, F_SETFL, O_NONBLOCK);
  fcntl (efd, F_SETFL, O_NONBLOCK);
  if (in == NULL || inlen == 0)
    close_fd (&wfd);            /* the script sees EOF at once */

  while (wfd >= 0 || rfd >= 0 || efd >= 0) {
    struct pollfd pfd[3];
    int n = 0, iw = -1, ir = -1, ie = -1;

    if (wfd >= 0) { iw = n; pfd[n].fd = wfd; pfd[n++].events = POLLOUT; }
    if (rfd >= 0) { ir = n; pfd[n].fd = rfd; pfd[n++].events = POLLIN; }
    if (efd >= 0) { ie = n; pfd[n].fd = efd; pfd[n++].events = POLLIN; }
    if (poll (pfd, n, -1) == -1) {
      if (errno == EINTR)
        continue;
      /* Cannot happen with valid fds; do not spin. */
      nbdkit_debug ("%s: poll: %m", prog);
      close_fd (&wfd);
      close_fd (&rfd);
      close_fd (&efd);
      break;
    }
    if (iw >= 0 && pfd[iw].revents) {
      size_t n1 = inlen - done;
      ssize_t w;

      if (n1 > 65536)
        n1 = 65536;
      w = write (wfd, (const char *) in + done, n1);
      if (w > 0)
        done += w;
      /* EPIPE: the script exited or closed stdin without reading all of
       * it, which is its business; its exit status says how it went.
       */
      if ((w == -1 && errno != EAGAIN && errno != EINTR) || done == inlen)
        close_fd (&wfd);
    }
    if (ir >= 0 && pfd[ir].revents && !drain (rfd, &so))
      close_fd (&rfd);
    if (ie >= 0 && pfd[ie].revents && !drain (efd, &se))
      close_fd (&efd);
  }

  while (waitpid (pid, &wstatus, 0) == -1) {
    if (errno != EINTR) {
      call_error (method, "waitpid: %m");
      goto fail;
    }
  }

  if (se.data)
    se.data[se.len] = '\0';
  status = status_of (wstatus);
  if (WIFSIGNALED (wstatus)) {
    call_error (method, "script terminated by signal %d",
                WTERMSIG (wstatus));
    nbdkit_set_error (EIO);
  }
  else if (status == CALL_ERROR)
    report_script_error (se.data ? se.data : (char *) "");
  free (se.data);

  if (out) {
    if (so.data == NULL)
      so.data = calloc (1, 1);
    if (so.data == NULL) {
      call_error (method, "calloc: %m");
      nbdkit_set_error (ENOMEM);
      return CALL_ERROR;
    }
    so.data[so.len] = '\0';
    out->data = so.data;
    out->len = so.len;
    out->total = so.total;
  }
  else
    free (so.data);
  return status;

 fail:
  close_fd (&in_pipe[0]); close_fd (&in_pipe[1]);
  close_fd (&out_pipe[0]); close_fd (&out_pipe[1]);
  close_fd (&err_pipe[0]); close_fd (&err_pipe[1]);
  free (so.data);
  free (se.data);
  nbdkit_set_error (EIO);
  return CALL_ERROR;
}

void
call_output_free (struct call_output *out)
{
  free (out->data);
  out->data = NULL;
  out->len = out->total = 0;
}
