/* blockkit: the file plugin's directory mode (dir=): every regular file
 * or block device in the directory is an export named by its file name,
 * the first by name being the default.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* asprintf */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <sys/types.h>
#include <sys/stat.h>

#include "file.h"

/* Directory mode: the names of the exports, sorted.  Each regular file
 * or block device (following symlinks) whose name does not begin with
 * '.'.  Returns a NULL-terminated array, or NULL after an error.
 */
static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
free_names (char **names)
{
  size_t i;

  if (names) {
    for (i = 0; names[i]; ++i)
      free (names[i]);
    free (names);
  }
}

static char **
list_dir (void)
{
  DIR *dir;
  struct dirent *d;
  char **names = NULL;
  size_t n = 0, alloc = 0;

  dir = opendir (directory);
  if (dir == NULL) {
    nbdkit_error ("file: dir=%s: opendir: %m", directory);
    return NULL;
  }

  for (;;) {
    struct stat st;

    errno = 0;
    d = readdir (dir);
    if (d == NULL) {
      if (errno != 0) {
        nbdkit_error ("file: dir=%s: readdir: %m", directory);
        goto err;
      }
      break;
    }
    if (d->d_name[0] == '.')
      continue;
    if (fstatat (dirfd (dir), d->d_name, &st, 0) == -1)
      continue;                 /* vanished, or a dangling symlink */
    if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
      continue;

    if (n + 2 > alloc) {
      size_t nalloc = alloc ? alloc * 2 : 16;
      char **p = realloc (names, nalloc * sizeof *p);
      if (p == NULL) {
        nbdkit_error ("file: realloc: %m");
        goto err;
      }
      names = p;
      alloc = nalloc;
    }
    names[n] = strdup (d->d_name);
    if (names[n] == NULL) {
      nbdkit_error ("file: strdup: %m");
      goto err;
    }
    names[++n] = NULL;
  }
  closedir (dir);

  if (names == NULL) {
    names = calloc (1, sizeof *names);
    if (names == NULL) {
      nbdkit_error ("file: calloc: %m");
      return NULL;
    }
  }
  qsort (names, n, sizeof *names, compare_names);
  return names;

 err:
  if (names)
    names[n] = NULL;
  free_names (names);
  closedir (dir);
  return NULL;
}

int
file_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  char **names;
  size_t i;
  int r = 0;

  if (directory == NULL)
    return nbdkit_use_default_export (exports);

  names = list_dir ();
  if (names == NULL)
    return -1;
  for (i = 0; names[i]; ++i) {
    if (nbdkit_add_export (exports, names[i], NULL) == -1) {
      r = -1;
      break;
    }
  }
  free_names (names);
  return r;
}

const char *
file_default_export (int readonly, int is_tls)
{
  char **names;
  const char *r;

  if (directory == NULL)
    return "";

  /* In directory mode the default export is the first file by name. */
  names = list_dir ();
  if (names == NULL)
    return NULL;
  if (names[0] == NULL) {
    nbdkit_error ("file: dir=%s: the directory has no files to serve",
                  directory);
    free_names (names);
    return NULL;
  }
  r = nbdkit_strdup_intern (names[0]);
  free_names (names);
  return r;
}

/* Is NAME acceptable as a file name inside dir=? */
static bool
valid_export_name (const char *name)
{
  return name[0] != '\0' && name[0] != '.' && strchr (name, '/') == NULL;
}

/* The path of the file the client's export name selects (the default
 * export for ""), or NULL after an error (errno EINVAL for a name that
 * is not a plain file name, so the client is told so).
 */
char *
file_dir_export_path (void)
{
  const char *name = nbdkit_export_name ();
  char *path;

  if (name == NULL || name[0] == '\0') {
    name = file_default_export (0, 0);
    if (name == NULL)
      return NULL;
  }
  if (!valid_export_name (name)) {
    nbdkit_error ("file: export name '%s' is not allowed: it must be "
                  "a file name in dir=%s, not containing '/' and not "
                  "starting with '.'", name, directory);
    errno = EINVAL;
    return NULL;
  }
  if (asprintf (&path, "%s/%s", directory, name) == -1) {
    nbdkit_error ("file: asprintf: %m");
    return NULL;
  }
  return path;
}
