/* nbdattach: per-device configuration files.
 *
 * /etc/blockkit/devices/NAME.conf holds one "key = value" per line
 * (blank lines and lines starting with # are ignored).  The keys
 * nbdattach knows (plugin, filter, connections, block-size, readonly,
 * timeout, dead-timeout, device, exportname, swap, name) set its
 * options; every other key is a parameter of the chain, passed as
 * key=value in the order given.  A chain key that happens to share a
 * name with one of nbdattach's is written with a "chain." prefix.
 * See nbdattach(8), "CONFIGURATION FILES".
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbdattach.h"

static void __attribute__ ((noreturn))
config_error (const char *file, int line, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
config_error (const char *file, int line, const char *fmt, ...)
{
  va_list args;

  if (line > 0)
    fprintf (stderr, "nbdattach: %s:%d: ", file, line);
  else
    fprintf (stderr, "nbdattach: %s: ", file);
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fprintf (stderr, "\n");
  exit (EXIT_FAILURE);
}

static char *
trim (char *s)
{
  char *e;

  while (isspace ((unsigned char) *s))
    s++;
  e = s + strlen (s);
  while (e > s && isspace ((unsigned char) e[-1]))
    *--e = '\0';
  return s;
}

static void
append (char ***list, size_t *n, const char *s)
{
  char **p = realloc (*list, (*n + 2) * sizeof *p);

  if (p == NULL || (p[*n] = strdup (s)) == NULL) {
    perror ("nbdattach");
    exit (EXIT_FAILURE);
  }
  p[++*n] = NULL;
  *list = p;
}

/* The path for NAME: a path as given, or the file in the config dir. */
char *
config_path (const char *name)
{
  const char *dir = getenv ("BLOCKKIT_CONFIG_DIR");
  char *path;
  const char *p;

  if (strchr (name, '/'))
    return strdup (name);
  if (*name == '\0' || *name == '.')
    return NULL;
  for (p = name; *p; ++p)
    if (!isalnum ((unsigned char) *p) && !strchr ("-_.:@", *p))
      return NULL;
  if (asprintf (&path, "%s/%s.conf", dir ? dir : CONFIG_DIR, name) == -1)
    return NULL;
  return path;
}

void
read_config (const char *name, struct device_config *cfg)
{
  char *path = config_path (name);
  char *line = NULL;
  size_t len = 0;
  int lineno = 0;
  FILE *fp;

  if (path == NULL)
    config_error (name, 0, "not a valid device name (letters, digits and "
                  "-_.:@ only)");
  fp = fopen (path, "re");
  if (fp == NULL)
    config_error (path, 0, "%s", strerror (errno));

  memset (cfg, 0, sizeof *cfg);
  cfg->path = path;
  while (getline (&line, &len, fp) != -1) {
    char *key, *value, *eq;

    lineno++;
    key = trim (line);
    if (*key == '\0' || *key == '#')
      continue;
    eq = strchr (key, '=');
    if (eq == NULL)
      config_error (path, lineno, "expected \"key = value\", got \"%s\"",
                    key);
    *eq = '\0';
    value = trim (eq + 1);
    key = trim (key);
    if (*key == '\0')
      config_error (path, lineno, "missing key before '='");
    if (strspn (key, "abcdefghijklmnopqrstuvwxyz"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen (key))
      config_error (path, lineno, "invalid key \"%s\"", key);

    if (strcmp (key, "plugin") == 0) {
      if (cfg->plugin)
        config_error (path, lineno, "plugin given twice");
      if (*value == '\0')
        config_error (path, lineno, "plugin needs a value");
      cfg->plugin = strdup (value);
    }
    else if (strcmp (key, "filter") == 0) {
      if (*value == '\0')
        config_error (path, lineno, "filter needs a value");
      append (&cfg->filters, &cfg->n_filters, value);
    }
    else if (strcmp (key, "connections") == 0 ||
             strcmp (key, "block-size") == 0 ||
             strcmp (key, "readonly") == 0 ||
             strcmp (key, "timeout") == 0 ||
             strcmp (key, "dead-timeout") == 0 ||
             strcmp (key, "device") == 0 ||
             strcmp (key, "exportname") == 0 ||
             strcmp (key, "swap") == 0 ||
             strcmp (key, "name") == 0) {
      char *opt;
      if (*value == '\0')
        config_error (path, lineno, "%s needs a value", key);
      if (asprintf (&opt, "%s=%s", key, value) == -1) {
        perror ("nbdattach");
        exit (EXIT_FAILURE);
      }
      append (&cfg->options, &cfg->n_options, opt);
      free (opt);
    }
    else {
      char *kv;
      if (strncmp (key, "chain.", 6) == 0)
        key += 6;
      if (asprintf (&kv, "%s=%s", key, value) == -1) {
        perror ("nbdattach");
        exit (EXIT_FAILURE);
      }
      append (&cfg->params, &cfg->n_params, kv);
      free (kv);
    }
  }
  free (line);
  fclose (fp);
  if (cfg->plugin == NULL)
    config_error (path, 0, "no \"plugin = NAME\" line");
}
