/* blockkit log filter: log entries, their text and where they go.
 *
 * The formats are the ones nbdkit-log-filter(1) established, since
 * scripts parse them:
 *
 *   file line:  TIME [connection=C ][...]ACT[ id=I][ ARGS][ ...]
 *   log script: act=ACT\n[connection=C\n]type=TYPE\n[id=I\n]ARGS\nSCRIPT
 *
 * The file line is written with a single write(2) under a lock, so lines
 * of parallel requests never mix and nothing sits in a buffer.  The
 * script text is run by bash (as "sh", i.e. in POSIX mode), because the
 * extents and exports lists are bash array assignments; runs are one at
 * a time, so scripts that append to a common file need no locking of
 * their own.  With neither a file nor a script the line goes to
 * nbdkit_debug, visible when the server runs with -v.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "log-line.h"

extern char **environ;

static int out_fd = -1;
static const char *script;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t script_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
log_str_reserve (struct log_str *s, size_t more)
{
  size_t want;
  char *p;

  if (s->failed)
    return false;
  if (s->len + more + 1 <= s->cap)
    return true;
  want = s->cap ? s->cap : 256;
  while (want < s->len + more + 1)
    want *= 2;
  p = realloc (s->p, want);
  if (p == NULL) {
    s->failed = true;
    return false;
  }
  s->p = p;
  s->cap = want;
  return true;
}

void
log_str_add (struct log_str *s, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0 || !log_str_reserve (s, n))
    return;
  va_start (ap, fmt);
  vsnprintf (s->p + s->len, n + 1, fmt, ap);
  va_end (ap);
  s->len += n;
}

static void
log_str_addc (struct log_str *s, char c)
{
  if (!log_str_reserve (s, 1))
    return;
  s->p[s->len++] = c;
  s->p[s->len] = '\0';
}

/* The characters that never need quoting, as nbdkit's logs have them:
 * an export called a,b/c:d=e.f_g-h is written bare.
 */
static bool
shell_safe (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') || strchr ("-,/:=._", c) != NULL;
}

void
log_str_shell_quoted (struct log_str *s, const char *str)
{
  const char *p;
  bool safe = *str != '\0';

  for (p = str; *p && safe; p++)
    safe = shell_safe (*p);
  if (safe) {
    log_str_add (s, "%s", str);
    return;
  }
  /* Inside double quotes only these four are special to the shell.
   * Other bytes, newlines included, are kept as they are: the value
   * must read back exactly when the script assigns it.
   */
  log_str_addc (s, '"');
  for (p = str; *p; p++) {
    if (strchr ("\"\\$`", *p) != NULL)
      log_str_addc (s, '\\');
    log_str_addc (s, *p);
  }
  log_str_addc (s, '"');
}

const char *
log_str_get (const struct log_str *s)
{
  return s->p ? s->p : "";
}

void
log_str_free (struct log_str *s)
{
  free (s->p);
  s->p = NULL;
  s->len = s->cap = 0;
}

void
log_output_init (int fd, const char *s)
{
  out_fd = fd;
  script = s;
}

static void
write_line (const char *buf, size_t len)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&write_lock);
  size_t done = 0;

  while (done < len) {
    ssize_t r = write (out_fd, buf + done, len - done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_debug ("log: write: %m");
      return;
    }
    done += r;
  }
}

/* Runs the script with the entry's variables assigned before it, and
 * waits for it: the script's exit status is ignored (it cannot change
 * the request), but it has finished before the request goes on, so what
 * it sees is in step with the request.
 */
static void
run_script (const char *text)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&script_lock);
  char *argv[] = { (char *) "sh", (char *) "-c", (char *) text, NULL };
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int r, status;

  if (posix_spawn_file_actions_init (&fa) != 0)
    return;
  /* The client's socket may be our stdin (blockkit -s): the script must
   * not read from it.
   */
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  r = posix_spawnp (&pid, "bash", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  if (r != 0) {
    errno = r;
    nbdkit_debug ("log: logscript: cannot run bash: %m");
    return;
  }
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
}

void
log_entry (uint64_t connection, enum log_type type, const char *act,
           uint64_t id, const char *args)
{
  struct timespec ts;
  struct tm tm;
  char t[32];

  if (out_fd >= 0 || script == NULL) {
    struct log_str line = LOG_STR_INIT;

    clock_gettime (CLOCK_REALTIME, &ts);
    localtime_r (&ts.tv_sec, &tm);
    strftime (t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
    log_str_add (&line, "%s.%06ld ", t, ts.tv_nsec / 1000);
    if (connection)
      log_str_add (&line, "connection=%" PRIu64 " ", connection);
    log_str_add (&line, "%s%s", type == LOG_LEAVE ? "..." : "", act);
    if (id)
      log_str_add (&line, " id=%" PRIu64, id);
    if (*args)
      log_str_add (&line, " %s", args);
    if (type == LOG_ENTER)
      log_str_add (&line, " ...");
    if (out_fd >= 0) {
      log_str_add (&line, "\n");
      write_line (log_str_get (&line), line.len);
    }
    else
      nbdkit_debug ("%s", log_str_get (&line));
    log_str_free (&line);
  }

  if (script) {
    struct log_str text = LOG_STR_INIT;
    static const char *const types[] = { "ENTER", "LEAVE", "PRINT" };

    log_str_add (&text, "act=%s\n", act);
    if (connection)
      log_str_add (&text, "connection=%" PRIu64 "\n", connection);
    log_str_add (&text, "type=%s\n", types[type]);
    if (id)
      log_str_add (&text, "id=%" PRIu64 "\n", id);
    log_str_add (&text, "%s\n%s", args, script);
    if (!text.failed)
      run_script (log_str_get (&text));
    log_str_free (&text);
  }
}

const char *
log_errno_name (int err, char *buf, size_t len)
{
  static const struct { int err; const char *name; } names[] = {
    { EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EINTR, "EINTR" },
    { EIO, "EIO" }, { ENXIO, "ENXIO" }, { EBADF, "EBADF" },
    { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
    { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" },
    { ENODEV, "ENODEV" }, { EINVAL, "EINVAL" }, { EFBIG, "EFBIG" },
    { ENOSPC, "ENOSPC" }, { ESPIPE, "ESPIPE" }, { EROFS, "EROFS" },
    { EPIPE, "EPIPE" }, { ERANGE, "ERANGE" }, { ENOSYS, "ENOSYS" },
    { EOVERFLOW, "EOVERFLOW" }, { ENOTSUP, "ENOTSUP" },
    { ECONNRESET, "ECONNRESET" }, { ENOTCONN, "ENOTCONN" },
    { ESHUTDOWN, "ESHUTDOWN" }, { ETIMEDOUT, "ETIMEDOUT" },
    { ECONNREFUSED, "ECONNREFUSED" }, { EHOSTUNREACH, "EHOSTUNREACH" },
    { EDQUOT, "EDQUOT" }, { ECANCELED, "ECANCELED" },
  };
  size_t i;

  for (i = 0; i < sizeof names / sizeof names[0]; ++i)
    if (names[i].err == err)
      return names[i].name;
  snprintf (buf, len, "%d", err);
  return buf;
}
