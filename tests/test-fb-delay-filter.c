/* A delaying filter for test-filter-fallbacks.sh: sleeps DELAY in .zero
 * and in .pwrite, then passes the call on.  Over a plugin that cannot
 * zero, one client zero must cost one DELAY (the plugin layer writes the
 * zeroes itself), never two (which a fallback re-entering this layer's
 * pwrite would cost).  Layer "delay" in the call log (test-layer-log.h).
 *
 *   fbdelay.delay=SECS    the delay (default 0.5; nbdkit_parse_delay
 *                         syntax: "0.5", "500ms")
 */
#include <config.h>

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "test-layer-log.h"

static unsigned delay_sec = 0, delay_nsec = 500 * 1000 * 1000;

static void
fbdelay_load (void)
{
  layer_log_name ("delay");
}

static void
fbdelay_unload (void)
{
  layer_log_close ();
}

static int
fbdelay_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                const char *key, const char *value)
{
  if (layer_log_config (key, value) == -1)
    return -1;
  if (strcmp (key, "fbdelay.delay") == 0)
    return nbdkit_parse_delay (key, value, &delay_sec, &delay_nsec);
  return next (nxdata, key, value);
}

/* Sleeps, or fails the request if the server is shutting down. */
static int
sleep_delay (int *err)
{
  if (nbdkit_nanosleep (delay_sec, delay_nsec) == -1) {
    *err = ESHUTDOWN;
    return -1;
  }
  return 0;
}

static int
fbdelay_pwrite (nbdkit_next *next, void *handle, const void *buf,
                uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("pwrite %" PRIu32 " %" PRIu64, count, offset);
  if (sleep_delay (err) == -1)
    return -1;
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
fbdelay_zero (nbdkit_next *next, void *handle, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  layer_log ("zero %" PRIu32 " %" PRIu64, count, offset);
  if (sleep_delay (err) == -1)
    return -1;
  return next->zero (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name              = "fbdelay",
  .longname          = "delay test filter",
  .load              = fbdelay_load,
  .unload            = fbdelay_unload,
  .config            = fbdelay_config,
  .config_help       = "fbdelay.delay=SECS",
  .pwrite            = fbdelay_pwrite,
  .zero              = fbdelay_zero,
};

NBDKIT_REGISTER_FILTER (filter)
