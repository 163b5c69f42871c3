/* blockkit: unit tests for server/exports.c. */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "test-stubs.h"

static bool
streq_or_null (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp (a, b) == 0;
}

static void
check_export (int line, const struct nbdkit_exports *exps, size_t i,
              const char *name, const char *desc)
{
  struct nbdkit_export e = nbdkit_get_export (exps, i);

  if (!streq_or_null (e.name, name) || !streq_or_null (e.description, desc)) {
    fprintf (stderr, "line %d: FAILED: export %zu is (%s, %s), "
             "expected (%s, %s)\n", line, i,
             e.name ? e.name : "NULL",
             e.description ? e.description : "NULL",
             name ? name : "NULL", desc ? desc : "NULL");
    test_failures++;
  }
}
#define CHECK_EXPORT(exps, i, name, desc) \
  check_export (__LINE__, (exps), (i), (name), (desc))

static void
test_basic (void)
{
  struct nbdkit_exports *exps;
  char name[16], desc[16];

  test_reset_error ();
  exps = nbdkit_exports_new ();
  CHECK (exps != NULL);
  CHECK (nbdkit_exports_count (exps) == 0);
  CHECK (!exports_uses_default (exps));

  CHECK (nbdkit_add_export (exps, "a", NULL) == 0);
  CHECK (nbdkit_add_export (exps, "b", "the b export") == 0);
  CHECK (nbdkit_add_export (exps, "", "the default") == 0);
  CHECK (nbdkit_add_export (exps, "a", "duplicates are the plugin's "
                            "business") == 0);
  CHECK (nbdkit_add_export (exps, "with space/and\xc3\xa9", "") == 0);

  /* Both strings are copied. */
  strcpy (name, "volatile");
  strcpy (desc, "description");
  CHECK (nbdkit_add_export (exps, name, desc) == 0);
  strcpy (name, "XXXXXXXX");
  strcpy (desc, "YYYYYYYYYYY");
  CHECK_NO_ERROR ();

  CHECK (nbdkit_exports_count (exps) == 6);
  CHECK_EXPORT (exps, 0, "a", NULL);
  CHECK_EXPORT (exps, 1, "b", "the b export");
  CHECK_EXPORT (exps, 2, "", "the default");
  CHECK_EXPORT (exps, 3, "a", "duplicates are the plugin's business");
  CHECK_EXPORT (exps, 4, "with space/and\xc3\xa9", "");
  CHECK_EXPORT (exps, 5, "volatile", "description");
  CHECK (nbdkit_get_export (exps, 5).name != name);

  CHECK (!exports_uses_default (exps));
  CHECK (nbdkit_use_default_export (exps) == 0);
  CHECK (exports_uses_default (exps));
  CHECK (nbdkit_use_default_export (exps) == 0); /* idempotent */
  CHECK (exports_uses_default (exps));
  CHECK (nbdkit_exports_count (exps) == 6);

  nbdkit_exports_free (exps);
  nbdkit_exports_free (NULL);   /* must be harmless */
}

static void
test_limits (void)
{
  struct nbdkit_exports *exps = nbdkit_exports_new ();
  char *big = malloc (NBDKIT_EXPORT_NAME_MAX + 2);

  CHECK (exps != NULL && big != NULL);
  if (!exps || !big)
    return;

  /* Exactly the maximum length is fine, one more is not. */
  memset (big, 'n', NBDKIT_EXPORT_NAME_MAX);
  big[NBDKIT_EXPORT_NAME_MAX] = '\0';
  test_reset_error ();
  CHECK (nbdkit_add_export (exps, big, big) == 0);
  CHECK_NO_ERROR ();

  big[NBDKIT_EXPORT_NAME_MAX] = 'n';
  big[NBDKIT_EXPORT_NAME_MAX + 1] = '\0';
  test_reset_error ();
  CHECK (nbdkit_add_export (exps, big, NULL) == -1);
  CHECK_ERROR ("nbdkit_add_export");
  CHECK_ERROR ("too long");
  CHECK_ERROR ("4097");

  test_reset_error ();
  CHECK (nbdkit_add_export (exps, "ok", big) == -1);
  CHECK_ERROR ("description");
  CHECK_ERROR ("\"ok\"");

  test_reset_error ();
  CHECK (nbdkit_add_export (exps, NULL, "x") == -1);
  CHECK_ERROR ("nbdkit_add_export");

  CHECK (nbdkit_exports_count (exps) == 1);
  free (big);
  nbdkit_exports_free (exps);
}

/* At most 10000 exports. */
static void
test_too_many (void)
{
  struct nbdkit_exports *exps = nbdkit_exports_new ();
  char name[32];
  size_t i, bad = 0;

  for (i = 0; i < 10000; ++i) {
    snprintf (name, sizeof name, "export%zu", i);
    if (nbdkit_add_export (exps, name, i % 2 ? "odd" : NULL) == -1)
      bad++;
  }
  CHECK (bad == 0);
  CHECK (nbdkit_exports_count (exps) == 10000);

  test_reset_error ();
  CHECK (nbdkit_add_export (exps, "one-too-many", NULL) == -1);
  CHECK_ERROR ("nbdkit_add_export: too many exports");
  CHECK_ERROR ("one-too-many");
  CHECK (nbdkit_exports_count (exps) == 10000);

  for (i = 0; i < 10000; ++i) {
    struct nbdkit_export e = nbdkit_get_export (exps, i);
    snprintf (name, sizeof name, "export%zu", i);
    if (strcmp (e.name, name) != 0 ||
        !streq_or_null (e.description, i % 2 ? "odd" : NULL))
      bad++;
  }
  CHECK (bad == 0);

  /* The default export flag is independent of the cap. */
  CHECK (nbdkit_use_default_export (exps) == 0);
  CHECK (exports_uses_default (exps));
  nbdkit_exports_free (exps);
}

int
main (void)
{
  test_basic ();
  test_limits ();
  test_too_many ();

  if (test_failures) {
    fprintf (stderr, "test-exports: %u check(s) FAILED\n", test_failures);
    return 1;
  }
  printf ("test-exports: all checks passed\n");
  return 0;
}
