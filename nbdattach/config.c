/* nbdattach: per-device configuration files, from disk to the chain.
 *
 * /etc/blockkit/devices/NAME.conf (or the directory in
 * $BLOCKKIT_CONFIG_DIR, or a path given with a '/') is read here, with
 * a bound on its size, and parsed by config-parse.c, which also has the
 * format.  nbdattach's own keys become options; every other key is a
 * parameter of the chain, which this file passes to the chain one line
 * at a time so that a key the plugin or a filter rejects is blamed on
 * its file and line.  See nbdattach(8), "CONFIGURATION FILES".
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"

/* A path that stays right after the daemon's chdir("/"): the current
 * directory in front of a relative one.  Not realpath, so that a file
 * that does not exist yet (a pidfile) or not at all (an error to report
 * later) still has a name.
 */
char *
absolute_path (const char *path)
{
  char *cwd, *r;

  if (path[0] == '/')
    return strdup (path);
  /* "./x.conf" reads better in messages as ".../x.conf". */
  while (path[0] == '.' && path[1] == '/')
    for (path += 2; *path == '/'; ++path)
      ;
  cwd = getcwd (NULL, 0);
  if (cwd == NULL)
    return NULL;
  if (asprintf (&r, "%s/%s", cwd, path) == -1)
    r = NULL;
  free (cwd);
  return r;
}

/* The path for NAME: a path as given (made absolute), or the file in the
 * config dir.  NULL if NAME is not a valid device name.
 */
char *
config_path (const char *name)
{
  const char *dir = getenv ("BLOCKKIT_CONFIG_DIR");
  char *path;
  const char *p;

  if (strchr (name, '/'))
    return absolute_path (name);
  /* NAME becomes the backend name: the same 200 as --name. */
  if (*name == '\0' || *name == '.' || strlen (name) > 200)
    return NULL;
  for (p = name; *p; ++p)
    if (!isalnum ((unsigned char) *p) && !strchr ("-_.:@", *p))
      return NULL;
  if (asprintf (&path, "%s/%s.conf", dir ? dir : CONFIG_DIR, name) == -1)
    return NULL;
  return path;
}

/* Reads a whole file, at most CONFIG_MAX_SIZE + 1 bytes of it (one more
 * than allowed, so that the parser can tell a file that is too large;
 * /dev/zero must not fill memory).  Returns the bytes, or NULL with
 * errno set.
 */
static char *
read_bounded (const char *path, size_t *len)
{
  size_t cap = 4096, n = 0;
  char *buf = NULL;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd == -1)
    return NULL;
  for (;;) {
    ssize_t r;

    if (n == cap || buf == NULL) {
      char *p;
      if (buf)
        cap *= 2;
      if (cap > CONFIG_MAX_SIZE + 1)
        cap = CONFIG_MAX_SIZE + 1;
      p = realloc (buf, cap);
      if (p == NULL)
        goto error;
      buf = p;
    }
    if (n == CONFIG_MAX_SIZE + 1)
      break;
    r = read (fd, buf + n, cap - n);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      goto error;
    if (r == 0)
      break;
    n += r;
  }
  close (fd);
  *len = n;
  return buf;

 error: {
    int e = errno;
    close (fd);
    free (buf);
    errno = e;
    return NULL;
  }
}

void
read_config (const char *name, struct device_config *cfg)
{
  char *path = config_path (name);
  char *text;
  size_t len;
  int r;

  if (path == NULL) {
    char shown[CONFIG_SHOW_BUF];
    fprintf (stderr, "nbdattach: %s: not a valid device name (1 to 200 "
             "letters, digits and -_.:@, not starting with a dot)\n",
             config_escape (shown, name, strlen (name), CONFIG_SHOW_MAX,
                            false));
    exit (EXIT_FAILURE);
  }
  text = read_bounded (path, &len);
  if (text == NULL) {
    char shown[CONFIG_PATH_SHOW_BUF];
    fprintf (stderr, "nbdattach: %s: %s\n",
             config_escape (shown, path, strlen (path),
                            CONFIG_PATH_SHOW_MAX, false),
             strerror (errno));
    exit (EXIT_FAILURE);
  }
  r = config_parse (text, len, path, cfg);
  free (text);
  free (path);
  if (r == -1)
    exit (EXIT_FAILURE);
}

/* While the chain takes the file's parameters, where the current one
 * came from: a plugin or filter that rejects a key prints its own
 * message and exits, and this names the line it came from after it.
 */
static const char *blame_path;
static int blame_line;

static void
blame_config_line (void)
{
  char shown[CONFIG_PATH_SHOW_BUF];

  if (blame_path == NULL)
    return;
  config_escape (shown, blame_path, strlen (blame_path),
                 CONFIG_PATH_SHOW_MAX, false);
  if (blame_line > 0)
    fprintf (stderr, "nbdattach: %s:%d: this is the line the message "
             "above is about\n", shown, blame_line);
  else
    fprintf (stderr, "nbdattach: %s: the chain's settings in this file "
             "are incomplete or inconsistent (see the message above)\n",
             shown);
}

/* chain_configure, a line at a time: every key in a file passed the
 * parser's key check, so each is a KEY=VALUE (never the magic key's bare
 * value).  Key and value are interned as chain_configure does: a plugin
 * may keep the pointers it was given (eval keeps the key as a method's
 * name) until it is unloaded.
 */
void
config_configure_chain (const struct device_config *cfg)
{
  static bool registered;
  size_t i;

  if (!registered) {
    atexit (blame_config_line);
    registered = true;
  }
  blame_path = cfg->path;
  for (i = 0; i < cfg->n_params; ++i) {
    const char *eq = strchr (cfg->params[i], '=');
    const char *key = nbdkit_strndup_intern (cfg->params[i],
                                             eq - cfg->params[i]);
    const char *value = nbdkit_strdup_intern (eq + 1);

    if (key == NULL || value == NULL)
      exit (EXIT_FAILURE);
    blame_line = cfg->param_lines[i];
    top->config (top, key, value);
  }
  blame_line = 0;
  top->config_complete (top);
  blame_path = NULL;
}

/* One word of a shell command line, quoted if it needs to be, so that
 * --check-config prints something a script can paste.
 */
void
print_shell_word (const char *s)
{
  const char *p;

  if (*s && strspn (s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_-./:=@%+,") == strlen (s)) {
    fputs (s, stdout);
    return;
  }
  putchar ('\'');
  for (p = s; *p; ++p)
    if (*p == '\'')
      fputs ("'\\''", stdout);
    else
      putchar (*p);
  putchar ('\'');
}
