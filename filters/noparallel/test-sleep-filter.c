/* A test filter for the noparallel tests: every pread sleeps for
 * rsleep=MS milliseconds before passing down, so that overlapping
 * requests are visible in the total time.  (The delay filter does the
 * same for real; this one keeps the tests independent of it.)
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include <nbdkit-filter.h>

static unsigned rsleep_ms;

static int
sleep_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
              const char *key, const char *value)
{
  if (strcmp (key, "rsleep") == 0)
    return nbdkit_parse_unsigned ("rsleep", value, &rsleep_ms);
  return next (nxdata, key, value);
}

static int
sleep_pread (nbdkit_next *next, void *handle, void *buf,
             uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  if (nbdkit_nanosleep (rsleep_ms / 1000, (rsleep_ms % 1000) * 1000000)
      == -1) {
    *err = ESHUTDOWN;
    return -1;
  }
  return next->pread (next, buf, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = "testsleep",
  .longname = "blockkit test filter sleeping in pread",
  .config = sleep_config,
  .pread = sleep_pread,
};

NBDKIT_REGISTER_FILTER (filter)
