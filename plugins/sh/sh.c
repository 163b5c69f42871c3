/* blockkit: the sh plugin, a disk served by an external script (any
 * executable) that is run as "SCRIPT METHOD ARGS..." for every callback,
 * with the established nbdkit-sh-plugin calling convention.
 *
 * This file is what is particular to sh: the script= parameter (the
 * magic key, so "blockkit sh ./script.sh" works; "-" reads the script
 * from stdin), the script's load and magic_config_key methods, passing
 * every later parameter to its config method, and the two hooks call.c
 * and methods.c ask of a plugin.  Everything else is shared with the
 * eval plugin: call.c runs a method, methods.c and io.c are the
 * callbacks.
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

/* The script to run, absolute (a script read from stdin is copied into
 * $tmpdir).  NULL until script= is seen.
 */
static char *script;

/* What the script's magic_config_key method printed: the key a second
 * bare word on the command line is meant for.
 */
static char *magic_key;

const char *
script_for_method (const char *method, bool *via_sh)
{
  *via_sh = false;
  return script;
}

/* A script is opaque: whether it has a method is only known by running
 * it, which is why sh scripts must write out their can_* methods.
 */
bool
script_has_method (const char *method)
{
  return false;
}

static void
sh_load (void)
{
  /* The server has no way to fail .load; without $tmpdir every script
   * method would fail, and config says so.
   */
  if (call_load () == -1)
    nbdkit_debug ("sh: no temporary directory");
}

static void
sh_unload (void)
{
  script_unload ();
  free (script);
  free (magic_key);
}

/* "script=-": copy stdin into $tmpdir so that it can be run for every
 * method.  It needs no "#!" (call.c runs such a file with /bin/sh).
 */
static char *
inline_script (void)
{
  char *path = NULL, buf[65536];
  ssize_t r;
  int fd;

  if (!nbdkit_stdio_safe ()) {
    nbdkit_error ("inline script is incompatible with -s");
    return NULL;
  }
  if (asprintf (&path, "%s/inline-script.sh", call_tmpdir) == -1) {
    nbdkit_error ("asprintf: %m");
    return NULL;
  }
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
  if (fd == -1) {
    nbdkit_error ("%s: %m", path);
    free (path);
    return NULL;
  }
  while ((r = read (STDIN_FILENO, buf, sizeof buf)) != 0) {
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("reading the script from stdin: %m");
      goto fail;
    }
    if (write (fd, buf, r) != r) {
      nbdkit_error ("%s: write: %m", path);
      goto fail;
    }
  }
  if (close (fd) == -1) {
    fd = -1;
    nbdkit_error ("%s: close: %m", path);
    goto fail;
  }
  return path;

 fail:
  if (fd >= 0)
    close (fd);
  unlink (path);
  free (path);
  return NULL;
}

/* The first parameter: the script, then its load and magic_config_key
 * methods (load runs as soon as the script is known, since it could not
 * run earlier).
 */
static int
set_script (const char *value)
{
  struct call_output out = { 0 };
  int s;

  if (call_tmpdir == NULL) {
    nbdkit_error ("sh: could not make a temporary directory for $tmpdir");
    return -1;
  }
  if (strcmp (value, "-") == 0)
    script = inline_script ();
  else
    script = nbdkit_realpath (value);
  if (script == NULL)
    return -1;

  s = call_run ("load", NULL, NULL, 0, NULL);
  if (s == CALL_ERROR)
    return -1;
  if (s == CALL_FALSE) {
    call_error ("load", "load method returned unexpected code (3/false)");
    return -1;
  }

  s = call_run ("magic_config_key", NULL, NULL, 0, &out);
  if (s == CALL_OK) {
    call_chomp (out.data);
    if (out.data[0] != '\0') {
      magic_key = out.data;
      out.data = NULL;
    }
  }
  call_output_free (&out);
  if (s == CALL_ERROR)
    return -1;
  return 0;
}

static int
sh_config (const char *key, const char *value)
{
  const char *args[3];

  if (script == NULL) {
    if (strcmp (key, "script") != 0) {
      nbdkit_error ("the first parameter must be script=/path/to/script");
      return -1;
    }
    return set_script (value);
  }

  /* The server gives every bare word to script=, our magic key; after
   * the first they belong to the script's own magic key, if it has one.
   */
  if (strcmp (key, "script") == 0) {
    if (magic_key == NULL) {
      call_error ("config", "expecting key=value on the command line "
                  "but got: %s", value);
      return -1;
    }
    key = magic_key;
  }

  args[0] = key; args[1] = value; args[2] = NULL;
  switch (call_run ("config", args, NULL, 0, NULL)) {
  case CALL_OK:
    return 0;
  case CALL_MISSING:
    /* What the server says for a plugin without .config. */
    call_error ("config",
                "this plugin does not need command line configuration");
    return -1;
  case CALL_FALSE:
    call_error ("config", "config method returned unexpected code (3/false)");
    return -1;
  default:
    return -1;
  }
}

static int
sh_config_complete (void)
{
  if (script == NULL) {
    nbdkit_error ("missing script parameter: "
                  "blockkit sh /path/to/script [key=value ...]");
    return -1;
  }
  return script_config_complete ();
}

#define sh_config_help \
  "script=<FILENAME>     (required) The shell script to run.\n" \
  "[other arguments may be used by the plugin that you load]"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "sh",
  .version           = NBDKIT_VERSION_STRING,
  .longname          = "blockkit shell script plugin",
  .description       = "A disk served by a script run for every callback",
  .load              = sh_load,
  .unload            = sh_unload,
  .dump_plugin       = script_dump_plugin,
  .config            = sh_config,
  .config_complete   = sh_config_complete,
  .config_help       = sh_config_help,
  .magic_config_key  = "script",
  SCRIPT_METHODS,
};

NBDKIT_REGISTER_PLUGIN (plugin)
