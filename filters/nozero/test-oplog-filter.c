/* The call-logging test filter, built here too so that this directory's
 * tests do not depend on another directory's build (the one source is
 * filters/multi-conn/test-oplog-filter.c).
 */
#include "../multi-conn/test-oplog-filter.c"
