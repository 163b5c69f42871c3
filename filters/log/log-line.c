/* blockkit log filter: building and writing one log line.
 *
 * Each line is assembled in a stack buffer and written with a single
 * write(2) while holding a lock: lines from parallel requests neither
 * interleave nor reorder within a line, and with no stdio buffering a
 * line is in the file as soon as the request it describes is made.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "log-line.h"

static int fd = -1;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

void
log_line_init (int new_fd)
{
  fd = new_fd;
}

void
log_line_add (struct log_line *l, const char *fmt, ...)
{
  va_list ap;
  size_t room = sizeof l->buf - l->len;
  int n;

  /* One byte is always kept back for the newline. */
  if (room <= 1)
    return;
  va_start (ap, fmt);
  n = vsnprintf (l->buf + l->len, room - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  l->len += (size_t) n < room - 2 ? (size_t) n : room - 2;
}

void
log_line_start (struct log_line *l, uint64_t connection)
{
  struct timespec ts;
  struct tm tm;
  char t[32];

  l->len = 0;
  clock_gettime (CLOCK_REALTIME, &ts);
  localtime_r (&ts.tv_sec, &tm);
  strftime (t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
  log_line_add (l, "%s.%06ld connection=%" PRIu64 " ",
                t, ts.tv_nsec / 1000, connection);
}

void
log_line_quoted (struct log_line *l, const char *str)
{
  log_line_add (l, "\"");
  for (; *str; str++) {
    unsigned char c = *str;
    if (c == '"' || c == '\\')
      log_line_add (l, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      log_line_add (l, "\\x%02x", c);
    else
      log_line_add (l, "%c", c);
  }
  log_line_add (l, "\"");
}

void
log_line_write (struct log_line *l)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&write_lock);
  size_t done = 0;

  l->buf[l->len++] = '\n';
  if (fd < 0)
    return;
  while (done < l->len) {
    ssize_t r = write (fd, l->buf + done, l->len - done);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_debug ("log: write: %m");
      return;
    }
    done += r;
  }
}

const char *
log_errno_name (int err)
{
  static __thread char unknown[16];

  switch (err) {
  case 0: return "OK";
  case EPERM: return "EPERM";
  case EIO: return "EIO";
  case ENOMEM: return "ENOMEM";
  case EINVAL: return "EINVAL";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case EOVERFLOW: return "EOVERFLOW";
  case ENOTSUP: return "ENOTSUP";
  case ESHUTDOWN: return "ESHUTDOWN";
  case EFBIG: return "EFBIG";
  case EAGAIN: return "EAGAIN";
  default:
    snprintf (unknown, sizeof unknown, "errno %d", err);
    return unknown;
  }
}

const char *
log_flags (char *buf, size_t len, uint32_t flags)
{
  static const struct { uint32_t flag; const char *name; } names[] = {
    { NBDKIT_FLAG_FUA, "fua" },
    { NBDKIT_FLAG_MAY_TRIM, "may_trim" },
    { NBDKIT_FLAG_FAST_ZERO, "fast_zero" },
    { NBDKIT_FLAG_REQ_ONE, "req_one" },
  };
  size_t i, used = 0;

  buf[0] = '\0';
  for (i = 0; i < sizeof names / sizeof names[0]; ++i) {
    if (flags & names[i].flag) {
      int n = snprintf (buf + used, len - used, "%s%s",
                        used ? "," : "", names[i].name);
      if (n < 0 || (size_t) n >= len - used)
        break;
      used += n;
    }
  }
  if (used == 0)
    snprintf (buf, len, "none");
  return buf;
}
