/* blockkit: the delay filter.
 *
 * Adds a fixed delay to chosen operations, to simulate a slow disk or a
 * slow network for testing clients and other filters.
 *
 * Two rules from seed 000 shape it:
 *
 * - A delay is applied once per request at this layer.  Fallbacks happen
 *   below the filter, at the layer that lacks a feature, so a zero that
 *   the plugin emulates with writes gets delay-zero once, never
 *   delay-write as well.  This filter declares no can_zero / can_fua of
 *   its own, so the server never emulates anything at this layer either.
 *
 * - delay-flush applies to real flushes and also to FUA writes, zeroes
 *   and trims when the layer below emulates FUA by flushing
 *   (can_fua == NBDKIT_FUA_EMULATE): that FUA costs a flush there.
 *
 * All sleeps go through nbdkit_nanosleep, so a client that goes away or
 * a server that shuts down cuts them short.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

struct delay {
  unsigned sec, nsec;
};

static struct delay delay_read, delay_write, delay_zero, delay_trim;
static struct delay delay_extents, delay_cache, delay_flush;
static struct delay delay_open, delay_close;

/* Whether a fast-zero request waits for delay-zero (true) or fails at
 * once with ENOTSUP (false), as a disk whose zeroing is slow should.
 */
static bool delay_fast_zero = true;

static bool
is_set (struct delay d)
{
  return d.sec > 0 || d.nsec > 0;
}

static struct delay
add (struct delay a, struct delay b)
{
  struct delay r;
  uint64_t ns = (uint64_t) a.nsec + b.nsec;

  r.sec = a.sec + b.sec + (unsigned) (ns / 1000000000);
  r.nsec = (unsigned) (ns % 1000000000);
  return r;
}

/* Returns 0, or -1 with *err set if the sleep was cut short. */
static int
sleep_for (struct delay d, int *err)
{
  if (!is_set (d))
    return 0;
  if (nbdkit_nanosleep (d.sec, d.nsec) == -1) {
    *err = errno ? errno : ESHUTDOWN;
    return -1;
  }
  return 0;
}

/* The delay for a write-like request: its own, plus a flush's when it
 * carries FUA and the layer below turns that FUA into a flush.
 */
static int
sleep_write_like (nbdkit_next *next, struct delay d, uint32_t flags,
                  int *err)
{
  if ((flags & NBDKIT_FLAG_FUA) && is_set (delay_flush) &&
      next->can_fua (next) == NBDKIT_FUA_EMULATE)
    d = add (d, delay_flush);
  return sleep_for (d, err);
}

static int
parse_delay (const char *key, const char *value, struct delay *d)
{
  return nbdkit_parse_delay (key, value, &d->sec, &d->nsec);
}

static int
delay_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "rdelay") == 0 || strcmp (key, "delay-read") == 0)
    return parse_delay (key, value, &delay_read);
  if (strcmp (key, "wdelay") == 0 || strcmp (key, "delay-write") == 0)
    return parse_delay (key, value, &delay_write);
  if (strcmp (key, "delay-zero") == 0)
    return parse_delay (key, value, &delay_zero);
  if (strcmp (key, "delay-trim") == 0)
    return parse_delay (key, value, &delay_trim);
  if (strcmp (key, "delay-extents") == 0)
    return parse_delay (key, value, &delay_extents);
  if (strcmp (key, "delay-cache") == 0)
    return parse_delay (key, value, &delay_cache);
  if (strcmp (key, "delay-flush") == 0)
    return parse_delay (key, value, &delay_flush);
  if (strcmp (key, "delay-open") == 0)
    return parse_delay (key, value, &delay_open);
  if (strcmp (key, "delay-close") == 0)
    return parse_delay (key, value, &delay_close);
  if (strcmp (key, "delay-fast-zero") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1) {
      nbdkit_error ("delay-fast-zero: expected a boolean, got \"%s\"",
                    value);
      return -1;
    }
    delay_fast_zero = r;
    return 0;
  }
  return next (nxdata, key, value);
}

#define delay_config_help \
  "rdelay=DELAY | delay-read=DELAY   Delay reads (\"1.5\", \"10ms\", ...).\n" \
  "wdelay=DELAY | delay-write=DELAY  Delay writes.\n" \
  "delay-zero=DELAY                  Delay zero requests.\n" \
  "delay-trim=DELAY                  Delay trims.\n" \
  "delay-extents=DELAY               Delay block status requests.\n" \
  "delay-cache=DELAY                 Delay cache requests.\n" \
  "delay-flush=DELAY                 Delay flushes (and FUA done by flush).\n" \
  "delay-open=DELAY                  Delay opening a connection.\n" \
  "delay-close=DELAY                 Delay closing a connection.\n" \
  "delay-fast-zero=BOOL              Delay fast zeroes (default) or fail\n" \
  "                                  them at once with ENOTSUP."

/* Any non-NULL handle will do: the filter keeps no per-connection state. */
static int handle;

static void *
delay_open_ (nbdkit_next_open *next, nbdkit_context *context,
             int readonly, const char *exportname, int is_tls)
{
  int err;

  if (sleep_for (delay_open, &err) == -1)
    return NULL;
  if (next (context, readonly, exportname) == -1)
    return NULL;
  return &handle;
}

/* By the time a context closes, the client has normally gone, which
 * nbdkit_nanosleep treats as a reason to stop sleeping.  So the close
 * delay sleeps in a thread of its own that belongs to no connection:
 * only a server shutdown cuts it short.
 */
static void *
close_sleeper (void *arg)
{
  nbdkit_nanosleep (delay_close.sec, delay_close.nsec);
  return NULL;
}

static void
delay_close_ (void *handle)
{
  pthread_t t;
  int err;

  if (!is_set (delay_close))
    return;
  err = pthread_create (&t, NULL, close_sleeper, NULL);
  if (err != 0) {
    nbdkit_debug ("delay-close: pthread_create: %s", strerror (err));
    return;
  }
  pthread_join (t, NULL);
}

/* With delay-fast-zero=false, fast zeroes fail at once, which is the
 * fast answer the client asked for: so fast zero can be advertised.
 */
static int
delay_can_fast_zero (nbdkit_next *next, void *handle)
{
  if (is_set (delay_zero) && !delay_fast_zero)
    return 1;
  return next->can_fast_zero (next);
}

static int
delay_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if (sleep_for (delay_read, err) == -1)
    return -1;
  return next->pread (next, buf, count, offset, flags, err);
}

static int
delay_pwrite (nbdkit_next *next, void *handle, const void *buf,
              uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (sleep_write_like (next, delay_write, flags, err) == -1)
    return -1;
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
delay_zero_ (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if ((flags & NBDKIT_FLAG_FAST_ZERO) && is_set (delay_zero) &&
      !delay_fast_zero) {
    *err = ENOTSUP;
    return -1;
  }
  if (sleep_write_like (next, delay_zero, flags, err) == -1)
    return -1;
  return next->zero (next, count, offset, flags, err);
}

static int
delay_trim_ (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  if (sleep_write_like (next, delay_trim, flags, err) == -1)
    return -1;
  return next->trim (next, count, offset, flags, err);
}

static int
delay_flush_ (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  if (sleep_for (delay_flush, err) == -1)
    return -1;
  return next->flush (next, flags, err);
}

static int
delay_extents_ (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags,
                struct nbdkit_extents *extents, int *err)
{
  if (sleep_for (delay_extents, err) == -1)
    return -1;
  return next->extents (next, count, offset, flags, extents, err);
}

static int
delay_cache_ (nbdkit_next *next, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  if (sleep_for (delay_cache, err) == -1)
    return -1;
  return next->cache (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "delay",
  .longname          = "blockkit delay filter",
  .config            = delay_config,
  .config_help       = delay_config_help,
  .open              = delay_open_,
  .close             = delay_close_,
  .can_fast_zero     = delay_can_fast_zero,
  .pread             = delay_pread,
  .pwrite            = delay_pwrite,
  .zero              = delay_zero_,
  .trim              = delay_trim_,
  .flush             = delay_flush_,
  .extents           = delay_extents_,
  .cache             = delay_cache_,
};

NBDKIT_REGISTER_FILTER (filter)
