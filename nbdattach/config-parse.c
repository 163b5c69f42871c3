/* nbdattach: the parser of the per-device configuration files, and the
 * one check of nbdattach's own options that the command line and the
 * files share.
 *
 * It works on text in memory and never exits: errors are printed (file
 * and line, the offending text escaped and cut short) and reported as
 * -1, so that the same code serves `nbdattach --config`, the
 * --check-config validator and the libFuzzer target
 * fuzz/fuzz-nbdattach-config.c, which calls it in a loop.  It uses only
 * the C library, so that the fuzz target can be built from this file
 * alone.  The format is in nbdattach(8), "CONFIGURATION FILES":
 *
 *   key = value        # a comment after white space
 *
 * Every byte of a file is checked: a NUL byte, a control character,
 * a line longer than CONFIG_MAX_LINE or a file larger than
 * CONFIG_MAX_SIZE is an error rather than something silently cut.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nbdattach.h"

FILE *config_error_fp;

/* Writes "nbdattach: WHERE: message\n" to config_error_fp (stderr by
 * default).  WHERE is "file:line", "file" or an option such as
 * "--name".
 */
static void __attribute__ ((format (printf, 2, 3)))
message (const char *where, const char *fmt, ...)
{
  FILE *fp = config_error_fp ? config_error_fp : stderr;
  va_list args;

  fprintf (fp, "nbdattach: %s: ", where);
  va_start (args, fmt);
  vfprintf (fp, fmt, args);
  va_end (args);
  fputc ('\n', fp);
}

/* Copies S (LEN bytes) into BUF as a string that is safe on a
 * terminal, in quotes if QUOTE: printable ASCII as is, quote and
 * backslash escaped, every other byte (control characters, escape
 * sequences, NUL, UTF-8) as \xNN, and at most MAX bytes of S, then
 * "...".  A hostile file must not be able to write megabytes or raw
 * escape sequences to stderr.  BUF needs 4 * MAX + 6 bytes.
 */
char *
config_escape (char *buf, const char *s, size_t len, size_t max, bool quote)
{
  static const char hex[] = "0123456789abcdef";
  char *p = buf;
  size_t i;

  if (quote)
    *p++ = '"';
  for (i = 0; i < len && i < max; ++i) {
    unsigned char c = s[i];

    if (c == '"' || c == '\\') {
      *p++ = '\\';
      *p++ = c;
    }
    else if (c >= 0x20 && c < 0x7f)
      *p++ = c;
    else {
      *p++ = '\\';
      *p++ = 'x';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  if (quote)
    *p++ = '"';
  if (i < len) {
    memcpy (p, "...", 3);
    p += 3;
  }
  *p = '\0';
  return buf;
}

static char *
escape (char *buf, const char *s, size_t len, size_t max)
{
  return config_escape (buf, s, len, max, true);
}

#define SHOW_MAX CONFIG_SHOW_MAX
#define SHOW_BUF CONFIG_SHOW_BUF
#define PATH_SHOW_MAX CONFIG_PATH_SHOW_MAX
#define PATH_SHOW_BUF CONFIG_PATH_SHOW_BUF

/* ---- nbdattach's own options ---- */

static const char *const own_options[] = {
  "block-size", "connections", "dead-timeout", "device", "exportname",
  "name", "readonly", "swap", "timeout", "transport", NULL
};

bool
is_own_option (const char *key)
{
  size_t i;

  for (i = 0; own_options[i]; ++i)
    if (strcmp (key, own_options[i]) == 0)
      return true;
  return false;
}

/* Decimal digits only, at most MAX: no sign, no white space, no
 * suffix, no octal or hex, so that a value means what it looks like.
 */
static bool
parse_decimal (const char *s, uint64_t max, uint64_t *r)
{
  uint64_t v = 0;

  if (*s == '\0')
    return false;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9')
      return false;
    if (v > (max - (*s - '0')) / 10)
      return false;
    v = v * 10 + (*s - '0');
  }
  *r = v;
  return true;
}

/* The words nbdkit_parse_bool takes, any case. */
static int
parse_boolean (const char *s)
{
  static const char *const words[] = {
    "1", "true", "t", "yes", "y", "on", "0", "false", "f", "no", "n", "off"
  };
  size_t i;

  for (i = 0; i < sizeof words / sizeof words[0]; ++i)
    if (strcasecmp (s, words[i]) == 0)
      return i < 6;
  return -1;
}

/* True if S has a byte that is not printable ASCII or UTF-8 (a control
 * character): such a byte in a name ends up in sysfs, the state file
 * and --list, one line per device.
 */
static bool
has_control (const char *s)
{
  for (; *s; ++s)
    if ((unsigned char) *s < 0x20 || *s == 0x7f)
      return true;
  return false;
}

/* The kernel's limit: 2^(MINORBITS - part_shift) devices at most. */
#define MAX_DEVICE_INDEX 65535
#define MAX_SECONDS 2147483647  /* 68 years; more overflows in the kernel */
#define MAX_NAME 200
#define MAX_EXPORTNAME 4096     /* the NBD protocol's limit */

int
check_option (const char *where, const char *key, const char *value,
              uint64_t *num)
{
  char shown[SHOW_BUF];
  const char *problem = NULL;
  uint64_t v = 0;
  size_t len = strlen (value);

  if (strcmp (key, "connections") == 0) {
    if (!parse_decimal (value, 64, &v) || v < 1)
      problem = "connections must be a number from 1 to 64";
  }
  else if (strcmp (key, "block-size") == 0) {
    if (!parse_decimal (value, 4096, &v) || v < 512 || (v & (v - 1)))
      problem = "block-size must be 512, 1024, 2048 or 4096";
  }
  else if (strcmp (key, "timeout") == 0 ||
           strcmp (key, "dead-timeout") == 0) {
    if (!parse_decimal (value, MAX_SECONDS, &v))
      problem = "a timeout must be a number of seconds "
        "(0 to 2147483647, digits only)";
  }
  else if (strcmp (key, "readonly") == 0 || strcmp (key, "swap") == 0) {
    int b = parse_boolean (value);
    if (b == -1)
      problem = "expected a boolean (yes/no, true/false, on/off, 1/0)";
    v = b == 1;
  }
  else if (strcmp (key, "device") == 0) {
    const char *p = value;
    if (strncmp (p, "/dev/", 5) == 0)
      p += 5;
    if (strncmp (p, "nbd", 3) == 0)
      p += 3;
    else if (strncmp (p, "ublkb", 5) == 0)
      p += 5;
    if (!parse_decimal (p, MAX_DEVICE_INDEX, &v))
      problem = "device must be /dev/nbdN, nbdN, /dev/ublkbN, ublkbN or N "
        "(N up to 65535)";
  }
  else if (strcmp (key, "transport") == 0) {
    /* 0 the nbd driver, 1 ublk (see nbdattach(8), TRANSPORTS). */
    if (strcmp (value, "nbd") == 0)
      v = 0;
    else if (strcmp (value, "ublk") == 0)
      v = 1;
    else
      problem = "transport must be nbd or ublk";
  }
  else if (strcmp (key, "name") == 0) {
    /* Any other byte is allowed: the udev rules make links only for
     * safe names, and keep the others as a property (tests/vm).
     */
    if (len < 1 || len > MAX_NAME)
      problem = "name must be 1 to 200 characters";
    else if (has_control (value))
      problem = "name must not contain control characters";
  }
  else if (strcmp (key, "exportname") == 0) {
    if (len > MAX_EXPORTNAME)
      problem = "exportname must be at most 4096 bytes";
    else if (has_control (value))
      problem = "exportname must not contain control characters";
  }
  else
    problem = "not one of nbdattach's options";

  if (problem) {
    message (where, "%s, not %s", problem,
             escape (shown, value, len, SHOW_MAX));
    return -1;
  }
  if (num)
    *num = v;
  return 0;
}

/* ---- lists ---- */

/* Appends S (LEN bytes) to a NULL-terminated list, growing it by half
 * again each time: 100,000 lines must cost 100,000 copies, not the
 * 5,000,000,000 that growing one slot at a time makes.
 */
static int
append (char ***list, size_t *n, size_t *cap, const char *s, size_t len)
{
  char *copy;

  if (*n + 2 > *cap) {
    size_t want = *cap < 8 ? 8 : *cap + *cap / 2;
    char **p = realloc (*list, want * sizeof *p);
    if (p == NULL)
      return -1;
    *list = p;
    *cap = want;
  }
  copy = malloc (len + 1);
  if (copy == NULL)
    return -1;
  memcpy (copy, s, len);
  copy[len] = '\0';
  (*list)[(*n)++] = copy;
  (*list)[*n] = NULL;
  return 0;
}

static void
free_list (char **list, size_t n)
{
  size_t i;

  for (i = 0; i < n; ++i)
    free (list[i]);
  free (list);
}

void
device_config_free (struct device_config *cfg)
{
  free (cfg->path);
  free (cfg->plugin);
  free_list (cfg->filters, cfg->n_filters);
  free_list (cfg->options, cfg->n_options);
  free_list (cfg->params, cfg->n_params);
  free (cfg->param_lines);
  memset (cfg, 0, sizeof *cfg);
}

/* ---- the parser ---- */

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The characters of a chain key, as blockkit's command line takes them
 * (server/chain-load.c): so a key from a file is always passed to the
 * chain as a key, never mistaken for a bare value.
 */
static bool
is_key_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* One line, without its newline: LINE and LEN.  Returns 0, -1 after
 * the message, or NOMEM.
 */
#define NOMEM (-2)
static int
parse_line (struct device_config *cfg, const char *where,
            const char *line, size_t len, int lineno)
{
  char shown[SHOW_BUF];
  const char *key, *value, *eq, *end = line + len, *p;
  size_t klen, vlen;
  char *kv;
  int r;

  /* The comment rule: '#' at the start of the line (after white space)
   * or after white space starts a comment that runs to the end of the
   * line.  A '#' right after other text (a URL's fragment, "a#b") is
   * part of the value.
   */
  for (p = line; p < end; ++p)
    if (*p == '#' && (p == line || is_space (p[-1]))) {
      end = p;
      break;
    }
  key = line;
  while (key < end && is_space (*key))
    key++;
  while (end > key && is_space (end[-1]))
    end--;
  if (key == end)
    return 0;                   /* blank, or only a comment */

  /* Control characters have no business in a text file, and a value
   * holding one would reach the kernel, sysfs or a terminal.
   */
  for (p = key; p < end; ++p)
    if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f) {
      message (where, "control character \\x%02x in %s", (unsigned char) *p,
               escape (shown, key, end - key, SHOW_MAX));
      return -1;
    }

  eq = memchr (key, '=', end - key);
  if (eq == NULL) {
    message (where, "expected \"key = value\", got %s",
             escape (shown, key, end - key, SHOW_MAX));
    return -1;
  }
  value = eq + 1;
  while (value < end && is_space (*value))
    value++;
  vlen = end - value;
  while (eq > key && is_space (eq[-1]))
    eq--;
  klen = eq - key;
  if (klen == 0) {
    message (where, "missing key before '='");
    return -1;
  }
  for (p = key; p < eq; ++p)
    if (!is_key_char (*p)) {
      message (where, "invalid key %s (a key is letters, digits and _-. "
               "without spaces)", escape (shown, key, klen, SHOW_MAX));
      return -1;
    }
  if (*key == '-') {
    message (where, "invalid key %s (a key cannot start with '-')",
             escape (shown, key, klen, SHOW_MAX));
    return -1;
  }

  if (klen == 6 && memcmp (key, "plugin", 6) == 0) {
    if (cfg->plugin) {
      message (where, "plugin given twice");
      return -1;
    }
    if (vlen == 0) {
      message (where, "plugin needs a value");
      return -1;
    }
    cfg->plugin = strndup (value, vlen);
    return cfg->plugin ? 0 : NOMEM;
  }
  if (klen == 6 && memcmp (key, "filter", 6) == 0) {
    if (vlen == 0) {
      message (where, "filter needs a value");
      return -1;
    }
    return append (&cfg->filters, &cfg->n_filters, &cfg->cap_filters,
                   value, vlen) == 0 ? 0 : NOMEM;
  }

  /* "key=value" strings, as on the command line. */
  kv = malloc (klen + vlen + 2);
  if (kv == NULL)
    return NOMEM;
  memcpy (kv, key, klen);
  kv[klen] = '\0';
  memcpy (kv + klen + 1, value, vlen);
  kv[klen + 1 + vlen] = '\0';

  if (is_own_option (kv)) {
    if (vlen == 0) {
      message (where, "%s needs a value", kv);
      r = -1;
    }
    else
      r = check_option (where, kv, kv + klen + 1, NULL);
    kv[klen] = '=';
    if (r == 0 && append (&cfg->options, &cfg->n_options, &cfg->cap_options,
                          kv, klen + 1 + vlen) == -1)
      r = NOMEM;
    free (kv);
    return r;
  }

  kv[klen] = '=';
  r = 0;
  if (strncmp (kv, "chain.", 6) == 0) {
    if (klen == 6) {
      message (where, "missing key after \"chain.\"");
      r = -1;
    }
    else if (kv[6] == '-') {
      message (where, "invalid key %s (a key cannot start with '-')",
               escape (shown, key, klen, SHOW_MAX));
      r = -1;
    }
  }
  if (r == 0) {
    size_t skip = strncmp (kv, "chain.", 6) == 0 ? 6 : 0;
    size_t n = cfg->n_params;

    if (append (&cfg->params, &cfg->n_params, &cfg->cap_params,
                kv + skip, klen + 1 + vlen - skip) == -1)
      r = NOMEM;
    /* The lines array grows with the params array's capacity. */
    if (r == 0 && cfg->cap_lines < cfg->cap_params) {
      int *l = realloc (cfg->param_lines,
                        cfg->cap_params * sizeof *l);
      if (l == NULL)
        r = NOMEM;
      else {
        cfg->param_lines = l;
        cfg->cap_lines = cfg->cap_params;
      }
    }
    if (r == 0)
      cfg->param_lines[n] = lineno;
  }
  free (kv);
  return r;
}

int
config_parse (const char *text, size_t len, const char *filename,
              struct device_config *cfg)
{
  char shownpath[PATH_SHOW_BUF];
  char *where = NULL;
  const char *line = text, *end = text + len;
  int lineno = 0, r;

  memset (cfg, 0, sizeof *cfg);
  cfg->path = strdup (filename);
  /* Without quotes: "file:line" reads as it does in a compiler. */
  config_escape (shownpath, filename, strlen (filename), PATH_SHOW_MAX, false);
  if (cfg->path == NULL)
    goto nomem;
  if (len > CONFIG_MAX_SIZE) {
    message (shownpath, "the file is larger than %d MiB",
             CONFIG_MAX_SIZE >> 20);
    goto error;
  }
  /* "file:line" is at most the escaped path and an int. */
  where = malloc (strlen (shownpath) + 16);
  if (where == NULL)
    goto nomem;

  while (line < end) {
    const char *nl = memchr (line, '\n', end - line);
    const char *eol = nl ? nl : end;
    const char *nul;

    lineno++;
    sprintf (where, "%s:%d", shownpath, lineno);
    if ((size_t) (eol - line) > CONFIG_MAX_LINE) {
      message (where, "line longer than %d KiB", CONFIG_MAX_LINE >> 10);
      goto error;
    }
    /* A NUL would end the line for every string function after this
     * point, silently: "size = 1M\0junk" must not read as 1M.
     */
    nul = memchr (line, '\0', eol - line);
    if (nul) {
      char shown[SHOW_BUF];
      message (where, "NUL byte in the line, after %s",
               escape (shown, line, nul - line, SHOW_MAX));
      goto error;
    }
    r = parse_line (cfg, where, line, eol - line, lineno);
    if (r == NOMEM)
      goto nomem;
    if (r == -1)
      goto error;
    line = nl ? nl + 1 : end;
  }
  if (cfg->plugin == NULL) {
    message (shownpath, "no \"plugin = NAME\" line");
    goto error;
  }
  free (where);
  return 0;

 nomem:
  message (shownpath, "out of memory");
 error:
  free (where);
  device_config_free (cfg);
  return -1;
}
