/* blockkit: the error filter.
 *
 * Makes requests fail on purpose, to test how clients and filters above
 * (retry, for one) cope with errors.  Each data operation has its own
 * settings: which errno to return, with what probability, and
 * optionally only while a given file exists.  The plain keys (error,
 * error-rate, error-file) set all operations at once; the per-operation
 * keys (error-pread, error-pread-rate, error-pread-file, ...) override
 * them for one operation, whatever the order on the command line.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#include "cleanup.h"

enum op { OP_PREAD, OP_PWRITE, OP_TRIM, OP_ZERO, OP_EXTENTS, OP_CACHE,
          OP_FLUSH, NR_OPS };

static const char *const op_names[NR_OPS] = {
  "pread", "pwrite", "trim", "zero", "extents", "cache", "flush",
};

/* One operation's settings.  The *_set flags say whether a
 * per-operation key was given; if not, the plain key's value applies.
 */
struct settings {
  int error;
  bool error_set;
  double rate;
  bool rate_set;
  char *file;
  bool file_set;
};

static struct settings all = { .error = EIO };   /* error, error-rate, ... */
static struct settings per_op[NR_OPS];           /* error-pread, ... */

static const struct { const char *name; int err; } errors[] = {
  { "EIO", EIO }, { "ENOMEM", ENOMEM }, { "EINVAL", EINVAL },
  { "ENOSPC", ENOSPC }, { "EPERM", EPERM }, { "ESHUTDOWN", ESHUTDOWN },
};

static const char *
error_name (int err)
{
  size_t i;

  for (i = 0; i < sizeof errors / sizeof errors[0]; ++i)
    if (errors[i].err == err)
      return errors[i].name;
  return "?";
}

static int
parse_error (const char *key, const char *value, int *r)
{
  size_t i;

  for (i = 0; i < sizeof errors / sizeof errors[0]; ++i) {
    if (strcasecmp (value, errors[i].name) == 0) {
      *r = errors[i].err;
      return 0;
    }
  }
  nbdkit_error ("%s: unknown error \"%s\" (expected EIO, ENOMEM, EINVAL, "
                "ENOSPC, EPERM or ESHUTDOWN)", key, value);
  return -1;
}

/* Sets one field of S from KEY=VALUE, where SUFFIX is what follows
 * "error" or "error-OP" in the key: "", "-rate" or "-file".
 */
static int
set_field (struct settings *s, const char *key, const char *suffix,
           const char *value)
{
  if (strcmp (suffix, "") == 0) {
    if (parse_error (key, value, &s->error) == -1)
      return -1;
    s->error_set = true;
    return 0;
  }
  if (strcmp (suffix, "-rate") == 0) {
    if (nbdkit_parse_probability (key, value, &s->rate) == -1)
      return -1;
    s->rate_set = true;
    return 0;
  }
  if (strcmp (suffix, "-file") == 0) {
    free (s->file);
    s->file = nbdkit_absolute_path (value);
    if (s->file == NULL)
      return -1;
    s->file_set = true;
    return 0;
  }
  return 1;                     /* not ours */
}

static int
error_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  size_t i, n;
  int r;

  if (strncmp (key, "error", 5) == 0) {
    r = set_field (&all, key, key + 5, value);
    if (r <= 0)
      return r;
    for (i = 0; i < NR_OPS; ++i) {
      n = strlen (op_names[i]);
      if (key[5] == '-' && strncmp (key + 6, op_names[i], n) == 0) {
        r = set_field (&per_op[i], key, key + 6 + n, value);
        if (r <= 0)
          return r;
      }
    }
  }
  return next (nxdata, key, value);
}

static void
error_unload (void)
{
  size_t i;

  free (all.file);
  for (i = 0; i < NR_OPS; ++i)
    free (per_op[i].file);
}

#define error_config_help \
  "error=EIO|ENOMEM|EINVAL|ENOSPC|EPERM|ESHUTDOWN  The error to inject\n" \
  "                                   (default EIO).\n" \
  "error-rate=PROBABILITY             How often (default 0: never).\n" \
  "error-file=PATH                    Inject only while PATH exists.\n" \
  "error-OP, error-OP-rate, error-OP-file  The same for one operation,\n" \
  "  OP = pread, pwrite, trim, zero, extents, cache or flush."

/* A small, fast generator (xorshift64*) behind a mutex: a request
 * needs one number, so the lock is held only for a few instructions.
 */
static pthread_mutex_t random_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t random_state;

static double
random_unit (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&random_lock);
  uint64_t x;

  if (random_state == 0) {
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    random_state = ((uint64_t) ts.tv_sec * 1000000007u) ^ ts.tv_nsec ^
      ((uint64_t) getpid () << 32) ^ 0x9e3779b97f4a7c15u;
  }
  x = random_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  random_state = x;
  /* The top 53 bits give a double in [0, 1). */
  return ((x * 0x2545f4914f6cdd1du) >> 11) * (1.0 / 9007199254740992.0);
}

/* Whether this request of operation OP fails; if so sets *err. */
static bool
inject (enum op op, int *err)
{
  const struct settings *s = &per_op[op];
  int error = s->error_set ? s->error : all.error;
  double rate = s->rate_set ? s->rate : all.rate;
  const char *file = s->file_set ? s->file : all.file;

  if (rate <= 0)
    return false;
  if (file && access (file, F_OK) == -1)
    return false;
  if (rate < 1 && random_unit () >= rate)
    return false;
  nbdkit_error ("error filter: injecting %s into %s",
                error_name (error), op_names[op]);
  *err = error;
  return true;
}

static int
error_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if (inject (OP_PREAD, err))
    return -1;
  return next->pread (next, buf, count, offset, flags, err);
}

static int
error_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (inject (OP_PWRITE, err))
    return -1;
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
error_trim (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  if (inject (OP_TRIM, err))
    return -1;
  return next->trim (next, count, offset, flags, err);
}

static int
error_zero (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags, int *err)
{
  if (inject (OP_ZERO, err))
    return -1;
  return next->zero (next, count, offset, flags, err);
}

/* The server treats a filter with its own .zero as not fast unless it
 * says otherwise: this one only passes zero on, so it is as fast as the
 * layer below.
 */
static int
error_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

static int
error_extents (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags,
               struct nbdkit_extents *extents, int *err)
{
  if (inject (OP_EXTENTS, err))
    return -1;
  return next->extents (next, count, offset, flags, extents, err);
}

static int
error_cache (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if (inject (OP_CACHE, err))
    return -1;
  return next->cache (next, count, offset, flags, err);
}

static int
error_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  if (inject (OP_FLUSH, err))
    return -1;
  return next->flush (next, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "error",
  .longname          = "blockkit error injection filter",
  .unload            = error_unload,
  .config            = error_config,
  .config_help       = error_config_help,
  .can_fast_zero     = error_can_fast_zero,
  .pread             = error_pread,
  .pwrite            = error_pwrite,
  .trim              = error_trim,
  .zero              = error_zero,
  .extents           = error_extents,
  .cache             = error_cache,
  .flush             = error_flush,
};

NBDKIT_REGISTER_FILTER (filter)
