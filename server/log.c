/* blockkit: error and debug messages, for the server and for plugins.
 *
 * Each message is formatted first and written with one call, so messages
 * from different threads never interleave mid-line.  In the background
 * (no -f, no --run) they go to syslog, since stderr is gone.
 */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "internal.h"

bool verbose;
bool log_to_syslog;
bool log_to_null;
const char *program_name = "blockkit";

static void
emit (int priority, const char *kind, const char *fmt, va_list args)
{
  const char *name = threadlocal_get_name ();
  char *msg = NULL;
  char *line = NULL;
  int len;

  if (log_to_null)
    return;
  if (vasprintf (&msg, fmt, args) == -1)
    msg = NULL;

  if (log_to_syslog) {
    syslog (priority, "%s%s%s", name ? name : "", name ? ": " : "",
            msg ? msg : fmt);
    free (msg);
    return;
  }

  len = asprintf (&line, "%s: %s%s%s: %s\n", program_name,
                  name ? name : "", name ? ": " : "", kind, msg ? msg : fmt);
  if (len > 0) {
    /* Best effort: a failed write to stderr has nowhere to be reported. */
    ssize_t r = write (STDERR_FILENO, line, len);
    (void) r;
  }
  free (line);
  free (msg);
}

void
nbdkit_verror (const char *fmt, va_list args)
{
  int saved_errno = errno;

  errno = saved_errno;          /* for %m */
  emit (LOG_ERR, "error", fmt, args);
  errno = saved_errno;
}

void
nbdkit_error (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  va_start (args, fmt);
  errno = saved_errno;
  emit (LOG_ERR, "error", fmt, args);
  va_end (args);
  errno = saved_errno;
}

void
nbdkit_vdebug (const char *fmt, va_list args)
{
  int saved_errno = errno;

  if (!verbose)
    return;
  emit (LOG_DEBUG, "debug", fmt, args);
  errno = saved_errno;
}

void
nbdkit_debug (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  if (!verbose)
    return;
  va_start (args, fmt);
  emit (LOG_DEBUG, "debug", fmt, args);
  va_end (args);
  errno = saved_errno;
}

void
debug (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  if (!verbose)
    return;
  va_start (args, fmt);
  emit (LOG_DEBUG, "debug", fmt, args);
  va_end (args);
  errno = saved_errno;
}

/* ---- -D NAME.FLAG=VALUE ---- */

struct debug_flag {
  struct debug_flag *next;
  char *name;                   /* plugin or filter name */
  char *flag;                   /* flag name, '.' turned into '_' */
  int value;
  bool used;
};

static struct debug_flag *debug_flags;

/* The server's own flags, -D nbdkit.backend.controlpath=N and
 * -D nbdkit.backend.datapath=N, with the established names and defaults:
 * under -v every call into a layer is traced, and either half can be
 * turned off (datapath=0 is the useful one when copying gigabytes).
 */
int debug_backend_controlpath = 1;
int debug_backend_datapath = 1;

static void
server_debug_flag (const char *flag, int value)
{
  if (strcmp (flag, "backend_controlpath") == 0)
    debug_backend_controlpath = value;
  else if (strcmp (flag, "backend_datapath") == 0)
    debug_backend_datapath = value;
  else
    fprintf (stderr, "%s: warning: -D nbdkit.%s: the server has no such "
             "debug flag (it has backend.controlpath and "
             "backend.datapath): ignored\n", program_name, flag);
}

void
add_debug_flag (const char *arg)
{
  const char *dot, *eq;
  struct debug_flag *f;
  char *p;

  dot = strchr (arg, '.');
  eq = strchr (arg, '=');
  if (dot == NULL || eq == NULL || dot > eq || dot == arg || eq == dot + 1) {
    fprintf (stderr, "%s: -D (debug flag) must have the form "
             "NAME.FLAG=N, not \"%s\"\n", program_name, arg);
    exit (EXIT_FAILURE);
  }
  f = calloc (1, sizeof *f);
  if (f == NULL) {
    perror ("calloc");
    exit (EXIT_FAILURE);
  }
  f->name = strndup (arg, dot - arg);
  f->flag = strndup (dot + 1, eq - dot - 1);
  if (f->name == NULL || f->flag == NULL) {
    perror ("strndup");
    exit (EXIT_FAILURE);
  }
  for (p = f->flag; *p; ++p)
    if (*p == '.' || *p == '-')
      *p = '_';
  if (nbdkit_parse_int ("debug flag", eq + 1, &f->value) == -1)
    exit (EXIT_FAILURE);
  if (strcmp (f->name, "nbdkit") == 0) {
    server_debug_flag (f->flag, f->value);
    free (f->name);
    free (f->flag);
    free (f);
    return;
  }
  f->next = debug_flags;
  debug_flags = f;
}

/* A layer declares "int NAME_debug_FLAG;" and -D NAME.FLAG=N sets it. */
void
apply_debug_flags (void *dl, const char *name)
{
  struct debug_flag *f;

  for (f = debug_flags; f; f = f->next) {
    char *sym, *p;
    int *var;

    if (f->used || strcmp (f->name, name) != 0)
      continue;
    if (asprintf (&sym, "%s_debug_%s", name, f->flag) == -1) {
      perror ("asprintf");
      exit (EXIT_FAILURE);
    }
    for (p = sym; *p; ++p)
      if (*p == '-')
        *p = '_';
    var = dl ? dlsym (dl, sym) : NULL;
    f->used = true;
    if (var == NULL) {
      /* Accepted, as the established server does, but not silently. */
      fprintf (stderr, "%s: warning: -D %s.%s: %s has no debug flag "
               "called \"%s\" (no symbol %s): ignored\n",
               program_name, f->name, f->flag, name, f->flag, sym);
      free (sym);
      continue;
    }
    *var = f->value;
    free (sym);
  }
}

void
check_unused_debug_flags (void)
{
  struct debug_flag *f;

  for (f = debug_flags; f; f = f->next)
    if (!f->used)
      fprintf (stderr, "%s: warning: -D %s.%s: no plugin or filter "
               "called \"%s\" was loaded\n",
               program_name, f->name, f->flag, f->name);
}
