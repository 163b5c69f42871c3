/* blockkit: the rate filter.
 *
 * Limits the bandwidth of reads and writes, for the whole server
 * (rate=) and for each connection (connection-rate=), in bits per
 * second.  Either limit may instead come from a file that is re-read
 * while the server runs (rate-file=, connection-rate-file=), so a limit
 * can be changed without a restart.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-filter.h>

#include "bucket.h"
#include "rate-source.h"

static struct rate_source server_rate, conn_rate;
static double burstiness = 2.0;      /* seconds' worth a bucket holds */
static struct bucket server_bucket;

static void
rate_load (void)
{
  rate_source_init (&server_rate, "rate");
  rate_source_init (&conn_rate, "connection-rate");
  bucket_init (&server_bucket);
}

static void
rate_unload (void)
{
  rate_source_free (&server_rate);
  rate_source_free (&conn_rate);
  bucket_destroy (&server_bucket);
}

static int
rate_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
             const char *key, const char *value)
{
  if (strcmp (key, "rate") == 0)
    return rate_source_set_rate (&server_rate, value);
  if (strcmp (key, "connection-rate") == 0)
    return rate_source_set_rate (&conn_rate, value);
  if (strcmp (key, "rate-file") == 0)
    return rate_source_set_file (&server_rate, value);
  if (strcmp (key, "connection-rate-file") == 0)
    return rate_source_set_file (&conn_rate, value);
  if (strcmp (key, "burstiness") == 0) {
    char *end;

    errno = 0;
    burstiness = strtod (value, &end);
    if (errno || end == value || *end || !(burstiness > 0)) {
      nbdkit_error ("burstiness=%s: expected a number of seconds above 0",
                    value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

#define rate_config_help \
  "rate=<BITS/S>                  Limit for the whole server.\n" \
  "connection-rate=<BITS/S>       Limit for each connection.\n" \
  "rate-file=<FILE>               Read the server limit from FILE.\n" \
  "connection-rate-file=<FILE>    Read the connection limit from FILE.\n" \
  "burstiness=<SECS>              Idle credit a limit may build (2)."

static void *
rate_open (nbdkit_next_open *next, nbdkit_context *context,
           int readonly, const char *exportname, int is_tls)
{
  struct bucket *b;

  if (next (context, readonly, exportname) == -1)
    return NULL;
  b = malloc (sizeof *b);
  if (b == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  bucket_init (b);
  return b;
}

static void
rate_close (void *handle)
{
  bucket_destroy (handle);
  free (handle);
}

/* Waits until COUNT bytes may move under both limits. */
static int
throttle (struct bucket *conn_bucket, uint32_t count, int *err)
{
  uint64_t bits = (uint64_t) count * 8;
  double w1, w2, wait;

  w1 = bucket_take (&server_bucket, rate_source_get (&server_rate),
                    burstiness, bits);
  w2 = bucket_take (conn_bucket, rate_source_get (&conn_rate),
                    burstiness, bits);
  wait = w1 > w2 ? w1 : w2;
  if (wait > 0) {
    unsigned sec = (unsigned) wait;
    unsigned nsec = (unsigned) ((wait - sec) * 1e9);

    if (nbdkit_nanosleep (sec, nsec) == -1) {
      *err = errno ? errno : ESHUTDOWN;
      return -1;
    }
  }
  return 0;
}

static int
rate_pread (nbdkit_next *next, void *handle, void *buf,
            uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (throttle (handle, count, err) == -1)
    return -1;
  return next->pread (next, buf, count, offset, flags, err);
}

static int
rate_pwrite (nbdkit_next *next, void *handle, const void *buf,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (throttle (handle, count, err) == -1)
    return -1;
  return next->pwrite (next, buf, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "rate",
  .longname = "blockkit rate filter",
  .load = rate_load,
  .unload = rate_unload,
  .config = rate_config,
  .config_help = rate_config_help,
  .open = rate_open,
  .close = rate_close,
  .pread = rate_pread,
  .pwrite = rate_pwrite,
};

NBDKIT_REGISTER_FILTER (filter)
