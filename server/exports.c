/* blockkit: the export list a plugin fills in to answer NBD_OPT_LIST.
 *
 * Names are limited to NBDKIT_EXPORT_NAME_MAX bytes, as the protocol
 * requires of every string; so are descriptions (NULL means none).
 * Both are copied.  The list is capped at MAX_EXPORTS entries so a
 * plugin cannot make a listing reply unbounded.
 *
 * nbdkit_use_default_export only records that the plugin wants the
 * default export ("") listed too; the server resolves what its name is
 * when it builds the reply, since that needs the plugin's
 * default_export callback.
 *
 * On error these functions call nbdkit_error and set errno (EINVAL for
 * bad arguments or too many exports, ENOMEM for allocation failures).
 */

#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <assert.h>

#include "internal.h"

#define MAX_EXPORTS 10000

struct nbdkit_exports {
  struct nbdkit_export *ptr;
  size_t len, cap;
  bool use_default;
};

NBDKIT_DLL_PUBLIC struct nbdkit_exports *
nbdkit_exports_new (void)
{
  struct nbdkit_exports *exps;

  exps = calloc (1, sizeof *exps);
  if (exps == NULL) {
    nbdkit_error ("calloc: %s", strerror (errno));
    errno = ENOMEM;
    return NULL;
  }
  return exps;
}

NBDKIT_DLL_PUBLIC void
nbdkit_exports_free (struct nbdkit_exports *exps)
{
  size_t i;

  if (exps) {
    for (i = 0; i < exps->len; ++i) {
      free (exps->ptr[i].name);
      free (exps->ptr[i].description);
    }
    free (exps->ptr);
    free (exps);
  }
}

NBDKIT_DLL_PUBLIC size_t
nbdkit_exports_count (const struct nbdkit_exports *exps)
{
  return exps->len;
}

/* internal.h declares the return type "const struct nbdkit_export"; a
 * qualifier on a returned value means nothing (and -Wextra warns about
 * it), so it is left out here: the two declarations are compatible.
 */
NBDKIT_DLL_PUBLIC struct nbdkit_export
nbdkit_get_export (const struct nbdkit_exports *exps, size_t i)
{
  assert (i < exps->len);
  return exps->ptr[i];
}

NBDKIT_DLL_PUBLIC int
nbdkit_add_export (struct nbdkit_exports *exps,
                   const char *name, const char *description)
{
  struct nbdkit_export e;
  size_t len;

  if (name == NULL) {
    nbdkit_error ("nbdkit_add_export: export name must not be NULL");
    errno = EINVAL;
    return -1;
  }
  len = strlen (name);
  if (len > NBDKIT_EXPORT_NAME_MAX) {
    nbdkit_error ("nbdkit_add_export: export name is too long "
                  "(%zu bytes, the maximum is %d): \"%.40s...\"",
                  len, NBDKIT_EXPORT_NAME_MAX, name);
    errno = EINVAL;
    return -1;
  }
  if (description) {
    len = strlen (description);
    if (len > NBDKIT_EXPORT_NAME_MAX) {
      nbdkit_error ("nbdkit_add_export: description of export \"%s\" is "
                    "too long (%zu bytes, the maximum is %d)",
                    name, len, NBDKIT_EXPORT_NAME_MAX);
      errno = EINVAL;
      return -1;
    }
  }
  if (exps->len >= MAX_EXPORTS) {
    nbdkit_error ("nbdkit_add_export: too many exports "
                  "(the maximum is %d), cannot add \"%s\"",
                  MAX_EXPORTS, name);
    errno = EINVAL;
    return -1;
  }

  if (exps->len == exps->cap) {
    size_t ncap = exps->cap ? exps->cap * 2 : 8;
    struct nbdkit_export *p;

    if (ncap > MAX_EXPORTS)
      ncap = MAX_EXPORTS;
    p = realloc (exps->ptr, ncap * sizeof *p);
    if (p == NULL) {
      nbdkit_error ("nbdkit_add_export: realloc: %s", strerror (errno));
      errno = ENOMEM;
      return -1;
    }
    exps->ptr = p;
    exps->cap = ncap;
  }

  e.name = strdup (name);
  e.description = description ? strdup (description) : NULL;
  if (e.name == NULL || (description && e.description == NULL)) {
    nbdkit_error ("nbdkit_add_export: strdup: %s", strerror (errno));
    free (e.name);
    free (e.description);
    errno = ENOMEM;
    return -1;
  }
  exps->ptr[exps->len++] = e;
  return 0;
}

NBDKIT_DLL_PUBLIC int
nbdkit_use_default_export (struct nbdkit_exports *exps)
{
  exps->use_default = true;
  return 0;
}

bool
exports_uses_default (const struct nbdkit_exports *exps)
{
  return exps->use_default;
}
