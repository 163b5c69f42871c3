/* blockkit: the eval plugin, the sh plugin with each method written on
 * the command line as METHOD='shell code' instead of in one script.
 *
 * Each method's code is saved as $tmpdir/METHOD and run as
 * "/bin/sh $tmpdir/METHOD METHOD ARGS...", so the code sees exactly the
 * arguments an sh script would ($1 is the method).  Methods not given run
 * missing= (default "exit 2").  Unlike sh, eval knows which methods it
 * was given, so can_write, can_flush, can_trim, can_zero, can_extents
 * and can_cache need not be written: they default to whether pwrite,
 * flush, ... exist, as for a C plugin.  A parameter that is not a method
 * name goes to the config method.  There is no load method (the code
 * would not be known yet).  Running and answering is shared with sh
 * (plugins/sh: call.c, methods.c, io.c).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* asprintf */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "call.h"
#include "methods.h"

/* The parameters that are methods, and missing= for all the others. */
static const char *const method_names[] = {
  "after_fork", "block_size", "cache", "can_cache", "can_extents",
  "can_fast_zero", "can_flush", "can_fua", "can_multi_conn", "can_trim",
  "can_write", "can_zero", "close", "config", "config_complete",
  "default_export", "dump_plugin", "export_description", "extents",
  "flush", "get_ready", "get_size", "is_rotational", "list_exports",
  "open", "pread", "preconnect", "pwrite", "thread_model", "trim",
  "unload", "zero", "missing",
};
#define NR_METHODS (sizeof method_names / sizeof method_names[0])

/* $tmpdir/METHOD for each method given (and always for missing). */
static char *paths[NR_METHODS];

static int
method_index (const char *name)
{
  size_t i;

  for (i = 0; i < NR_METHODS; i++)
    if (strcmp (method_names[i], name) == 0)
      return i;
  return -1;
}

const char *
script_for_method (const char *method, bool *via_sh)
{
  int i = method_index (method);

  /* Only /bin/sh runs the code, whatever its first line says. */
  *via_sh = true;
  if (i >= 0 && paths[i])
    return paths[i];
  return paths[NR_METHODS - 1];         /* missing */
}

bool
script_has_method (const char *method)
{
  int i = method_index (method);

  return i >= 0 && paths[i] != NULL;
}

/* Save CODE as $tmpdir/NAME and remember it as method I. */
static int
save_method (int i, const char *code)
{
  char *path;
  size_t len = strlen (code);
  int fd;

  if (call_tmpdir == NULL) {
    nbdkit_error ("eval: could not make a temporary directory for $tmpdir");
    return -1;
  }
  if (asprintf (&path, "%s/%s", call_tmpdir, method_names[i]) == -1) {
    nbdkit_error ("asprintf: %m");
    return -1;
  }
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1) {
    nbdkit_error ("%s: %m", path);
    free (path);
    return -1;
  }
  if (write (fd, code, len) != (ssize_t) len ||
      (len > 0 && code[len-1] != '\n' && write (fd, "\n", 1) != 1)) {
    nbdkit_error ("%s: write: %m", path);
    close (fd);
    free (path);
    return -1;
  }
  close (fd);
  free (paths[i]);
  paths[i] = path;
  return 0;
}

static void
eval_load (void)
{
  if (call_load () == -1)
    return;
  /* Until missing= says otherwise, every method not given is missing. */
  if (save_method (NR_METHODS - 1, "exit 2") == -1)
    nbdkit_debug ("eval: cannot write the default missing method");
}

static void
eval_unload (void)
{
  size_t i;

  script_unload ();
  for (i = 0; i < NR_METHODS; i++) {
    free (paths[i]);
    paths[i] = NULL;
  }
}

static int
eval_config (const char *key, const char *value)
{
  int i = method_index (key);
  const char *args[3];

  if (i >= 0)
    return save_method (i, value);

  /* Any other key is for the config method, if there is one yet. */
  if (paths[NR_METHODS - 1] == NULL) {
    nbdkit_error ("eval: could not make a temporary directory for $tmpdir");
    return -1;
  }
  args[0] = key; args[1] = value; args[2] = NULL;
  switch (call_run ("config", args, NULL, 0, NULL)) {
  case CALL_OK:
    return 0;
  case CALL_MISSING:
    call_error ("config", "callback '%s' is unknown, and there is no "
                "'config' callback to handle it", key);
    return -1;
  case CALL_FALSE:
    call_error ("config", "config method returned unexpected code (3/false)");
    return -1;
  default:
    return -1;
  }
}

static int
eval_config_complete (void)
{
  if (paths[NR_METHODS - 1] == NULL) {
    nbdkit_error ("eval: could not make a temporary directory for $tmpdir");
    return -1;
  }
  return script_config_complete ();
}

#define eval_config_help \
  "METHOD=<SCRIPT>       Shell code run for METHOD (get_size, pread, ...).\n" \
  "missing=<SCRIPT>      Shell code run for any method not given."

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "eval",
  .version           = NBDKIT_VERSION_STRING,
  .longname          = "blockkit eval plugin",
  .description       = "A disk served by shell code given per method "
                       "on the command line",
  .load              = eval_load,
  .unload            = eval_unload,
  .dump_plugin       = script_dump_plugin,
  .config            = eval_config,
  .config_complete   = eval_config_complete,
  .config_help       = eval_config_help,
  SCRIPT_METHODS,
};

NBDKIT_REGISTER_PLUGIN (plugin)
