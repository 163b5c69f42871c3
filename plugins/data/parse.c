/* blockkit: the data plugin's expression language, from text to a tree
 * (see data.h, and blockkit-data-plugin(1) for the language):
 *
 *   list    := item*
 *   item    := '@' N | '@+' N | '@-' N | '@^' N
 *            | primary postfix*
 *   primary := BYTE | le16:W | be16:W | le32:W | be32:W | le64:W | be64:W
 *            | '"' chars '"' | '(' list ')' | '<' FILE | '<(' SCRIPT ')'
 *            | '\' NAME | '$' VAR   (the variable's value, parsed)
 *   postfix := '*' COUNT | '[' [N] ':' [M] ']' | '->' '\' NAME
 *   '#' starts a comment that runs to the end of the line.
 *
 * A recursive descent parser builds the tree, which data_parse hands
 * to data_simplify (tree.c) before returning it.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1           /* vasprintf */
#endif
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "data.h"
#include "minmax.h"

/* Groups nested deeper than this are refused, so that hostile input
 * cannot exhaust the stack of the recursive parser.
 */
#define MAX_DEPTH 1000

/* ---------------------------------------------------------------- */
/* The parser: recursive descent over the string. */

struct parser {
  const char *expr;             /* whole expression, for messages */
  const char *what;             /* "data", "$var" */
  const char *p;                /* current position */
  int depth;                    /* groups and variables open */
  data_lookup_var_fn lookup_var;
};

static void parse_error (struct parser *ps, const char *fmt, ...)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (2, 3);

/* Report a parse error at the current position. */
static void
parse_error (struct parser *ps, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;
  char found[32];
  size_t pos = ps->p - ps->expr;
  unsigned char c = *ps->p;
  int r;

  if (c == '\0')
    snprintf (found, sizeof found, "the end of the expression");
  else if (isprint (c))
    snprintf (found, sizeof found, "'%c'", c);
  else
    snprintf (found, sizeof found, "byte 0x%02x", c);

  va_start (ap, fmt);
  r = vasprintf (&msg, fmt, ap);
  va_end (ap);
  if (r == -1)
    msg = NULL;
  nbdkit_error ("data: %s='%s': at character %zu: %s, but found %s",
                ps->what, ps->expr, pos + 1, msg ? msg : "syntax error",
                found);
  free (msg);
}

static void
skip_space (struct parser *ps)
{
  for (;;) {
    while (isspace ((unsigned char) *ps->p))
      ps->p++;
    if (*ps->p != '#')
      return;
    while (*ps->p && *ps->p != '\n')
      ps->p++;
  }
}

/* Can C follow a number directly? */
static bool
ends_token (char c)
{
  return c == '\0' || isspace ((unsigned char) c) ||
    strchr ("()*@\"<#[]:-\\$", c);
}

/* Parse an unsigned number (decimal, 0x hex or 0 octal).  If SUFFIX,
 * allow a k/K, M, G, T, P or E multiplier (powers of 1024).
 */
static int
parse_number (struct parser *ps, const char *what, bool suffix,
              uint64_t *r)
{
  char *end;
  unsigned long long v;
  int shift = 0;

  if (!isdigit ((unsigned char) *ps->p)) {
    parse_error (ps, "expected %s", what);
    return -1;
  }
  errno = 0;
  v = strtoull (ps->p, &end, 0);
  if (errno == ERANGE) {
    parse_error (ps, "%s is too large", what);
    return -1;
  }
  ps->p = end;
  if (suffix && *ps->p) {
    switch (*ps->p) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    case 'p': case 'P': shift = 50; break;
    case 'e': case 'E': shift = 60; break;
    }
    if (shift) {
      ps->p++;
      if (v > (UINT64_MAX >> shift)) {
        parse_error (ps, "%s is too large", what);
        return -1;
      }
      v <<= shift;
    }
  }
  if (!ends_token (*ps->p)) {
    parse_error (ps, "expected %s (a number in decimal, 0x hex or "
                 "0 octal%s)", what, suffix ? ", optionally with a k, M, G, "
                 "T, P or E suffix" : "");
    return -1;
  }
  *r = v;
  return 0;
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* At '"': a string literal with C escapes. */
static struct node *
parse_string (struct parser *ps)
{
  struct node *n;
  size_t len = 0;
  char *s;

  ps->p++;                      /* the opening quote */
  /* The decoded string is never longer than the source. */
  s = malloc (strlen (ps->p) + 1);
  if (s == NULL) {
    nbdkit_error ("data: malloc: %m");
    return NULL;
  }

  for (;;) {
    char c = *ps->p;

    if (c == '\0') {
      parse_error (ps, "expected '\"' to close the string");
      goto err;
    }
    if (c == '"') {
      ps->p++;
      break;
    }
    if (c != '\\') {
      s[len++] = c;
      ps->p++;
      continue;
    }
    ps->p++;                    /* the backslash */
    c = *ps->p;
    switch (c) {
    case 'n': s[len++] = '\n'; break;
    case 't': s[len++] = '\t'; break;
    case 'r': s[len++] = '\r'; break;
    case 'a': s[len++] = '\a'; break;
    case 'b': s[len++] = '\b'; break;
    case 'f': s[len++] = '\f'; break;
    case 'v': s[len++] = '\v'; break;
    case '0': s[len++] = '\0'; break;
    case '\\': case '"': case '\'':
      s[len++] = c;
      break;
    case 'x': {
      int hi = hexval (ps->p[1]), lo = hi >= 0 ? hexval (ps->p[2]) : -1;
      if (hi < 0 || lo < 0) {
        ps->p++;
        parse_error (ps, "expected two hex digits after \\x");
        goto err;
      }
      s[len++] = hi * 16 + lo;
      ps->p += 2;
      break;
    }
    default:
      parse_error (ps, "expected one of the escapes \\n \\t \\r \\a \\b "
                   "\\f \\v \\0 \\\\ \\\" \\' \\xHH after '\\'");
      goto err;
    }
    ps->p++;
  }

  n = data_new_str_node (N_STRING, s, len);
  free (s);
  return n;

 err:
  free (s);
  return NULL;
}

/* At '<': <(SCRIPT) up to the matching ')', or <FILE up to white
 * space or a character that cannot be part of it here.
 */
static struct node *
parse_file_or_script (struct parser *ps)
{
  const char *start;
  struct node *n;

  ps->p++;
  if (*ps->p == '(') {
    int level = 1;

    start = ++ps->p;
    for (; *ps->p; ps->p++) {
      if (*ps->p == '(')
        level++;
      else if (*ps->p == ')' && --level == 0)
        break;
    }
    if (*ps->p != ')') {
      parse_error (ps, "expected ')' to close the script started by '<('");
      return NULL;
    }
    n = data_new_str_node (N_SCRIPT, start, ps->p - start);
    ps->p++;
    return n;
  }

  start = ps->p;
  while (*ps->p && !isspace ((unsigned char) *ps->p) &&
         !strchr (")[*", *ps->p))
    ps->p++;
  if (ps->p == start) {
    parse_error (ps, "expected a file name after '<'");
    return NULL;
  }
  n = data_new_str_node (N_FILE, start, ps->p - start);
  if (n && access (n->u.str.s, R_OK) == -1) {
    nbdkit_error ("data: %s='%s': file '%s': %m",
                  ps->what, ps->expr, n->u.str.s);
    data_free_node (n);
    return NULL;
  }
  return n;
}

/* At '\': a name of letters, digits, '-' and '_'. */
static char *
parse_name (struct parser *ps)
{
  const char *start = ++ps->p;
  char *name;

  while (isalnum ((unsigned char) *ps->p) || *ps->p == '-' || *ps->p == '_')
    ps->p++;
  if (ps->p == start) {
    parse_error (ps, "expected a name (letters, digits, '-' and '_') "
                 "after '\\'");
    return NULL;
  }
  name = strndup (start, ps->p - start);
  if (name == NULL)
    nbdkit_error ("data: strndup: %m");
  return name;
}

/* At 'l' or 'b': le16: be16: le32: be32: le64: be64: and the word. */
static struct node *
parse_word (struct parser *ps)
{
  const char *p = ps->p;
  bool big = p[0] == 'b';
  int bits;
  uint64_t v;
  char s[8];
  int i;

  if (strncmp (p + 1, "e16:", 4) == 0) bits = 16;
  else if (strncmp (p + 1, "e32:", 4) == 0) bits = 32;
  else if (strncmp (p + 1, "e64:", 4) == 0) bits = 64;
  else {
    parse_error (ps, "expected le16:, be16:, le32:, be32:, le64: or be64:");
    return NULL;
  }
  ps->p += 5;
  if (parse_number (ps, "a word after the ':'", false, &v) == -1)
    return NULL;
  if (bits < 64 && v >> bits) {
    ps->p = p;
    parse_error (ps, "expected a word that fits in %d bits "
                 "(%" PRIu64 " is too large)", bits, v);
    return NULL;
  }
  for (i = 0; i < bits / 8; ++i)
    s[big ? bits / 8 - 1 - i : i] = (v >> (8 * i)) & 0xff;
  return data_new_str_node (N_STRING, s, bits / 8);
}

static struct node *parse_list (struct parser *ps, char close);

/* At '$': the variable's value, parsed as a group of its own. */
static struct node *
parse_var (struct parser *ps)
{
  const char *start = ++ps->p, *value;
  char name[256], what[sizeof name + 1];
  struct parser sub;
  struct node *n;
  size_t len;

  if (!isalpha ((unsigned char) *ps->p) && *ps->p != '_') {
    parse_error (ps, "expected a variable name (a letter or '_', then "
                 "letters, digits and '_') after '$'");
    return NULL;
  }
  while (isalnum ((unsigned char) *ps->p) || *ps->p == '_')
    ps->p++;
  len = ps->p - start;
  if (len >= sizeof name) {
    parse_error (ps, "expected a variable name of at most %zu characters",
                 sizeof name - 1);
    return NULL;
  }
  memcpy (name, start, len);
  name[len] = '\0';
  value = ps->lookup_var ? ps->lookup_var (name) : NULL;
  if (value == NULL) {
    nbdkit_error ("data: $%s: variable not found (give it as a "
                  "parameter, %s='...', or in the environment)",
                  name, name);
    return NULL;
  }
  /* Depth counts variables too, so $p with p='$p' stops. */
  if (ps->depth >= MAX_DEPTH) {
    parse_error (ps, "groups and variables nested more than %d deep "
                 "(does a variable refer to itself?)", MAX_DEPTH);
    return NULL;
  }
  snprintf (what, sizeof what, "$%s", name);
  sub = (struct parser) {
    .expr = value, .what = what, .p = value, .depth = ps->depth + 1,
    .lookup_var = ps->lookup_var,
  };
  n = parse_list (&sub, '\0');
  return n;
}

static struct node *
parse_primary (struct parser *ps)
{
  struct node *n;
  char c = *ps->p;

  switch (c) {
  case '(':
    if (ps->depth >= MAX_DEPTH) {
      parse_error (ps, "groups nested more than %d deep", MAX_DEPTH);
      return NULL;
    }
    ps->p++;
    ps->depth++;
    n = parse_list (ps, ')');
    ps->depth--;
    if (n)
      ps->p++;                  /* the ')' */
    return n;

  case '"':
    return parse_string (ps);

  case '<':
    return parse_file_or_script (ps);

  case '\\': {
    char *name = parse_name (ps);
    if (name == NULL)
      return NULL;
    n = data_new_node (N_NAME);
    if (n == NULL) {
      free (name);
      return NULL;
    }
    n->u.str.s = name;
    n->u.str.len = strlen (name);
    return n;
  }

  case '$':
    return parse_var (ps);

  case 'l': case 'b':
    return parse_word (ps);
  }

  if (isdigit ((unsigned char) c)) {
    uint64_t v;
    const char *start = ps->p;
    if (parse_number (ps, "a byte", false, &v) == -1)
      return NULL;
    if (v > 255) {
      ps->p = start;
      parse_error (ps, "expected a byte value from 0 to 255 "
                   "(%" PRIu64 " is too large)", v);
      return NULL;
    }
    n = data_new_node (N_BYTE);
    if (n)
      n->u.byte = v;
    return n;
  }

  parse_error (ps, "expected a byte, a le16:/be16:/le32:/be32:/le64:/be64: "
               "word, a \"string\", a (group), @offset, <file, <(script), "
               "\\name or $variable");
  return NULL;
}

/* After '[': [N:M], [N:], [:M], [:]. */
static struct node *
parse_slice (struct parser *ps, struct node *child)
{
  struct node *n = data_new_node (N_SLICE);

  if (n == NULL)
    return NULL;
  n->u.slice.child = child;
  ps->p++;
  skip_space (ps);
  if (*ps->p != ':' &&
      parse_number (ps, "the start of the slice", true,
                    &n->u.slice.start) == -1)
    goto err;
  skip_space (ps);
  if (*ps->p != ':') {
    parse_error (ps, "expected ':' in the slice [N:M]");
    goto err;
  }
  ps->p++;
  skip_space (ps);
  if (*ps->p != ']') {
    if (parse_number (ps, "the end of the slice", true,
                      &n->u.slice.end) == -1)
      goto err;
    n->u.slice.has_end = true;
    skip_space (ps);
  }
  if (*ps->p != ']') {
    parse_error (ps, "expected ']' to close the slice [N:M]");
    goto err;
  }
  ps->p++;
  if (n->u.slice.has_end && n->u.slice.end < n->u.slice.start) {
    parse_error (ps, "[N:M] does not describe a valid slice (M < N)");
    goto err;
  }
  return n;

 err:
  n->u.slice.child = NULL;
  data_free_node (n);
  return NULL;
}

/* One item with its postfix operators. */
static struct node *
parse_item (struct parser *ps)
{
  struct node *n, *r;

  if (*ps->p == '@') {
    enum node_type t = N_OFFSET;
    ps->p++;
    switch (*ps->p) {
    case '+': t = N_FORWARD; ps->p++; break;
    case '-': t = N_BACK; ps->p++; break;
    case '^': t = N_ALIGN; ps->p++; break;
    }
    n = data_new_node (t);
    if (n == NULL)
      return NULL;
    if (parse_number (ps, "an offset after '@'", true, &n->u.num) == -1) {
      data_free_node (n);
      return NULL;
    }
    if (t == N_ALIGN && !is_power_of_2 (n->u.num)) {
      ps->p--;
      parse_error (ps, "expected a power of 2 after '@^'");
      data_free_node (n);
      return NULL;
    }
    skip_space (ps);
    if (*ps->p == '*' || *ps->p == '[' ||
        (ps->p[0] == '-' && ps->p[1] == '>')) {
      parse_error (ps, "expected a byte, string, group or other data "
                   "before '*', '[' or '->' (they cannot be applied to "
                   "an offset)");
      data_free_node (n);
      return NULL;
    }
    return n;
  }

  n = parse_primary (ps);
  if (n == NULL)
    return NULL;

  for (;;) {
    skip_space (ps);
    if (*ps->p == '*') {
      ps->p++;
      skip_space (ps);
      r = data_new_node (N_REPEAT);
      if (r == NULL)
        goto err;
      r->u.rep.child = n;
      n = r;
      if (parse_number (ps, "a repeat count after '*'", true,
                        &r->u.rep.count) == -1)
        goto err;
    }
    else if (*ps->p == '[') {
      r = parse_slice (ps, n);
      if (r == NULL)
        goto err;
      n = r;
    }
    else if (ps->p[0] == '-' && ps->p[1] == '>') {
      char *name;
      ps->p += 2;
      skip_space (ps);
      if (*ps->p != '\\') {
        parse_error (ps, "expected \\name after '->'");
        goto err;
      }
      name = parse_name (ps);
      if (name == NULL)
        goto err;
      r = data_new_node (N_ASSIGN);
      if (r == NULL) {
        free (name);
        goto err;
      }
      r->u.assign.child = n;
      r->u.assign.name = name;
      n = r;
    }
    else
      return n;
  }

 err:
  data_free_node (n);
  return NULL;
}

/* A sequence of items up to CLOSE (')' or '\0', not consumed). */
static struct node *
parse_list (struct parser *ps, char close)
{
  struct node *list = data_new_node (N_GROUP);

  if (list == NULL)
    return NULL;
  for (;;) {
    struct node *item;

    skip_space (ps);
    if (*ps->p == close)
      return list;
    if (*ps->p == '\0') {
      parse_error (ps, "expected ')' to close the group");
      goto err;
    }
    if (*ps->p == ')') {
      parse_error (ps, "expected an item ( ')' without a matching '(' )");
      goto err;
    }
    item = parse_item (ps);
    if (item == NULL)
      goto err;
    if (data_list_append (list, item) == -1) {
      data_free_node (item);
      goto err;
    }
  }

 err:
  data_free_node (list);
  return NULL;
}

struct node *
data_parse (const char *expr, const char *what,
            data_lookup_var_fn lookup_var)
{
  struct parser ps = {
    .expr = expr, .what = what, .p = expr, .lookup_var = lookup_var,
  };
  struct node *root = parse_list (&ps, '\0');

  if (root == NULL)
    return NULL;
  root = data_simplify (root);
  /* A whole expression that is one group is that group's contents:
   * written in place at the start of an empty disk they give the same
   * bytes, and nbdkit writes them so (which shows in block status).
   */
  while (root->u.list.n == 1 && root->u.list.v[0]->type == N_GROUP) {
    struct node *inner = root->u.list.v[0];
    free (root->u.list.v);
    free (root);
    root = inner;
  }
  return root;
}
