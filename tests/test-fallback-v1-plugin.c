/* The same test plugin as test-fallback-plugin.c, built against the
 * version 1 plugin API (data callbacks without flags), for the v1 part
 * of test-fallbacks.sh: the server must emulate FUA by flush for it
 * whatever its can_fua says, and never ask its zero to be fast.
 */
#define NBDKIT_API_VERSION 1
#define FALLBACK_PLUGIN_NAME "testfallbackv1"
#include "test-fallback-plugin.c"
