/* blockkit: the log filter.
 *
 * Logs every request that passes through it (when it starts and when it
 * returns), the connections (Connect with what the layer below offers,
 * Disconnect with the number of requests) and the server's life events
 * (Ready, Fork, Preconnect, ListExports), in the format of
 * nbdkit-log-filter(1), which scripts already parse:
 *
 *   2024-05-01 12:00:00.123456 connection=1 Read id=1 offset=0x0 count=0x200 ...
 *   2024-05-01 12:00:00.123470 connection=1 ...Read id=1 return=0
 *
 * Entries go to logfile= (or logfd=), to logscript= (run once per entry
 * with the entry's fields as shell variables), or, with neither, to the
 * debug output (-v).  Text and output live in log-line.c.
 */
#include <config.h>

#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "log-line.h"
#include "filter-handle.h"

static char *logfile;
static char *logscript;
static int logfd = -1;
static bool logfd_given;        /* logfd=FD: not ours to close */
static bool logappend;

/* Connection numbers, one per context this filter opens; the ids of
 * the entries that belong to no connection, one count per action as
 * nbdkit has them (the first Preconnect and the first ListExports are
 * both id=1).
 */
static uint64_t next_connection = 1;
static uint64_t preconnect_ids, list_exports_ids;
static pid_t ready_pid;

struct handle {
  uint64_t connection;
  uint64_t last_id;             /* request ids, per connection */
  char *exportname;
  bool tls;
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
  if (strcmp (key, "logscript") == 0) {
    free (logscript);
    logscript = strdup (value);
    if (logscript == NULL) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
    return 0;
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
    if (r == -1)
      return -1;
    logappend = r;
    return 0;
  }
  return next (nxdata, key, value);
}

/* Neither logfile nor logscript is not an error: nbdkit accepts it (the
 * filter then logs nowhere); we log to the debug output, which is just
 * as silent unless -v is given.
 */
static int
log_config_complete (nbdkit_next_config_complete *next,
                     nbdkit_backend *nxdata)
{
  if (logfile && logfd_given) {
    nbdkit_error ("logfile and logfd cannot both be given");
    return -1;
  }
  return next (nxdata);
}

#define log_config_help \
  "logfile=FILE          The file to log to.\n" \
  "logscript=SCRIPT      Script to run for each log entry.\n" \
  "logappend=BOOL        Append to logfile instead of truncating it.\n" \
  "logfd=FD              An open file descriptor to log to."

/* Opened here rather than in .config_complete so that the file is
 * created after the server has daemonized (and its permissions and
 * working directory are final).
 */
static int
log_get_ready (int thread_model)
{
  struct log_str args = LOG_STR_INIT;

  if (logfile) {
    logfd = open (logfile, O_WRONLY | O_CREAT | O_CLOEXEC |
                  (logappend ? O_APPEND : O_TRUNC), 0644);
    if (logfd == -1) {
      nbdkit_error ("open: %s: %m", logfile);
      return -1;
    }
  }
  log_output_init (logfd, logscript);
  ready_pid = getpid ();
  log_str_add (&args, "thread_model=%d", thread_model);
  log_entry (0, LOG_PRINT, "Ready", 0, log_str_get (&args));
  log_str_free (&args);
  return 0;
}

/* .after_fork is called whether or not the server went into the
 * background; Fork is logged only if it did, i.e. if this is no longer
 * the process that got ready.
 */
static int
log_after_fork (nbdkit_backend *backend)
{
  if (getpid () != ready_pid)
    log_entry (0, LOG_PRINT, "Fork", 0, "");
  return 0;
}

static void
log_unload (void)
{
  if (logfile && logfd >= 0)
    close (logfd);
  free (logfile);
  free (logscript);
}

/* The LEAVE entry's tail: "return=0", or "return=-1 error=EIO".  ERR is
 * only read on failure: on success the layer below need not set it.
 */
static void
add_return (struct log_str *s, int r, int err)
{
  char buf[16];

  log_str_add (s, "return=%d", r);
  if (r == -1)
    log_str_add (s, " error=%s", log_errno_name (err, buf, sizeof buf));
}

static int
log_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                int readonly)
{
  uint64_t id = __atomic_add_fetch (&preconnect_ids, 1, __ATOMIC_SEQ_CST);
  struct log_str s = LOG_STR_INIT;
  int r;

  log_str_add (&s, "readonly=%d", readonly);
  log_entry (0, LOG_ENTER, "Preconnect", id, log_str_get (&s));
  log_str_free (&s);
  r = next (nxdata, readonly);
  add_return (&s, r, errno);
  log_entry (0, LOG_LEAVE, "Preconnect", id, log_str_get (&s));
  log_str_free (&s);
  return r;
}

/* Only the names are logged, as a shell array; descriptions are not. */
static int
log_list_exports (nbdkit_next_list_exports *next, nbdkit_backend *nxdata,
                  int readonly, int is_tls, struct nbdkit_exports *exports)
{
  uint64_t id = __atomic_add_fetch (&list_exports_ids, 1, __ATOMIC_SEQ_CST);
  struct log_str s = LOG_STR_INIT;
  size_t i, n;
  int r;

  log_str_add (&s, "readonly=%d tls=%d", readonly, is_tls);
  log_entry (0, LOG_ENTER, "ListExports", id, log_str_get (&s));
  log_str_free (&s);
  r = next (nxdata, readonly, exports);
  if (r == 0) {
    n = nbdkit_exports_count (exports);
    log_str_add (&s, "exports=(");
    for (i = 0; i < n; ++i) {
      if (i)
        log_str_add (&s, " ");
      log_str_shell_quoted (&s, nbdkit_get_export (exports, i).name);
    }
    log_str_add (&s, ") ");
  }
  add_return (&s, r, errno);
  log_entry (0, LOG_LEAVE, "ListExports", id, log_str_get (&s));
  log_str_free (&s);
  return r;
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
  h->tls = is_tls;
  return h;
}

/* The Connect entry: what the client will be offered, asked of the layer
 * below now that it is prepared.  zero, fua and cache are the API's
 * NBDKIT_*_NONE = 0, EMULATE = 1, NATIVE = 2.
 */
static int
log_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;
  struct log_str s = LOG_STR_INIT;
  uint32_t minsize = 0, prefsize = 0, maxsize = 0;

  if (next->block_size (next, &minsize, &prefsize, &maxsize) == -1)
    minsize = prefsize = maxsize = 0;
  log_str_add (&s, "export=");
  log_str_shell_quoted (&s, h->exportname);
  log_str_add (&s, " tls=%d size=0x%" PRIx64 " minsize=0x%" PRIx32
               " prefsize=0x%" PRIx32 " maxsize=0x%" PRIx32
               " write=%d flush=%d rotational=%d trim=%d zero=%d"
               " fua=%d extents=%d cache=%d fast_zero=%d",
               h->tls, (uint64_t) next->get_size (next),
               minsize, prefsize, maxsize,
               next->can_write (next), next->can_flush (next),
               next->is_rotational (next), next->can_trim (next),
               next->can_zero (next), next->can_fua (next),
               next->can_extents (next), next->can_cache (next),
               next->can_fast_zero (next));
  log_entry (h->connection, LOG_PRINT, "Connect", 0, log_str_get (&s));
  log_str_free (&s);
  return 0;
}

static void
log_close (void *handle)
{
  struct handle *h = handle;
  struct log_str s = LOG_STR_INIT;

  log_str_add (&s, "transactions=%" PRIu64, h->last_id);
  log_entry (h->connection, LOG_PRINT, "Disconnect", 0, log_str_get (&s));
  log_str_free (&s);
  free (h->exportname);
  free (h);
}

/* The ENTER entry of a request; returns the request's id for LEAVE.
 * FMT gives the arguments after offset and count (or all of them, for
 * Flush, which has neither).
 */
static uint64_t
log_request (struct handle *h, const char *act, uint64_t offset,
             uint32_t count, const char *fmt, ...)
  __attribute__ ((format (printf, 5, 6)));

static uint64_t
log_request (struct handle *h, const char *act, uint64_t offset,
             uint32_t count, const char *fmt, ...)
{
  uint64_t id = __atomic_add_fetch (&h->last_id, 1, __ATOMIC_SEQ_CST);
  struct log_str s = LOG_STR_INIT;
  char tail[64];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (tail, sizeof tail, fmt, ap);
  va_end (ap);
  if (strcmp (act, "Flush") != 0)
    log_str_add (&s, "offset=0x%" PRIx64 " count=0x%" PRIx32 "%s%s",
                 offset, count, *tail ? " " : "", tail);
  else
    log_str_add (&s, "%s", tail);
  log_entry (h->connection, LOG_ENTER, act, id, log_str_get (&s));
  log_str_free (&s);
  return id;
}

static int
log_reply (struct handle *h, const char *act, uint64_t id, int r, int err)
{
  struct log_str s = LOG_STR_INIT;

  add_return (&s, r, err);
  log_entry (h->connection, LOG_LEAVE, act, id, log_str_get (&s));
  log_str_free (&s);
  return r;
}

#define FLAG(f) (!!(flags & NBDKIT_FLAG_##f))

static int
log_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Read", offset, count, "%s", "");
  int r = next->pread (next, buf, count, offset, flags, err);

  return log_reply (handle, "Read", id, r, *err);
}

static int
log_pwrite (nbdkit_next *next, void *handle, const void *buf,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Write", offset, count,
                             "fua=%d", FLAG (FUA));
  int r = next->pwrite (next, buf, count, offset, flags, err);

  return log_reply (handle, "Write", id, r, *err);
}

static int
log_trim (nbdkit_next *next, void *handle, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Trim", offset, count,
                             "fua=%d", FLAG (FUA));
  int r = next->trim (next, count, offset, flags, err);

  return log_reply (handle, "Trim", id, r, *err);
}

static int
log_zero (nbdkit_next *next, void *handle, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Zero", offset, count,
                             "trim=%d fua=%d fast=%d", FLAG (MAY_TRIM),
                             FLAG (FUA), FLAG (FAST_ZERO));
  int r = next->zero (next, count, offset, flags, err);

  return log_reply (handle, "Zero", id, r, *err);
}

/* Passes zero straight on, so it is exactly as fast as the layer below. */
static int
log_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

/* The reply lists what the layer below returned, as a shell array of
 * offset, length and type triples; types are always quoted ("" for
 * data, "hole", "zero", "hole,zero").
 */
static int
log_extents (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags,
             struct nbdkit_extents *extents, int *err)
{
  struct handle *h = handle;
  uint64_t id = log_request (h, "Extents", offset, count,
                             "req_one=%d", FLAG (REQ_ONE));
  int r = next->extents (next, count, offset, flags, extents, err);
  struct log_str s = LOG_STR_INIT;
  size_t i, n;

  if (r == 0) {
    n = nbdkit_extents_count (extents);
    log_str_add (&s, "extents=(");
    for (i = 0; i < n; ++i) {
      struct nbdkit_extent e = nbdkit_get_extent (extents, i);
      bool hole = e.type & NBDKIT_EXTENT_HOLE;
      bool zero = e.type & NBDKIT_EXTENT_ZERO;

      log_str_add (&s, "%s0x%" PRIx64 " 0x%" PRIx64 " \"%s%s%s\"",
                   i ? " " : "", e.offset, e.length,
                   hole ? "hole" : "", hole && zero ? "," : "",
                   zero ? "zero" : "");
    }
    log_str_add (&s, ") ");
  }
  add_return (&s, r, *err);
  log_entry (h->connection, LOG_LEAVE, "Extents", id, log_str_get (&s));
  log_str_free (&s);
  return r;
}

static int
log_cache (nbdkit_next *next, void *handle, uint32_t count,
           uint64_t offset, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Cache", offset, count, "%s", "");
  int r = next->cache (next, count, offset, flags, err);

  return log_reply (handle, "Cache", id, r, *err);
}

static int
log_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  uint64_t id = log_request (handle, "Flush", 0, 0, "%s", "");
  int r = next->flush (next, flags, err);

  return log_reply (handle, "Flush", id, r, *err);
}

static struct nbdkit_filter filter = {
  .name              = "log",
  .longname          = "blockkit request logging filter",
  .unload            = log_unload,
  .config            = log_config,
  .config_complete   = log_config_complete,
  .config_help       = log_config_help,
  .get_ready         = log_get_ready,
  .after_fork        = log_after_fork,
  .preconnect        = log_preconnect,
  .list_exports      = log_list_exports,
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
