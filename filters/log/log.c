/* blockkit: the log filter.
 *
 * Writes one line per request as it passes down, one per reply as it
 * comes back, and a line when each connection (context) starts and ends.
 * Lines are built in memory and written with a single write(2) under a
 * lock, so lines from parallel requests never interleave, and nothing
 * is buffered: a test or a person tailing the file sees each line as
 * soon as the request it describes is made.
 *
 * Line format (see blockkit-log-filter(1)):
 *   TIME connection=C Connect export="NAME" readonly=R tls=T size=...
 *   TIME connection=C Read id=I offset=0x... count=0x... flags=...
 *   TIME connection=C ...Read id=I return=0 (OK) | return=-1 (EIO)
 *   TIME connection=C Disconnect transactions=N
 */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "log-line.h"
#include "filter-handle.h"

static char *logfile;
static int logfd = -1;
static bool logfd_given;        /* logfd=FD: not ours to close */
static bool logappend;

/* Connection numbers, one per context this filter opens. */
static uint64_t next_connection = 1;

struct handle {
  uint64_t connection;
  uint64_t next_id;             /* request ids, per connection */
  char *exportname;
  bool readonly, tls;
};

static int
log_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
            const char *key, const char *value)
{
  if (strcmp (key, "logfile") == 0) {
    free (logfile);
    logfile = nbdkit_absolute_path (value);
    return logfile ? 0 : -1;
  }
  if (strcmp (key, "logfd") == 0) {
    if (nbdkit_parse_int ("logfd", value, &logfd) == -1)
      return -1;
    if (logfd < 0 || fcntl (logfd, F_GETFL) == -1) {
      nbdkit_error ("logfd: %s is not an open file descriptor", value);
      return -1;
    }
    logfd_given = true;
    return 0;
  }
  if (strcmp (key, "logappend") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1) {
      nbdkit_error ("logappend: expected a boolean, got \"%s\"", value);
      return -1;
    }
    logappend = r;
    return 0;
  }
  return next (nxdata, key, value);
}

static int
log_config_complete (nbdkit_next_config_complete *next,
                     nbdkit_backend *nxdata)
{
  if (logfile == NULL && !logfd_given) {
    nbdkit_error ("the log filter needs logfile=PATH or logfd=FD");
    return -1;
  }
  if (logfile && logfd_given) {
    nbdkit_error ("logfile and logfd cannot both be given");
    return -1;
  }
  return next (nxdata);
}

#define log_config_help \
  "logfile=PATH          The file to log to (or logfd=FD).\n" \
  "logfd=FD              An open file descriptor to log to.\n" \
  "logappend=BOOL        Append to logfile instead of truncating it."

/* Opened here rather than in .config_complete so that the file is
 * created after the server has daemonized (and its permissions and
 * working directory are final).
 */
static int
log_get_ready (int thread_model)
{
  if (logfile) {
    logfd = open (logfile, O_WRONLY | O_CREAT | O_CLOEXEC |
                  (logappend ? O_APPEND : O_TRUNC), 0644);
    if (logfd == -1) {
      nbdkit_error ("logfile: %s: %m", logfile);
      return -1;
    }
  }
  log_line_init (logfd);
  return 0;
}

static void
log_unload (void)
{
  if (logfile && logfd >= 0)
    close (logfd);
  free (logfile);
}

static void *
log_open (nbdkit_next_open *next, nbdkit_context *context,
          int readonly, const char *exportname, int is_tls)
{
  struct handle *h = filter_handle_open (next, context, readonly,
                                         exportname, sizeof *h);

  if (h == NULL)
    return NULL;
  h->exportname = strdup (exportname);
  if (h->exportname == NULL) {
    nbdkit_error ("strdup: %m");
    free (h);
    return NULL;
  }
  h->connection = __atomic_fetch_add (&next_connection, 1, __ATOMIC_SEQ_CST);
  h->readonly = readonly;
  h->tls = is_tls;
  return h;
}

/* The Connect line: what the client will be offered, asked of the layer
 * below now that it is prepared.
 */
static int
log_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  struct log_line l;

  log_line_start (&l, h->connection);
  log_line_add (&l, "Connect export=");
  log_line_quoted (&l, h->exportname);
  log_line_add (&l, " readonly=%d tls=%d size=0x%" PRIx64
                " write=%d flush=%d rotational=%d trim=%d zero=%d"
                " fast_zero=%d fua=%d extents=%d cache=%d multi_conn=%d",
                h->readonly, h->tls, (uint64_t) next->get_size (next),
                next->can_write (next), next->can_flush (next),
                next->is_rotational (next), next->can_trim (next),
                next->can_zero (next), next->can_fast_zero (next),
                next->can_fua (next), next->can_extents (next),
                next->can_cache (next), next->can_multi_conn (next));
  log_line_write (&l);
  return 0;
}

static void
log_close (void *handle)
{
  struct handle *h = handle;
  struct log_line l;

  log_line_start (&l, h->connection);
  log_line_add (&l, "Disconnect transactions=%" PRIu64, h->next_id);
  log_line_write (&l);
  free (h->exportname);
  free (h);
}

/* The request line; returns the request's id for the reply line. */
static uint64_t
log_request (struct handle *h, const char *op, uint64_t offset,
             uint32_t count, const char *flags)
{
  uint64_t id = __atomic_add_fetch (&h->next_id, 1, __ATOMIC_SEQ_CST);
  struct log_line l;

  log_line_start (&l, h->connection);
  log_line_add (&l, "%s id=%" PRIu64, op, id);
  if (count)
    log_line_add (&l, " offset=0x%" PRIx64 " count=0x%" PRIx32,
                  offset, count);
  log_line_add (&l, " flags=%s", flags);
  log_line_write (&l);
  return id;
}

/* ERR is only read on failure: on success the layer below need not
 * have set it.
 */
static int
log_reply (struct handle *h, const char *op, uint64_t id, int r,
           const int *err)
{
  struct log_line l;

  log_line_start (&l, h->connection);
  log_line_add (&l, "...%s id=%" PRIu64 " return=%d (%s)", op, id, r,
                r == -1 ? log_errno_name (*err) : "OK");
  log_line_write (&l);
  return r;
}

static int
log_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Read", offset, count, "none");

  int r = next->pread (next, buf, count, offset, flags, err);

  return log_reply (handle, "Read", id, r, err);
}

static int
log_pwrite (nbdkit_next *next, void *handle, const void *buf,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  char f[64];
  uint64_t id = log_request (handle, "Write", offset, count,
                             log_flags (f, sizeof f, flags));

  int r = next->pwrite (next, buf, count, offset, flags, err);

  return log_reply (handle, "Write", id, r, err);
}

static int
log_trim (nbdkit_next *next, void *handle, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  char f[64];
  uint64_t id = log_request (handle, "Trim", offset, count,
                             log_flags (f, sizeof f, flags));

  int r = next->trim (next, count, offset, flags, err);

  return log_reply (handle, "Trim", id, r, err);
}

static int
log_zero (nbdkit_next *next, void *handle, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  char f[64];
  uint64_t id = log_request (handle, "Zero", offset, count,
                             log_flags (f, sizeof f, flags));

  int r = next->zero (next, count, offset, flags, err);

  return log_reply (handle, "Zero", id, r, err);
}

/* Passes zero straight on, so it is exactly as fast as the layer below. */
static int
log_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

static int
log_extents (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags,
             struct nbdkit_extents *extents, int *err)
{
  char f[64];
  uint64_t id = log_request (handle, "Extents", offset, count,
                             log_flags (f, sizeof f, flags));

  int r = next->extents (next, count, offset, flags, extents, err);

  return log_reply (handle, "Extents", id, r, err);
}

static int
log_cache (nbdkit_next *next, void *handle, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Cache", offset, count, "none");

  int r = next->cache (next, count, offset, flags, err);

  return log_reply (handle, "Cache", id, r, err);
}

static int
log_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Flush", 0, 0, "none");

  int r = next->flush (next, flags, err);

  return log_reply (handle, "Flush", id, r, err);
}

static struct nbdkit_filter filter = {
  .name              = "log",
  .longname          = "blockkit request logging filter",
  .unload            = log_unload,
  .config            = log_config,
  .config_complete   = log_config_complete,
  .config_help       = log_config_help,
  .get_ready         = log_get_ready,
  .open              = log_open,
  .prepare           = log_prepare,
  .close             = log_close,
  .can_fast_zero     = log_can_fast_zero,
  .pread             = log_pread,
  .pwrite            = log_pwrite,
  .trim              = log_trim,
  .zero              = log_zero,
  .extents           = log_extents,
  .cache             = log_cache,
  .flush             = log_flush,
};

NBDKIT_REGISTER_FILTER (filter)
