/* blockkit: the nozero filter.
 *
 * Changes how WRITE_ZEROES reaches (or does not reach) the layers below,
 * for testing clients and for plugins whose zero is slower or less safe
 * than plain writes:
 *
 *   zeromode=none      zero is not advertised at all (default)
 *   zeromode=emulate   zero is advertised, and the server turns each zero
 *                      into writes of zeroes at this layer
 *   zeromode=notrim    zero is passed down without NBDKIT_FLAG_MAY_TRIM
 *   zeromode=plugin    zero is passed down unchanged
 *
 *   fastzeromode=default|slow|ignore|none   what happens to fast zeroes
 *                                           (see the man page)
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <nbdkit-filter.h>

enum zeromode { ZERO_NONE, ZERO_EMULATE, ZERO_NOTRIM, ZERO_PLUGIN };
enum fastzeromode { FAST_DEFAULT, FAST_SLOW, FAST_IGNORE, FAST_NONE };

static enum zeromode zeromode = ZERO_NONE;
static enum fastzeromode fastzeromode = FAST_DEFAULT;

/* Looks VALUE up in a NULL-terminated list of names; -1 if absent. */
static int
lookup (const char *const *names, const char *value)
{
  int i;

  for (i = 0; names[i]; ++i)
    if (strcmp (names[i], value) == 0)
      return i;
  return -1;
}

static const char *const zeromode_names[] =
  { "none", "emulate", "notrim", "plugin", NULL };
static const char *const fastzeromode_names[] =
  { "default", "slow", "ignore", "none", NULL };

static int
nozero_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  int i;

  if (strcmp (key, "zeromode") == 0) {
    if ((i = lookup (zeromode_names, value)) == -1) {
      nbdkit_error ("zeromode=%s: unknown mode (expected none, emulate, "
                    "notrim or plugin)", value);
      return -1;
    }
    zeromode = i;
    return 0;
  }
  if (strcmp (key, "fastzeromode") == 0) {
    if ((i = lookup (fastzeromode_names, value)) == -1) {
      nbdkit_error ("fastzeromode=%s: unknown mode (expected default, "
                    "slow, ignore or none)", value);
      return -1;
    }
    fastzeromode = i;
    return 0;
  }
  return next (nxdata, key, value);
}

static int
nozero_config_complete (nbdkit_next_config_complete *next,
                        nbdkit_backend *nxdata)
{
  /* Emulated zeroes are written by the server at this layer, which
   * refuses fast zeroes (writes are never fast) before this filter sees
   * them: the flag cannot be ignored there.
   */
  if (zeromode == ZERO_EMULATE && fastzeromode == FAST_IGNORE) {
    nbdkit_error ("fastzeromode=ignore cannot be combined with "
                  "zeromode=emulate (emulated zeroes always fail fast)");
    return -1;
  }
  return next (nxdata);
}

#define nozero_config_help \
  "zeromode=<MODE>      none (default), emulate, notrim or plugin.\n" \
  "fastzeromode=<MODE>  default, slow, ignore or none."

static int
nozero_can_zero (nbdkit_next *next, void *handle)
{
  switch (zeromode) {
  case ZERO_NONE:
    return NBDKIT_ZERO_NONE;
  case ZERO_EMULATE:
    /* The server then writes zeroes through this layer's pwrite. */
    return NBDKIT_ZERO_EMULATE;
  case ZERO_NOTRIM:
  case ZERO_PLUGIN:
    break;
  }
  return next->can_zero (next);
}

static int
nozero_can_fast_zero (nbdkit_next *next, void *handle)
{
  switch (fastzeromode) {
  case FAST_NONE:
    return 0;
  case FAST_SLOW:
  case FAST_IGNORE:
    return 1;
  case FAST_DEFAULT:
    break;
  }
  /* Emulated zeroes are never fast, so they fail fast: that is support. */
  if (zeromode == ZERO_EMULATE)
    return 1;
  return next->can_fast_zero (next);
}

static int
nozero_zero (nbdkit_next *next, void *handle,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  /* zeromode=none never advertises zero and zeromode=emulate has the
   * server write zeroes instead, so only notrim and plugin get here.
   */
  if (flags & NBDKIT_FLAG_FAST_ZERO) {
    switch (fastzeromode) {
    case FAST_SLOW:
      *err = ENOTSUP;
      return -1;
    case FAST_IGNORE:
      flags &= ~NBDKIT_FLAG_FAST_ZERO;
      break;
    case FAST_DEFAULT:
    case FAST_NONE:
      break;
    }
  }
  if (zeromode == ZERO_NOTRIM)
    flags &= ~NBDKIT_FLAG_MAY_TRIM;

  /* fastzeromode=slow or ignore may advertise fast zero over a layer
   * that has none; never pass down a flag it did not promise to honour.
   */
  if ((flags & NBDKIT_FLAG_FAST_ZERO) && next->can_fast_zero (next) != 1) {
    *err = ENOTSUP;
    return -1;
  }
  return next->zero (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "nozero",
  .longname = "blockkit nozero filter",
  .config = nozero_config,
  .config_complete = nozero_config_complete,
  .config_help = nozero_config_help,
  .can_zero = nozero_can_zero,
  .can_fast_zero = nozero_can_fast_zero,
  .zero = nozero_zero,
};

NBDKIT_REGISTER_FILTER (filter)
