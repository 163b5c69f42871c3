/* blockkit: what the sh and eval plugins share.  Both turn every plugin
 * callback into a run of an external program ("SCRIPT METHOD ARGS...")
 * and read its answer from the exit status, stdout and stderr.  call.c
 * runs the program (and owns $tmpdir); methods.c implements the
 * callbacks from thread_model to cache on top of it, identically for
 * both plugins.  What differs is only which program a method runs and
 * whether a missing method can be detected without running it; sh.c and
 * eval.c each provide that through the two hooks declared at the end.
 */

#ifndef BLOCKKIT_SCRIPT_CALL_H
#define BLOCKKIT_SCRIPT_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The established exit codes.  4-7 are reserved and, like 8-127 and a
 * death by signal, mean an error.
 */
enum call_status {
  CALL_OK = 0,
  CALL_ERROR = 1,
  CALL_MISSING = 2,
  CALL_FALSE = 3,
};

/* The highest exit status with a meaning (--dump-plugin tells scripts). */
#define CALL_MAX_KNOWN_STATUS 3

/* What a script printed on stdout.  data holds the first `max` bytes
 * (always NUL-terminated, so text answers can be parsed in place); total
 * counts everything printed, kept or not, so a pread can say how much it
 * got.  A script is always drained to the end, never blocked on a full
 * pipe, even when its output is thrown away.
 */
struct call_output {
  char *data;
  size_t len;                   /* bytes kept in data */
  size_t total;                 /* bytes printed */
  size_t max;                   /* keep at most this many (0: default) */
};

/* The per-server temporary directory ($tmpdir), made by call_load and
 * removed with everything in it by call_unload.
 */
extern char *call_tmpdir;
int call_load (void);
void call_unload (void);

/* Run METHOD with ARGS (a NULL-terminated list after the method name).
 * IN/INLEN is given on stdin (NULL: stdin is empty).  When OUT is not
 * NULL it receives stdout, which the caller frees with call_output_free;
 * otherwise stdout is discarded.  On CALL_ERROR the error has been
 * reported already (nbdkit_error, nbdkit_set_error with the errno the
 * script named, EIO if none).  A program that cannot be run at all (no
 * such file, not executable, out of processes) is a reported CALL_ERROR
 * too, so callers deal with exactly the four statuses.
 */
int call_run (const char *method, const char *const *args,
              const void *in, size_t inlen, struct call_output *out);
void call_output_free (struct call_output *out);

/* Remove one trailing newline (a script's "echo" adds one). */
void call_chomp (char *s);

/* Report "SCRIPT: MESSAGE" for METHOD with nbdkit_error. */
void call_error (const char *method, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Hooks provided by each plugin (sh.c, eval.c). */

/* The program that answers METHOD; *via_sh is set when it must be run
 * as "/bin/sh PROGRAM METHOD ARGS..." rather than executed itself.
 * Returns NULL when no script is configured (the method is missing).
 */
const char *script_for_method (const char *method, bool *via_sh);

/* Whether METHOD is known to exist without running anything.  sh
 * cannot know and says false; eval knows which methods were given.
 * Used by the can_* methods when the script has no answer (status 2).
 */
bool script_has_method (const char *method);

#endif /* BLOCKKIT_SCRIPT_CALL_H */
