/* blockkit: the callbacks of the sh and eval plugins, one copy for both.
 *
 * Each callback runs the script method of the same name (call.c) with
 * the established arguments: the handle string first for per-connection
 * methods, then counts and offsets in decimal, booleans as "true" or
 * "false" and flags as a comma-separated list ("fua", "may_trim",
 * "fast", "req_one").  Exit status 2 ("missing") gives what a C plugin
 * without that callback would get; since sh cannot know in advance that
 * pwrite exists, its can_* methods must be written out, while eval
 * (script_has_method) knows which methods it was given and answers for
 * them as a C plugin would.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* asprintf */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>

#include "call.h"
#include "methods.h"

static const char *
bool_arg (int b)
{
  return b ? "true" : "false";
}

/* Run a method that returns nothing but its status; missing is fine. */
static int
simple_method (const char *method, const char *const *args)
{
  switch (call_run (method, args, NULL, 0, NULL)) {
  case CALL_OK:
  case CALL_MISSING:
    return 0;
  case CALL_FALSE:
    call_error (method, "%s method returned unexpected code (3/false)",
                method);
    nbdkit_set_error (EIO);
    return -1;
  default:
    return -1;
  }
}

/* ---------------------------------------------------------------- */
/* Server lifecycle */

void
script_unload (void)
{
  /* Errors are ignored: the server is going away anyway. */
  if (call_tmpdir)
    call_run ("unload", NULL, NULL, 0, NULL);
  call_unload ();
}

int
script_config_complete (void)
{
  return simple_method ("config_complete", NULL);
}

void
script_dump_plugin (void)
{
  struct call_output out = { 0 };
  bool via_sh;

  printf ("max_known_status=%d\n", CALL_MAX_KNOWN_STATUS);
  if (script_for_method ("dump_plugin", &via_sh) == NULL)
    return;
  if (call_run ("dump_plugin", NULL, NULL, 0, &out) == CALL_OK) {
    fwrite (out.data, 1, out.len, stdout);
    if (out.len > 0 && out.data[out.len-1] != '\n')
      putchar ('\n');
  }
  fflush (stdout);
  call_output_free (&out);
}

int
script_thread_model (void)
{
  struct call_output out = { 0 };
  int r = NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
  static const struct { const char *name; int model; } models[] = {
    { "serialize_connections", NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS },
    { "serialize_all_requests", NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS },
    { "serialize_requests", NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS },
    { "parallel", NBDKIT_THREAD_MODEL_PARALLEL },
  };
  size_t i;

  switch (call_run ("thread_model", NULL, NULL, 0, &out)) {
  case CALL_OK:
    call_chomp (out.data);
    for (i = 0; i < sizeof models / sizeof models[0]; i++)
      if (strcasecmp (out.data, models[i].name) == 0)
        break;
    /* Unrecognised output is ignored, keeping the safe default. */
    if (i < sizeof models / sizeof models[0])
      r = models[i].model;
    else
      nbdkit_debug ("thread_model: ignoring unknown answer '%s'", out.data);
    break;
  case CALL_MISSING:
    break;
  case CALL_FALSE:
    call_error ("thread_model",
                "thread_model method returned unexpected code (3/false)");
    r = -1;
    break;
  default:
    r = -1;
  }
  call_output_free (&out);
  return r;
}

int
script_get_ready (void)
{
  return simple_method ("get_ready", NULL);
}

int
script_after_fork (void)
{
  return simple_method ("after_fork", NULL);
}

int
script_preconnect (int readonly)
{
  const char *args[] = { bool_arg (readonly), NULL };

  return simple_method ("preconnect", args);
}

/* ---------------------------------------------------------------- */
/* Exports */

/* Split TEXT (modified in place) into lines; a final newline does not
 * start another line.  Returns the number of lines, *LINES malloc'd.
 */
static size_t
split_lines (char *text, char ***lines)
{
  size_t n = 0, i;
  char *p;
  char **v;

  for (p = text; *p; p++)
    if (*p == '\n' && p[1] != '\0')
      n++;
  if (*text)
    n++;
  v = calloc (n + 1, sizeof *v);
  if (v == NULL) {
    *lines = NULL;
    return 0;
  }
  for (i = 0, p = text; i < n; i++) {
    char *nl = strchr (p, '\n');
    v[i] = p;
    if (nl) {
      *nl = '\0';
      p = nl + 1;
    }
  }
  *lines = v;
  return n;
}

/* The established export list formats: an optional first line NAMES,
 * INTERLEAVED or NAMES+DESCRIPTIONS (anything else is the first name).
 * ADD is called for each export, DESC may be NULL.  Returns -1 if ADD
 * fails, 1 if it asked to stop, 0 otherwise.
 */
static int
parse_exports (char *text,
               int (*add) (void *opaque, const char *name, const char *desc),
               void *opaque)
{
  char **lines;
  size_t n = split_lines (text, &lines), i, first = 0, half;
  int r = 0;

  if (lines == NULL && *text) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  if (n > 0 && strcmp (lines[0], "INTERLEAVED") == 0) {
    for (i = 1; r == 0 && i < n; i += 2)
      r = add (opaque, lines[i], i + 1 < n ? lines[i+1] : NULL);
  }
  else if (n > 0 && strcmp (lines[0], "NAMES+DESCRIPTIONS") == 0) {
    /* The first half are names, the second their descriptions; an odd
     * line is a name without one.
     */
    half = (n - 1 + 1) / 2;
    for (i = 0; r == 0 && i < half; i++) {
      size_t d = 1 + half + i;
      r = add (opaque, lines[1 + i], d < n ? lines[d] : NULL);
    }
  }
  else {
    if (n > 0 && strcmp (lines[0], "NAMES") == 0)
      first = 1;
    for (i = first; r == 0 && i < n; i++)
      r = add (opaque, lines[i], NULL);
  }
  free (lines);
  return r < 0 ? -1 : 0;
}

static int
add_export (void *opaque, const char *name, const char *desc)
{
  return nbdkit_add_export (opaque, name, desc) == -1 ? -1 : 0;
}

int
script_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  const char *args[] = { bool_arg (readonly), bool_arg (is_tls), NULL };
  struct call_output out = { 0 };
  int r;

  switch (call_run ("list_exports", args, NULL, 0, &out)) {
  case CALL_OK:
    r = parse_exports (out.data, add_export, exports);
    break;
  case CALL_MISSING:
    r = nbdkit_use_default_export (exports);
    break;
  case CALL_FALSE:
    call_error ("list_exports",
                "list_exports method returned unexpected code (3/false)");
    nbdkit_set_error (EIO);
    r = -1;
    break;
  default:
    r = -1;
  }
  call_output_free (&out);
  return r;
}

static int
first_export (void *opaque, const char *name, const char *desc)
{
  *(const char **) opaque = nbdkit_strdup_intern (name);
  return 1;
}

const char *
script_default_export (int readonly, int is_tls)
{
  const char *args[] = { bool_arg (readonly), bool_arg (is_tls), NULL };
  struct call_output out = { 0 };
  const char *name = "";

  switch (call_run ("default_export", args, NULL, 0, &out)) {
  case CALL_OK:
    /* Any list form; its first name, or "" for an empty list. */
    if (parse_exports (out.data, first_export, &name) == -1 || name == NULL)
      name = NULL;
    break;
  case CALL_MISSING:
    break;
  case CALL_FALSE:
    call_error ("default_export",
                "default_export method returned unexpected code (3/false)");
    name = NULL;
    break;
  default:
    name = NULL;
  }
  call_output_free (&out);
  return name;
}

/* ---------------------------------------------------------------- */
/* Connections */

void *
script_open (int readonly)
{
  const char *exportname = nbdkit_export_name ();
  const char *args[] = {
    bool_arg (readonly), exportname ? exportname : "",
    bool_arg (nbdkit_is_tls () > 0), NULL
  };
  struct call_output out = { 0 };
  struct handle *h;

  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  switch (call_run ("open", args, NULL, 0, &out)) {
  case CALL_OK:
    call_chomp (out.data);
    h->h = out.data;            /* the handle is whatever it printed */
    out.data = NULL;
    break;
  case CALL_MISSING:
    call_output_free (&out);
    h->h = strdup ("");
    break;
  case CALL_FALSE:
    call_error ("open", "open method returned unexpected code (3/false)");
    /* fallthrough */
  default:
    call_output_free (&out);
    free (h);
    return NULL;
  }
  if (h->h == NULL) {
    nbdkit_error ("strdup: %m");
    free (h);
    return NULL;
  }
  return h;
}

void
script_close (void *handle)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };

  call_run ("close", args, NULL, 0, NULL);
  free (h->h);
  free (h);
}

const char *
script_export_description (void *handle)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };
  struct call_output out = { 0 };
  const char *r = NULL;

  switch (call_run ("export_description", args, NULL, 0, &out)) {
  case CALL_OK:
    call_chomp (out.data);
    r = nbdkit_strdup_intern (out.data);
    break;
  case CALL_MISSING:
    break;
  case CALL_FALSE:
    call_error ("export_description",
                "export_description method returned unexpected code (3/false)");
    break;
  default:
    break;
  }
  call_output_free (&out);
  return r;
}

int64_t
script_get_size (void *handle)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };
  struct call_output out = { 0 };
  int64_t r = -1;

  switch (call_run ("get_size", args, NULL, 0, &out)) {
  case CALL_OK:
    call_chomp (out.data);
    r = nbdkit_parse_size (out.data);
    if (r == -1)
      call_error ("get_size", "could not parse output from get_size "
                  "method: %s", out.data);
    break;
  case CALL_MISSING:
    call_error ("get_size", "the get_size method is required");
    break;
  case CALL_FALSE:
    call_error ("get_size",
                "get_size method returned unexpected code (3/false)");
    break;
  default:
    break;
  }
  call_output_free (&out);
  return r;
}

int
script_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                   uint32_t *maximum)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };
  struct call_output out = { 0 };
  uint32_t *dst[3] = { minimum, preferred, maximum };
  char *p, *word, *save = NULL;
  int64_t v;
  int i, r = -1;

  switch (call_run ("block_size", args, NULL, 0, &out)) {
  case CALL_OK:
    /* Three sizes separated by any whitespace, in nbdkit_parse_size's
     * syntax; the server checks that they make sense together.
     */
    p = out.data;
    for (i = 0; i < 3; i++, p = NULL) {
      word = strtok_r (p, " \t\n", &save);
      if (word == NULL || (v = nbdkit_parse_size (word)) == -1 ||
          v > UINT32_MAX)
        break;
      *dst[i] = v;
    }
    if (i == 3)
      r = 0;
    else
      call_error ("block_size", "could not parse output from block_size "
                  "method: %s", out.data);
    break;
  case CALL_MISSING:
    *minimum = *preferred = *maximum = 0;   /* no constraints */
    r = 0;
    break;
  case CALL_FALSE:
    call_error ("block_size",
                "block_size method returned unexpected code (3/false)");
    break;
  default:
    break;
  }
  call_output_free (&out);
  return r;
}

/* ---------------------------------------------------------------- */
/* Capabilities */

/* exit 0 is true, exit 3 false; missing is MISSING_ANSWER.  When eval
 * was not given can_X but was given X, the answer is true without
 * running anything (not even missing=), as established.
 */
static int
boolean_method (void *handle, const char *method, int missing_answer)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };

  if (missing_answer == 1 && !script_has_method (method))
    return 1;
  switch (call_run (method, args, NULL, 0, NULL)) {
  case CALL_OK: return 1;
  case CALL_FALSE: return 0;
  case CALL_MISSING: return missing_answer;
  default: return -1;
  }
}

int
script_can_write (void *handle)
{
  return boolean_method (handle, "can_write", script_has_method ("pwrite"));
}

int
script_can_flush (void *handle)
{
  return boolean_method (handle, "can_flush", script_has_method ("flush"));
}

int
script_is_rotational (void *handle)
{
  return boolean_method (handle, "is_rotational", 0);
}

int
script_can_trim (void *handle)
{
  return boolean_method (handle, "can_trim", script_has_method ("trim"));
}

/* Boolean, as for a C plugin: false means the server writes zeroes
 * through pwrite (not "no zero at all").
 */
int
script_can_zero (void *handle)
{
  return boolean_method (handle, "can_zero", script_has_method ("zero"));
}

int
script_can_fast_zero (void *handle)
{
  return boolean_method (handle, "can_fast_zero", 0);
}

int
script_can_extents (void *handle)
{
  return boolean_method (handle, "can_extents",
                         script_has_method ("extents"));
}

int
script_can_multi_conn (void *handle)
{
  return boolean_method (handle, "can_multi_conn", 0);
}

/* can_fua and can_cache print none, emulate or native. */
static int
tristate_method (void *handle, const char *method, int none, int emulate,
                 int native, int missing_answer)
{
  struct handle *h = handle;
  const char *args[] = { h->h, NULL };
  struct call_output out = { 0 };
  int r = -1;

  /* As for booleans: eval's cache given without can_cache is native. */
  if (missing_answer == native && !script_has_method (method))
    return native;
  switch (call_run (method, args, NULL, 0, &out)) {
  case CALL_OK:
    call_chomp (out.data);
    if (strcasecmp (out.data, "none") == 0) r = none;
    else if (strcasecmp (out.data, "emulate") == 0) r = emulate;
    else if (strcasecmp (out.data, "native") == 0) r = native;
    else {
      call_error (method, "could not parse output from %s method: %s",
                  method, out.data);
      nbdkit_set_error (EIO);
    }
    break;
  case CALL_MISSING:
    r = missing_answer;
    break;
  case CALL_FALSE:
    call_error (method, "%s method returned unexpected code (3/false)",
                method);
    nbdkit_set_error (EIO);
    break;
  default:
    break;
  }
  call_output_free (&out);
  return r;
}

int
script_can_fua (void *handle)
{
  int r = tristate_method (handle, "can_fua", NBDKIT_FUA_NONE,
                           NBDKIT_FUA_EMULATE, NBDKIT_FUA_NATIVE, -2);

  /* No answer: a C plugin's rule, emulated by flush if there is one.
   * can_flush is asked only then, its answer not being needed otherwise.
   */
  if (r == -2) {
    r = script_can_flush (handle);
    if (r != -1)
      r = r ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
  }
  return r;
}

int
script_can_cache (void *handle)
{
  return tristate_method (handle, "can_cache", NBDKIT_CACHE_NONE,
                          NBDKIT_CACHE_EMULATE, NBDKIT_CACHE_NATIVE,
                          script_has_method ("cache")
                          ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE);
}
