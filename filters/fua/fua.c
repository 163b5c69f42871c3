/* blockkit: the fua filter.
 *
 * Changes how FUA (force unit access: "this write is durable before the
 * reply") and flush travel through the chain, to test clients and
 * fallbacks or to trade safety for speed:
 *
 *   fuamode=none     FUA is not advertised (default); flush passes
 *   fuamode=emulate  FUA is advertised and done as the write followed
 *                    by a flush of the layer below, even if that layer
 *                    has a better FUA (needs flush below)
 *   fuamode=native   FUA is advertised as native and the flag is
 *                    passed down (needs FUA below, native or emulated)
 *   fuamode=force    every write, zero and trim goes down with FUA
 *                    (write-through); flush has nothing left to do and
 *                    is answered here (needs FUA below)
 *   fuamode=pass     nothing changes
 *   fuamode=discard  FUA is advertised, the flag is dropped, and flush
 *                    is answered here without reaching the layer below
 *                    (UNSAFE: for data that can be thrown away)
 */
#include <config.h>

#include <string.h>

#include <nbdkit-filter.h>

enum fuamode { NONE, EMULATE, NATIVE, FORCE, PASS, DISCARD };
static const char *const fuamode_names[] =
  { "none", "emulate", "native", "force", "pass", "discard", NULL };
static enum fuamode fuamode = NONE;

static int
fua_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
            const char *key, const char *value)
{
  int i;

  if (strcmp (key, "fuamode") != 0)
    return next (nxdata, key, value);
  for (i = 0; fuamode_names[i]; ++i)
    if (strcmp (value, fuamode_names[i]) == 0) {
      fuamode = i;
      return 0;
    }
  nbdkit_error ("fuamode=%s: unknown mode (expected none, emulate, native, "
                "force, pass or discard)", value);
  return -1;
}

#define fua_config_help \
  "fuamode=<MODE>       none (default), emulate, native, force, pass\n" \
  "                     or discard."

/* The modes that rely on the layer below are checked once per
 * connection, before any request, so that a misconfigured chain fails
 * with a clear message instead of with odd request errors later.
 */
static int
fua_prepare (nbdkit_next *next, void *handle, int readonly)
{
  int r;

  if (readonly)
    return 0;
  switch (fuamode) {
  case EMULATE:
    if ((r = next->can_flush (next)) == -1)
      return -1;
    if (r == 0) {
      nbdkit_error ("fuamode=emulate: the layer below cannot flush, so "
                    "FUA cannot be emulated with flush");
      return -1;
    }
    break;
  case NATIVE:
  case FORCE:
    if ((r = next->can_fua (next)) == -1)
      return -1;
    if (r == NBDKIT_FUA_NONE) {
      nbdkit_error ("fuamode=%s: the layer below does not support FUA",
                    fuamode_names[fuamode]);
      return -1;
    }
    break;
  case NONE:
  case PASS:
  case DISCARD:
    break;
  }
  return 0;
}

static int
fua_can_fua (nbdkit_next *next, void *handle)
{
  switch (fuamode) {
  case NONE:
    return NBDKIT_FUA_NONE;
  case EMULATE:
    /* The server then strips FUA and calls this layer's flush. */
    return NBDKIT_FUA_EMULATE;
  case NATIVE:
  case FORCE:
  case DISCARD:
    return NBDKIT_FUA_NATIVE;
  case PASS:
    break;
  }
  return next->can_fua (next);
}

/* force and discard answer flush themselves, so they can promise it. */
static int
fua_can_flush (nbdkit_next *next, void *handle)
{
  if (fuamode == FORCE || fuamode == DISCARD)
    return 1;
  return next->can_flush (next);
}

/* The FUA flag to send down for a request that arrived with FLAGS. */
static uint32_t
fua_flags (uint32_t flags)
{
  switch (fuamode) {
  case FORCE:
    return flags | NBDKIT_FLAG_FUA;
  case DISCARD:
    return flags & ~NBDKIT_FLAG_FUA;
  case NONE:            /* FUA never arrives: not advertised */
  case EMULATE:         /* the server has already stripped it */
  case NATIVE:
  case PASS:
    break;
  }
  return flags;
}

static int
fua_pwrite (nbdkit_next *next, void *handle, const void *buf,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  return next->pwrite (next, buf, count, offset, fua_flags (flags), err);
}

static int
fua_zero (nbdkit_next *next, void *handle,
          uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  return next->zero (next, count, offset, fua_flags (flags), err);
}

static int
fua_trim (nbdkit_next *next, void *handle,
          uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  return next->trim (next, count, offset, fua_flags (flags), err);
}

static int
fua_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  /* force: every write was already durable when it completed.
   * discard: durability was given up on purpose.
   */
  if (fuamode == FORCE || fuamode == DISCARD)
    return 0;
  return next->flush (next, flags, err);
}

/* A filter with its own .zero must speak for fast zero, or the server
 * assumes its zeroes are slow; this one changes only FUA.
 */
static int
fua_can_fast_zero (nbdkit_next *next, void *handle)
{
  return next->can_fast_zero (next);
}

static struct nbdkit_filter filter = {
  .name = "fua",
  .longname = "blockkit fua filter",
  .config = fua_config,
  .config_help = fua_config_help,
  .prepare = fua_prepare,
  .can_fua = fua_can_fua,
  .can_flush = fua_can_flush,
  .can_fast_zero = fua_can_fast_zero,
  .pwrite = fua_pwrite,
  .zero = fua_zero,
  .trim = fua_trim,
  .flush = fua_flush,
};

NBDKIT_REGISTER_FILTER (filter)
