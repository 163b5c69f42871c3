/* blockkit: unit tests for server/paths.c (absolute paths, realpath,
 * reading passwords).
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
#include <sys/stat.h>

#include "internal.h"
#include "test-stubs.h"

static char tmpdir[] = "/tmp/blockkit-test-paths.XXXXXX";

static bool
streq (const char *a, const char *b)
{
  return a && b && strcmp (a, b) == 0;
}

static void
write_file (const char *path, const char *data, size_t len)
{
  int fd = open (path, O_WRONLY|O_CREAT|O_TRUNC, 0600);

  if (fd == -1 || write (fd, data, len) != (ssize_t) len || close (fd) == -1) {
    perror (path);
    exit (1);
  }
}

static void
test_absolute_path (void)
{
  char cwd[4096];
  char expected[8192];
  char *r;

  CHECK (getcwd (cwd, sizeof cwd) != NULL);

  test_reset_error ();
  r = nbdkit_absolute_path ("/already/absolute");
  CHECK (streq (r, "/already/absolute"));
  free (r);

  r = nbdkit_absolute_path ("foo");
  snprintf (expected, sizeof expected, "%s/foo", cwd);
  CHECK (streq (r, expected));
  free (r);

  /* Not normalized, symlinks not resolved, file need not exist. */
  r = nbdkit_absolute_path ("../x/./y//z");
  snprintf (expected, sizeof expected, "%s/../x/./y//z", cwd);
  CHECK (streq (r, expected));
  free (r);
  CHECK_NO_ERROR ();

  test_reset_error ();
  CHECK (nbdkit_absolute_path (NULL) == NULL);
  CHECK_ERROR ("nbdkit_absolute_path");
  test_reset_error ();
  CHECK (nbdkit_absolute_path ("") == NULL);
  CHECK_ERROR ("empty");

  /* In the root directory there is no doubled slash. */
  CHECK (chdir ("/") == 0);
  r = nbdkit_absolute_path ("etc/passwd");
  CHECK (streq (r, "/etc/passwd"));
  free (r);

  /* A symlinked directory is kept as written. */
  CHECK (chdir (tmpdir) == 0);
  r = nbdkit_absolute_path ("link/file");
  snprintf (expected, sizeof expected, "%s/link/file", tmpdir);
  CHECK (streq (r, expected));
  free (r);

  CHECK (chdir (cwd) == 0);
}

static void
test_realpath (void)
{
  char path[4096], expected[4096];
  char *r;

  test_reset_error ();
  r = nbdkit_realpath ("/");
  CHECK (streq (r, "/"));
  free (r);

  /* tmpdir/link -> tmpdir/dir; realpath resolves it. */
  snprintf (path, sizeof path, "%s/link/file", tmpdir);
  r = nbdkit_realpath (path);
  CHECK (r != NULL);
  if (r) {
    char *dir = realpath (tmpdir, NULL);
    CHECK (dir != NULL);
    snprintf (expected, sizeof expected, "%s/dir/file", dir ? dir : "");
    CHECK (streq (r, expected));
    free (dir);
  }
  free (r);
  CHECK_NO_ERROR ();

  snprintf (path, sizeof path, "%s/does-not-exist", tmpdir);
  test_reset_error ();
  CHECK (nbdkit_realpath (path) == NULL);
  CHECK_ERROR (path);
  CHECK_ERROR (strerror (ENOENT));

  test_reset_error ();
  CHECK (nbdkit_realpath (NULL) == NULL);
  CHECK_ERROR ("nbdkit_realpath");
  test_reset_error ();
  CHECK (nbdkit_realpath ("") == NULL);
  CHECK_ERROR ("nbdkit_realpath");
}

#define PW_OK(value, expected)                                          \
  do {                                                                  \
    char *pw_ = (char *) 1;                                             \
    test_reset_error ();                                                \
    if (nbdkit_read_password ((value), &pw_) != 0 ||                    \
        !streq (pw_, (expected))) {                                     \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_read_password (\"%s\") "  \
               "gave \"%s\", expected \"%s\"\n", __FILE__, __LINE__,    \
               (value), pw_ && pw_ != (char *) 1 ? pw_ : "(null)",      \
               (expected));                                             \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_NO_ERROR ();                                                  \
    if (pw_ != (char *) 1)                                              \
      free (pw_);                                                       \
  } while (0)

#define PW_BAD(value, needle)                                           \
  do {                                                                  \
    char *pw_ = (char *) 1;                                             \
    test_reset_error ();                                                \
    if (nbdkit_read_password ((value), &pw_) != -1 || pw_ != NULL) {    \
      fprintf (stderr, "%s:%d: FAILED: nbdkit_read_password (\"%s\") "  \
               "should fail and set *password to NULL\n",               \
               __FILE__, __LINE__, (value));                            \
      test_failures++;                                                  \
    }                                                                   \
    CHECK_ERROR (needle);                                               \
  } while (0)

/* Make a pipe holding DATA (write end closed); return the read end. */
static int
pipe_with (const char *data)
{
  int fds[2];
  size_t len = strlen (data);

  if (pipe (fds) == -1 || write (fds[1], data, len) != (ssize_t) len) {
    perror ("pipe");
    exit (1);
  }
  close (fds[1]);
  return fds[0];
}

static void
test_password (void)
{
  char value[8192], file[4096];
  char *big, *pw;
  int fd, saved_stdin;
  size_t i;

  /* Literal passwords. */
  PW_OK ("secret", "secret");
  PW_OK ("", "");
  PW_OK ("with spaces and\nnewline\n", "with spaces and\nnewline\n");
  PW_OK ("a-b+c", "a-b+c");

  /* +FILENAME: one trailing newline is removed, no more. */
  snprintf (file, sizeof file, "%s/pw1", tmpdir);
  write_file (file, "hunter2\n", 8);
  snprintf (value, sizeof value, "+%s", file);
  PW_OK (value, "hunter2");

  write_file (file, "hunter2", 7);
  PW_OK (value, "hunter2");

  write_file (file, "two\n\n", 5);
  PW_OK (value, "two\n");

  write_file (file, "", 0);
  PW_OK (value, "");

  write_file (file, "a\0b", 3);
  PW_BAD (value, "NUL");

  /* A big file exercises buffer growth. */
  big = malloc (100001);
  CHECK (big != NULL);
  for (i = 0; i < 100000; ++i)
    big[i] = 'a' + i % 26;
  big[100000] = '\0';
  write_file (file, big, 100000);
  PW_OK (value, big);
  free (big);

  snprintf (value, sizeof value, "+%s/no-such-file", tmpdir);
  PW_BAD (value, "no-such-file");
  PW_BAD ("+", "file name");

  /* -FD: read to EOF, one newline removed, fd closed afterwards. */
  fd = pipe_with ("from a pipe\n");
  CHECK (fd > 2);
  snprintf (value, sizeof value, "-%d", fd);
  PW_OK (value, "from a pipe");
  errno = 0;
  CHECK (fcntl (fd, F_GETFD) == -1 && errno == EBADF);

  fd = pipe_with ("");
  snprintf (value, sizeof value, "-%d", fd);
  PW_OK (value, "");

  PW_BAD ("-0", "greater than 2");
  PW_BAD ("-1", "greater than 2");
  PW_BAD ("-2", "-2");
  PW_BAD ("-3x", "-3x");
  PW_BAD ("-x", "file descriptor");
  PW_BAD ("--3", "file descriptor");
  PW_BAD ("- 3", "file descriptor");
  PW_BAD ("-99999999999999999999", "file descriptor");
  /* A closed descriptor is an error naming it. */
  PW_BAD ("-999", "999");

  /* "-" with stdin not a terminal. */
  saved_stdin = dup (STDIN_FILENO);
  fd = open ("/dev/null", O_RDONLY);
  CHECK (saved_stdin >= 0 && fd >= 0);
  CHECK (dup2 (fd, STDIN_FILENO) == STDIN_FILENO);
  close (fd);
  PW_BAD ("-", "stdin is not a tty, cannot read password interactively");
  CHECK (dup2 (saved_stdin, STDIN_FILENO) == STDIN_FILENO);
  close (saved_stdin);

  /* NULL value. */
  pw = (char *) 1;
  test_reset_error ();
  CHECK (nbdkit_read_password (NULL, &pw) == -1);
  CHECK (pw == NULL);
  CHECK_ERROR ("password");
}

int
main (void)
{
  char path[4096];

  if (mkdtemp (tmpdir) == NULL) {
    perror ("mkdtemp");
    exit (1);
  }
  snprintf (path, sizeof path, "%s/dir", tmpdir);
  if (mkdir (path, 0700) == -1) {
    perror (path);
    exit (1);
  }
  snprintf (path, sizeof path, "%s/dir/file", tmpdir);
  write_file (path, "", 0);
  snprintf (path, sizeof path, "%s/link", tmpdir);
  if (symlink ("dir", path) == -1) {
    perror (path);
    exit (1);
  }

  test_absolute_path ();
  test_realpath ();
  test_password ();

  /* Clean up. */
  snprintf (path, sizeof path, "%s/link", tmpdir);
  unlink (path);
  snprintf (path, sizeof path, "%s/dir/file", tmpdir);
  unlink (path);
  snprintf (path, sizeof path, "%s/dir", tmpdir);
  rmdir (path);
  snprintf (path, sizeof path, "%s/pw1", tmpdir);
  unlink (path);
  rmdir (tmpdir);

  if (test_failures) {
    fprintf (stderr, "test-paths: %u check(s) FAILED\n", test_failures);
    return 1;
  }
  printf ("test-paths: all checks passed\n");
  return 0;
}
