/* blockkit: the noextents filter.
 *
 * Hides block status from the client: the export claims no extents
 * support, so the server reports every range as allocated data, however
 * sparse the layers below are.  Useful to test clients without sparse
 * awareness and to compare copy speeds with and without it.
 */
#include <config.h>

#include <nbdkit-filter.h>

static int
noextents_can_extents (nbdkit_next *next, void *handle)
{
  return 0;
}

static struct nbdkit_filter filter = {
  .name = "noextents",
  .longname = "blockkit noextents filter",
  .can_extents = noextents_can_extents,
};

NBDKIT_REGISTER_FILTER (filter)
