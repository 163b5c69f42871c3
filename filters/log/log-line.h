/* blockkit log filter: building and writing one log line. */
#ifndef BLOCKKIT_LOG_LINE_H
#define BLOCKKIT_LOG_LINE_H

#include <stddef.h>
#include <stdint.h>

/* Long enough for any line this filter writes (an export name is the
 * only unbounded part, and it is cut short rather than overflowing).
 */
struct log_line {
  char buf[1024];
  size_t len;
};

/* Where log_line_write writes (called once, before any line). */
extern void log_line_init (int fd);

/* Starts a line with the time and "connection=C ". */
extern void log_line_start (struct log_line *l, uint64_t connection);
extern void log_line_add (struct log_line *l, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Appends STR in double quotes, escaping quotes, backslashes and
 * unprintable bytes, so a line is always one line.
 */
extern void log_line_quoted (struct log_line *l, const char *str);
/* Ends the line and writes it with one write(2). */
extern void log_line_write (struct log_line *l);

/* "EIO", "ENOSPC", ... or the number if unknown (in a static buffer per
 * thread).
 */
extern const char *log_errno_name (int err);
/* The request flags as "fua,may_trim,fast_zero,req_one" or "none". */
extern const char *log_flags (char *buf, size_t len, uint32_t flags);

#endif /* BLOCKKIT_LOG_LINE_H */
