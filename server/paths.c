/* blockkit: path and password helpers for plugins and filters.
 *
 * nbdkit_absolute_path makes a relative path absolute against the
 * current directory (so a plugin can keep using it after the server
 * changes directory when daemonizing), without touching the file
 * system: symlinks, "." and ".." are kept as written.
 *
 * nbdkit_realpath is realpath(3) with an error message.
 *
 * nbdkit_read_password understands:
 *   "-"          prompt on the terminal and read one line, echo off
 *   "-FD"        read file descriptor FD (decimal, > 2) until EOF, then
 *                close it (it cannot be usefully read twice anyway, and
 *                closing it keeps it from leaking into plugin children)
 *   "+FILENAME"  read the whole file
 *   anything else  is the password itself
 * One trailing newline is removed from what is read.  A value starting
 * with "-" that is not followed by a decimal file descriptor is an
 * error rather than a literal password: "-3x" is far more likely to be
 * a typo than a password.  (Use "+FILE" for passwords starting with -.)
 */

#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <termios.h>

#include "internal.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* getcwd into a malloc'd buffer of whatever size is needed. */
static char *
get_cwd (void)
{
  size_t len = 256;
  char *buf = NULL, *nbuf;

  for (;;) {
    nbuf = realloc (buf, len);
    if (nbuf == NULL) {
      nbdkit_error ("realloc: %s", strerror (errno));
      free (buf);
      return NULL;
    }
    buf = nbuf;
    if (getcwd (buf, len) != NULL)
      return buf;
    if (errno != ERANGE) {
      nbdkit_error ("getcwd: cannot get the current directory: %s",
                    strerror (errno));
      free (buf);
      return NULL;
    }
    if (len > SIZE_MAX / 2) {
      nbdkit_error ("getcwd: current directory name is too long");
      free (buf);
      return NULL;
    }
    len *= 2;
  }
}

NBDKIT_DLL_PUBLIC char *
nbdkit_absolute_path (const char *path)
{
  char *cwd, *ret;
  size_t cwdlen, pathlen;

  if (path == NULL || *path == '\0') {
    nbdkit_error ("nbdkit_absolute_path: cannot make an absolute path "
                  "from %s", path == NULL ? "a NULL path" : "an empty path");
    return NULL;
  }

  if (*path == '/') {
    ret = strdup (path);
    if (ret == NULL)
      nbdkit_error ("strdup: %s", strerror (errno));
    return ret;
  }

  cwd = get_cwd ();
  if (cwd == NULL)
    return NULL;

  cwdlen = strlen (cwd);
  pathlen = strlen (path);
  ret = malloc (cwdlen + 1 + pathlen + 1);
  if (ret == NULL) {
    nbdkit_error ("malloc: %s", strerror (errno));
    free (cwd);
    return NULL;
  }
  memcpy (ret, cwd, cwdlen);
  /* The root directory already ends with '/'. */
  if (cwdlen == 0 || cwd[cwdlen - 1] != '/')
    ret[cwdlen++] = '/';
  memcpy (ret + cwdlen, path, pathlen + 1);
  free (cwd);
  return ret;
}

NBDKIT_DLL_PUBLIC char *
nbdkit_realpath (const char *path)
{
  char *ret;

  if (path == NULL || *path == '\0') {
    nbdkit_error ("nbdkit_realpath: cannot resolve %s",
                  path == NULL ? "a NULL path" : "an empty path");
    return NULL;
  }

  ret = realpath (path, NULL);
  if (ret == NULL) {
    int err = errno;
    nbdkit_error ("realpath: \"%s\": %s", path, strerror (err));
    errno = err;
    return NULL;
  }
  return ret;
}

/* Read FD until EOF into a malloc'd, NUL-terminated string.  WHAT names
 * the source for error messages.
 */
static char *
read_all (int fd, const char *what)
{
  size_t len = 0, cap = 128;
  char *buf, *nbuf;
  ssize_t r;

  buf = malloc (cap);
  if (buf == NULL) {
    nbdkit_error ("malloc: %s", strerror (errno));
    return NULL;
  }

  for (;;) {
    if (cap - len < 2) {
      if (cap > SIZE_MAX / 2) {
        nbdkit_error ("reading password from %s: too long", what);
        goto err;
      }
      cap *= 2;
      nbuf = realloc (buf, cap);
      if (nbuf == NULL) {
        nbdkit_error ("realloc: %s", strerror (errno));
        goto err;
      }
      buf = nbuf;
    }
    r = read (fd, buf + len, cap - len - 1);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("reading password from %s: %s", what, strerror (errno));
      goto err;
    }
    if (r == 0)
      break;
    len += r;
  }

  buf[len] = '\0';
  if (memchr (buf, '\0', len) != NULL) {
    nbdkit_error ("reading password from %s: the password contains "
                  "a NUL byte", what);
    goto err;
  }
  return buf;

 err:
  /* Don't leave pieces of a password lying around in freed memory. */
  memset (buf, 0, cap);
  free (buf);
  return NULL;
}

static void
strip_one_newline (char *s)
{
  size_t len = strlen (s);

  if (len > 0 && s[len - 1] == '\n')
    s[len - 1] = '\0';
}

static int
read_password_interactive (char **password)
{
  struct termios orig, noecho;
  bool restore = false;
  char *line = NULL;
  size_t n = 0;
  ssize_t r;
  int err;

  if (!nbdkit_stdio_safe ()) {
    nbdkit_error ("stdin is not available for reading a password "
                  "(it is in use by the server)");
    return -1;
  }
  if (!isatty (STDIN_FILENO)) {
    nbdkit_error ("stdin is not a tty, cannot read password interactively");
    return -1;
  }

  printf ("password: ");
  fflush (stdout);

  if (tcgetattr (STDIN_FILENO, &orig) == 0) {
    noecho = orig;
    noecho.c_lflag &= ~ECHO;
    if (tcsetattr (STDIN_FILENO, TCSAFLUSH, &noecho) == 0)
      restore = true;
  }

  errno = 0;
  r = getline (&line, &n, stdin);
  err = errno;

  if (restore)
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &orig);
  printf ("\n");
  fflush (stdout);

  if (r == -1) {
    if (err != 0)
      nbdkit_error ("reading password from the terminal: %s", strerror (err));
    else
      nbdkit_error ("reading password from the terminal: end of file");
    free (line);
    return -1;
  }

  strip_one_newline (line);
  *password = line;
  return 0;
}

static int
read_password_from_fd (const char *value, char **password)
{
  const char *p;
  long fd = 0;
  char what[64];
  char *buf;

  /* value = "-FD": decimal digits only. */
  for (p = value + 1; *p >= '0' && *p <= '9'; p++) {
    fd = fd * 10 + (*p - '0');
    if (fd > INT32_MAX)
      break;
  }
  if (p == value + 1 || *p != '\0') {
    nbdkit_error ("password: could not parse file descriptor in \"%s\" "
                  "(expected -FD where FD is a decimal number)", value);
    return -1;
  }
  if (fd <= 2) {
    nbdkit_error ("password: file descriptor must be greater than 2 "
                  "(stdin, stdout and stderr cannot be used): \"%s\"", value);
    return -1;
  }

  snprintf (what, sizeof what, "file descriptor %ld", fd);
  buf = read_all ((int) fd, what);
  close ((int) fd);
  if (buf == NULL)
    return -1;
  strip_one_newline (buf);
  *password = buf;
  return 0;
}

static int
read_password_from_file (const char *filename, char **password)
{
  int fd;
  char *buf;

  if (*filename == '\0') {
    nbdkit_error ("password: missing file name after \"+\"");
    return -1;
  }

  fd = open (filename, O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    nbdkit_error ("password: open: \"%s\": %s", filename, strerror (errno));
    return -1;
  }
  buf = read_all (fd, filename);
  close (fd);
  if (buf == NULL)
    return -1;
  strip_one_newline (buf);
  *password = buf;
  return 0;
}

NBDKIT_DLL_PUBLIC int
nbdkit_read_password (const char *value, char **password)
{
  *password = NULL;

  if (value == NULL) {
    nbdkit_error ("password: missing value (NULL string)");
    return -1;
  }

  if (strcmp (value, "-") == 0)
    return read_password_interactive (password);
  if (value[0] == '-')
    return read_password_from_fd (value, password);
  if (value[0] == '+')
    return read_password_from_file (value + 1, password);

  *password = strdup (value);
  if (*password == NULL) {
    nbdkit_error ("strdup: %s", strerror (errno));
    return -1;
  }
  return 0;
}
