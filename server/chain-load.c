/* blockkit: loading and configuring a chain from command-line words.
 * Shared by blockkit and nbdattach, so that both take the same plugins,
 * filters and keys.
 */
#include <config.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The loaded chain, and the settings every front end shares. */
struct backend *top;
const char *exportname_option;
bool readonly_option;
unsigned threads_option = DEFAULT_THREADS;
bool oldstyle_option;
bool no_sr_option;
bool no_mc_option;

/* dlopens a plugin or filter file and finds its init function. */
static void *
open_layer (const char *filename, const char *type, const char *symbol,
            void **dl)
{
  void *init;

  *dl = dlopen (filename, RTLD_NOW | RTLD_GLOBAL);
  if (*dl == NULL) {
    fprintf (stderr, "%s: cannot open %s \"%s\": %s\n",
             program_name, type, filename, dlerror ());
    exit (EXIT_FAILURE);
  }
  dlerror ();
  init = dlsym (*dl, symbol);
  if (init == NULL) {
    fprintf (stderr, "%s: %s: not a %s (no %s symbol)\n",
             program_name, filename, type, symbol);
    exit (EXIT_FAILURE);
  }
  return init;
}

/* A URI in place of the plugin name picks the plugin that serves it,
 * which is given the URI as uri= (url= for curl): "blockkit
 * nbds://host/disk" is "blockkit nbd uri=nbds://host/disk", and
 * "blockkit https://host/d.img" is "blockkit curl url=https://host/d.img".
 * Returns the plugin's name, or NAME itself when it is not a URI
 * (scheme "://", RFC 3986 letters).
 */
static const char *
uri_plugin (const char *name)
{
  static const char *const nbd_schemes[] = {
    "nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock",
  };
  const char *sep = strstr (name, "://");
  size_t len, i;

  if (sep == NULL || sep == name ||
      strspn (name, "abcdefghijklmnopqrstuvwxyz"
              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") != (size_t) (sep - name))
    return name;
  len = sep - name;
  for (i = 0; i < sizeof nbd_schemes / sizeof nbd_schemes[0]; ++i)
    if (strlen (nbd_schemes[i]) == len &&
        strncasecmp (name, nbd_schemes[i], len) == 0)
      return "nbd";
  if ((len == 4 && strncasecmp (name, "http", 4) == 0) ||
      (len == 5 && strncasecmp (name, "https", 5) == 0))
    return "curl";
  fprintf (stderr, "%s: %s: unknown URI scheme \"%.*s\" (blockkit serves "
           "nbd://, nbds://, nbd+unix://, nbds+unix:// and nbd+vsock:// "
           "URIs through the nbd plugin, http:// and https:// through the "
           "curl plugin)\n",
           program_name, name, (int) len, name);
  exit (EXIT_FAILURE);
}

static const char *keep (const char *s, size_t n);

/* Loads the plugin, then the filters on top of it.  FILTERS is in
 * command-line order, and the first one given sits nearest the client.
 */
struct backend *
chain_load (const char *plugin_name, char **filters, size_t n_filters)
{
  struct nbdkit_plugin *(*plugin_init) (void);
  struct nbdkit_filter *(*filter_init) (void);
  struct backend *b;
  const char *uri = NULL;
  char *filename;
  void *dl;
  size_t i;

  if (uri_plugin (plugin_name) != plugin_name) {
    uri = plugin_name;
    plugin_name = uri_plugin (uri);
  }
  filename = find_plugin_file (plugin_name);
  *(void **) (&plugin_init) = open_layer (filename, "plugin", "plugin_init",
                                          &dl);
  b = plugin_register (0, filename, dl, plugin_init);
  free (filename);
  /* The URI is the plugin's first parameter, whichever way the rest
   * arrive (command line or nbdattach's configuration file).
   */
  if (uri)
    b->config (b, strcmp (plugin_name, "curl") == 0 ? "url" : "uri",
               keep (uri, strlen (uri)));

  for (i = n_filters; i > 0; --i) {
    filename = find_filter_file (filters[i - 1]);
    *(void **) (&filter_init) = open_layer (filename, "filter",
                                            "filter_init", &dl);
    b = filter_register (b, n_filters - i + 1, filename, dl, filter_init);
    free (filename);
  }
  return b;
}

static bool
is_config_key (const char *key, size_t len)
{
  size_t i;

  if (len == 0 || key[0] == '-')
    return false;
  for (i = 0; i < len; ++i) {
    unsigned char c = key[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

/* Copies S (N bytes of it) into storage that lives until the plugin is
 * unloaded: the plugin API promises that the key and value given to
 * .config stay valid that long, and plugins rely on it (eval and sh keep
 * the key as the name of a method, tmpdisk as the name of a variable).
 * So a key is never a temporary copy freed after .config, and the value
 * is copied too, since a caller's words (a config file's, say) may not
 * outlive this call.  The global interns are freed only after unload.
 */
static const char *
keep (const char *s, size_t n)
{
  const char *r = nbdkit_strndup_intern (s, n);

  if (r == NULL)
    exit (EXIT_FAILURE);
  return r;
}

/* Passes KEY=VALUE parameters to the chain (.config only).  A bare word
 * is the value of the plugin's magic key, if it has one; without one, a
 * bare FIRST word is "script=" (as nbdkit(1) says under "Magic
 * parameters"), which is how "cc plugin.c" and shebang scripts for the
 * language plugins name their script.
 */
void
chain_config_params (int argc, char **argv)
{
  const char *magic = top->magic_config_key (top);
  int i;

  for (i = 0; i < argc; ++i) {
    const char *eq = strchr (argv[i], '=');

    if (eq && is_config_key (argv[i], eq - argv[i]))
      top->config (top, keep (argv[i], eq - argv[i]),
                   keep (eq + 1, strlen (eq + 1)));
    else if (magic)
      top->config (top, magic, keep (argv[i], strlen (argv[i])));
    else if (i == 0)
      top->config (top, "script", keep (argv[i], strlen (argv[i])));
    else {
      fprintf (stderr, "%s: expected KEY=VALUE after the plugin name, got "
               "\"%s\" (plugin %s has no magic key, see '%s %s --help')\n",
               program_name, argv[i], top->name, program_name, top->name);
      exit (EXIT_FAILURE);
    }
  }
}

/* The whole configuration phase: .config for each parameter, then
 * .config_complete.
 */
void
chain_configure (int argc, char **argv)
{
  chain_config_params (argc, argv);
  top->config_complete (top);
}

