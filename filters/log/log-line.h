/* blockkit log filter: log entries, their text and where they go.
 *
 * An entry is what the filter has to say about one event: an action
 * ("Read", "Connect", ...), its type (ENTER when a call starts, LEAVE
 * when it returns, PRINT for a one-off event), the connection and
 * request id it belongs to, and its arguments as shell-style
 * assignments ("offset=0x0 count=0x200 fua=0").  log_entry turns it into
 * a log file line and/or a run of the log script, in the formats
 * nbdkit-log-filter(1) established, so tools written for that filter's
 * output parse ours.
 */
#ifndef BLOCKKIT_LOG_LINE_H
#define BLOCKKIT_LOG_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable string.  Entry arguments have no useful bound (an extents
 * list can have thousands of elements), so they are built here.  On
 * allocation failure the string keeps what it had and FAILED is set; the
 * entry is then logged cut short rather than not at all.
 */
struct log_str {
  char *p;
  size_t len, cap;
  bool failed;
};
#define LOG_STR_INIT { NULL, 0, 0, false }

extern void log_str_add (struct log_str *s, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Appends STR quoted for a POSIX shell: as is if it is non-empty and made
 * only of characters no shell treats specially, otherwise in double
 * quotes with ", \, $ and ` escaped.
 */
extern void log_str_shell_quoted (struct log_str *s, const char *str);
/* The text (always a valid C string, "" if nothing was added). */
extern const char *log_str_get (const struct log_str *s);
extern void log_str_free (struct log_str *s);

enum log_type { LOG_ENTER, LOG_LEAVE, LOG_PRINT };

/* Where entries go: a file descriptor (-1 for none), a script (NULL for
 * none).  With neither, entries go to the server's debug output.  Called
 * once before any entry.
 */
extern void log_output_init (int fd, const char *script);

/* Logs one entry.  CONNECTION 0 means not tied to a connection (Ready,
 * Preconnect, ...); ID 0 means the entry has no id (PRINT entries).
 */
extern void log_entry (uint64_t connection, enum log_type type,
                       const char *act, uint64_t id, const char *args);

/* "EIO", "ENOSPC", ... as nbdkit-log-filter(1) writes them after
 * error=; the number for an errno this table does not know.
 */
extern const char *log_errno_name (int err, char *buf, size_t len);

#endif /* BLOCKKIT_LOG_LINE_H */
