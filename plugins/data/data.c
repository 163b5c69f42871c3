/* blockkit: the data plugin, a disk whose initial contents are given
 * on the command line: as an expression (data=), as raw bytes (raw=)
 * or in base64 (base64=).  The disk is held in a sparse array in RAM
 * and is writable; writes are lost when the server exits.
 *
 * The expression language (see blockkit-data-plugin.pod):
 *
 *   expr  := item*
 *   item  := primary ( '*' COUNT )*
 *          | '@' OFFSET | '@+' N | '@-' N | '@^' ALIGN
 *   primary := BYTE                 decimal, 0x hex or 0 octal, 0..255
 *          | '"' chars '"'          C escapes \n \t \\ \" \xHH ...
 *          | '(' expr ')'
 *          | '<' FILE               the bytes of a file
 *   '#' starts a comment that runs to the end of the line.
 *
 * A cursor starts at 0.  Bytes, strings and files are written at the
 * cursor and move it on.  @N moves it to N (relative to the start of
 * the enclosing group), @+N and @-N move it by N, @^N rounds it up to
 * a multiple of N.  A group is a block whose length is the furthest
 * point its contents reached; after it, the cursor is at its end.
 * X * N places N copies of X one after the other.  The disk size is
 * the furthest point reached, unless size= says otherwise.
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
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "cleanup.h"
#include "minmax.h"
#include "sparse.h"

/* -D data.AST=1 prints the parsed expression. */
NBDKIT_DLL_PUBLIC int data_debug_AST = 0;

/* Which key gave the data. */
enum source { SRC_NONE, SRC_DATA, SRC_RAW, SRC_BASE64 };
static enum source source = SRC_NONE;
static char *source_value;              /* the value of that key */
static int64_t size = -1;               /* size=, or -1 */

static struct sparse_array *sa;
static int64_t disk_size;

/* ---------------------------------------------------------------- */
/* The expression tree. */

enum node_type {
  N_BYTE,                       /* u.byte */
  N_STRING,                     /* u.str */
  N_FILE,                       /* u.str = file name */
  N_OFFSET,                     /* @N:  u.num */
  N_FORWARD,                    /* @+N: u.num */
  N_BACK,                       /* @-N: u.num */
  N_ALIGN,                      /* @^N: u.num */
  N_GROUP,                      /* ( list ) */
  N_REPEAT,                     /* u.rep.child * u.rep.count */
};

struct node {
  enum node_type type;
  union {
    unsigned char byte;
    struct { char *s; size_t len; } str;
    uint64_t num;
    struct { struct node **v; size_t n; } list;
    struct { struct node *child; uint64_t count; } rep;
  } u;
};

static void
free_node (struct node *n)
{
  size_t i;

  if (n == NULL)
    return;
  switch (n->type) {
  case N_STRING: case N_FILE:
    free (n->u.str.s);
    break;
  case N_GROUP:
    for (i = 0; i < n->u.list.n; ++i)
      free_node (n->u.list.v[i]);
    free (n->u.list.v);
    break;
  case N_REPEAT:
    free_node (n->u.rep.child);
    break;
  default:
    break;
  }
  free (n);
}

static struct node *
new_node (enum node_type type)
{
  struct node *n = calloc (1, sizeof *n);
  if (n == NULL)
    nbdkit_error ("data: calloc: %m");
  else
    n->type = type;
  return n;
}

static int
list_append (struct node *list, struct node *item)
{
  struct node **v = realloc (list->u.list.v,
                             (list->u.list.n + 1) * sizeof *v);
  if (v == NULL) {
    nbdkit_error ("data: realloc: %m");
    return -1;
  }
  v[list->u.list.n++] = item;
  list->u.list.v = v;
  return 0;
}

/* True if N contains anything that moves the cursor other than by
 * writing (an @ operator), or a file (which we do not want to read
 * just to find out).  Groups without these are "dense": they write
 * every byte of their extent exactly once per copy.
 */
static bool
is_dense (const struct node *n)
{
  size_t i;

  switch (n->type) {
  case N_BYTE: case N_STRING:
    return true;
  case N_GROUP:
    for (i = 0; i < n->u.list.n; ++i)
      if (!is_dense (n->u.list.v[i]))
        return false;
    return true;
  case N_REPEAT:
    return is_dense (n->u.rep.child);
  default:
    return false;
  }
}

/* True if N writes no byte, only moves the cursor: every copy of it is
 * then the same no-op, and ( @4 ) * 1E must not loop 2^60 times.
 */
static bool
writes_nothing (const struct node *n)
{
  size_t i;

  switch (n->type) {
  case N_BYTE: case N_STRING: case N_FILE:
    return false;
  case N_GROUP:
    for (i = 0; i < n->u.list.n; ++i)
      if (!writes_nothing (n->u.list.v[i]))
        return false;
    return true;
  case N_REPEAT:
    return n->u.rep.count == 0 || writes_nothing (n->u.rep.child);
  default:
    return true;
  }
}

/* Debug printing of the tree. */
static void
print_node (FILE *fp, const struct node *n, int indent)
{
  size_t i;

  fprintf (fp, "%*s", indent, "");
  switch (n->type) {
  case N_BYTE:
    fprintf (fp, "byte %u\n", n->u.byte);
    break;
  case N_STRING:
    fprintf (fp, "string of %zu bytes: \"", n->u.str.len);
    for (i = 0; i < n->u.str.len && i < 64; ++i) {
      unsigned char c = n->u.str.s[i];
      if (isprint (c) && c != '"' && c != '\\')
        fputc (c, fp);
      else
        fprintf (fp, "\\x%02x", c);
    }
    fprintf (fp, "%s\"\n", n->u.str.len > 64 ? "..." : "");
    break;
  case N_FILE:
    fprintf (fp, "file %s\n", n->u.str.s);
    break;
  case N_OFFSET:
    fprintf (fp, "offset @%" PRIu64 "\n", n->u.num);
    break;
  case N_FORWARD:
    fprintf (fp, "offset @+%" PRIu64 "\n", n->u.num);
    break;
  case N_BACK:
    fprintf (fp, "offset @-%" PRIu64 "\n", n->u.num);
    break;
  case N_ALIGN:
    fprintf (fp, "align @^%" PRIu64 "\n", n->u.num);
    break;
  case N_GROUP:
    fprintf (fp, "group (%zu items)%s\n", n->u.list.n,
             is_dense (n) ? " dense" : "");
    for (i = 0; i < n->u.list.n; ++i)
      print_node (fp, n->u.list.v[i], indent + 2);
    break;
  case N_REPEAT:
    fprintf (fp, "repeat %" PRIu64 " times\n", n->u.rep.count);
    print_node (fp, n->u.rep.child, indent + 2);
    break;
  }
}

static void
debug_tree (const struct node *root)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&buf, &len);
  char *line, *saveptr = NULL;

  if (fp == NULL)
    return;
  print_node (fp, root, 0);
  fclose (fp);
  nbdkit_debug ("data: parsed expression:");
  for (line = strtok_r (buf, "\n", &saveptr); line;
       line = strtok_r (NULL, "\n", &saveptr))
    nbdkit_debug ("data: %s", line);
  free (buf);
}

/* ---------------------------------------------------------------- */
/* The parser: recursive descent over the string. */

struct parser {
  const char *expr;             /* whole expression, for messages */
  const char *p;                /* current position */
};

/* Report a parse error at the current position. */
static void parse_error (struct parser *ps, const char *fmt, ...)
  NBDKIT_ATTRIBUTE_FORMAT_PRINTF (2, 3);

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
  nbdkit_error ("data: data='%s': at character %zu: %s, but found %s",
                ps->expr, pos + 1, msg ? msg : "syntax error", found);
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
  return c == '\0' || isspace ((unsigned char) c) || strchr ("()*@\"<#", c);
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

/* At '"': parse a string literal. */
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

  n = new_node (N_STRING);
  if (n == NULL)
    goto err;
  n->u.str.s = s;
  n->u.str.len = len;
  return n;

 err:
  free (s);
  return NULL;
}

/* At '<': a file name, up to white space or ')'. */
static struct node *
parse_file (struct parser *ps)
{
  const char *start;
  struct node *n;

  ps->p++;
  start = ps->p;
  while (*ps->p && !isspace ((unsigned char) *ps->p) && *ps->p != ')')
    ps->p++;
  if (ps->p == start) {
    parse_error (ps, "expected a file name after '<'");
    return NULL;
  }
  n = new_node (N_FILE);
  if (n == NULL)
    return NULL;
  n->u.str.len = ps->p - start;
  n->u.str.s = strndup (start, n->u.str.len);
  if (n->u.str.s == NULL) {
    nbdkit_error ("data: strndup: %m");
    free_node (n);
    return NULL;
  }
  if (access (n->u.str.s, R_OK) == -1) {
    nbdkit_error ("data: data='%s': file '%s': %m",
                  ps->expr, n->u.str.s);
    free_node (n);
    return NULL;
  }
  return n;
}

static struct node *parse_list (struct parser *ps, char close);

/* One item with its repetitions. */
static struct node *
parse_item (struct parser *ps)
{
  struct node *n;
  char c = *ps->p;

  if (c == '@') {
    enum node_type t = N_OFFSET;
    ps->p++;
    switch (*ps->p) {
    case '+': t = N_FORWARD; ps->p++; break;
    case '-': t = N_BACK; ps->p++; break;
    case '^': t = N_ALIGN; ps->p++; break;
    }
    n = new_node (t);
    if (n == NULL)
      return NULL;
    if (parse_number (ps, "an offset after '@'", true, &n->u.num) == -1) {
      free_node (n);
      return NULL;
    }
    if (t == N_ALIGN && !is_power_of_2 (n->u.num)) {
      ps->p--;
      parse_error (ps, "expected a power of 2 after '@^'");
      free_node (n);
      return NULL;
    }
    skip_space (ps);
    if (*ps->p == '*') {
      parse_error (ps, "expected a byte, string, group or file before "
                   "'*' (an offset cannot be repeated)");
      free_node (n);
      return NULL;
    }
    return n;
  }

  if (c == '(') {
    ps->p++;
    n = parse_list (ps, ')');
    if (n == NULL)
      return NULL;
    ps->p++;                    /* the ')' */
  }
  else if (c == '"')
    n = parse_string (ps);
  else if (c == '<')
    n = parse_file (ps);
  else if (isdigit ((unsigned char) c)) {
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
    n = new_node (N_BYTE);
    if (n == NULL)
      return NULL;
    n->u.byte = v;
  }
  else {
    parse_error (ps, "expected a byte, a \"string\", a (group), "
                 "@offset or <file");
    return NULL;
  }
  if (n == NULL)
    return NULL;

  /* Repetitions. */
  for (;;) {
    struct node *r;

    skip_space (ps);
    if (*ps->p != '*')
      return n;
    ps->p++;
    skip_space (ps);
    r = new_node (N_REPEAT);
    if (r == NULL) {
      free_node (n);
      return NULL;
    }
    r->u.rep.child = n;
    n = r;
    if (parse_number (ps, "a repeat count after '*'", true,
                      &r->u.rep.count) == -1) {
      free_node (n);
      return NULL;
    }
  }
}

/* A sequence of items up to CLOSE (')' or '\0', not consumed). */
static struct node *
parse_list (struct parser *ps, char close)
{
  struct node *list = new_node (N_GROUP);

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
    if (list_append (list, item) == -1) {
      free_node (item);
      goto err;
    }
  }

 err:
  free_node (list);
  return NULL;
}

/* ---------------------------------------------------------------- */
/* Evaluation: write the expression into the sparse array. */

/* Largest offset the disk can reach. */
#define LIMIT ((uint64_t) INT64_MAX)

struct cursor {
  uint64_t pos;                 /* where the next byte goes */
  uint64_t max;                 /* furthest point reached */
};

static int
advance (struct cursor *c, uint64_t n)
{
  if (n > LIMIT - c->pos) {
    nbdkit_error ("data: the expression goes beyond the largest "
                  "possible disk (2^63-1 bytes)");
    return -1;
  }
  c->pos += n;
  return 0;
}

static void
note_max (struct cursor *c)
{
  if (c->pos > c->max)
    c->max = c->pos;
}

static int
write_bytes (struct cursor *c, const void *buf, size_t len)
{
  if (len > LIMIT - c->pos) {
    nbdkit_error ("data: the expression goes beyond the largest "
                  "possible disk (2^63-1 bytes)");
    return -1;
  }
  if (sparse_array_write (sa, buf, len, c->pos) == -1) {
    nbdkit_error ("data: writing %zu bytes at %" PRIu64 ": %m", len, c->pos);
    return -1;
  }
  c->pos += len;
  note_max (c);
  return 0;
}

static int
write_file (struct cursor *c, const char *filename)
{
  CLEANUP_CLOSE int fd = open (filename, O_RDONLY | O_CLOEXEC);
  CLEANUP_FREE char *buf = NULL;
  const size_t bufsize = 1024 * 1024;

  if (fd == -1) {
    nbdkit_error ("data: <%s: %m", filename);
    return -1;
  }
  buf = malloc (bufsize);
  if (buf == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  for (;;) {
    ssize_t r = read (fd, buf, bufsize);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("data: <%s: read: %m", filename);
      return -1;
    }
    if (r == 0)
      return 0;
    if (write_bytes (c, buf, r) == -1)
      return -1;
  }
}

/* Place copies 2..COUNT of the LEN bytes just written at START.  The
 * first copy is read back from the array and replicated in large
 * chunks, so that ( 0 1 ) * 1G is quick.
 */
#define MAX_REPLICATE (64 * 1024 * 1024)

static int
replicate (struct cursor *c, uint64_t start, uint64_t len, uint64_t count)
{
  CLEANUP_FREE unsigned char *buf = NULL;
  uint64_t copies_per_chunk, chunk, remaining, i;
  bool uniform;

  if (count <= 1 || len == 0)
    return 0;
  if (count - 1 > (LIMIT - c->pos) / len) {
    nbdkit_error ("data: the expression goes beyond the largest "
                  "possible disk (2^63-1 bytes)");
    return -1;
  }

  copies_per_chunk = MAX (UINT64_C (1), (1024 * 1024) / len);
  copies_per_chunk = MIN (copies_per_chunk, count - 1);
  chunk = copies_per_chunk * len;
  buf = malloc (chunk);
  if (buf == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  sparse_array_read (sa, buf, len, start);

  /* All one byte value?  Then fill, which also keeps zeroes sparse. */
  uniform = true;
  for (i = 1; i < len; ++i)
    if (buf[i] != buf[0]) {
      uniform = false;
      break;
    }
  if (uniform) {
    if (sparse_array_fill (sa, buf[0], (count - 1) * len, c->pos) == -1) {
      nbdkit_error ("data: fill: %m");
      return -1;
    }
    c->pos += (count - 1) * len;
    note_max (c);
    return 0;
  }

  for (i = 1; i < copies_per_chunk; ++i)
    memcpy (buf + i * len, buf, len);
  remaining = (count - 1) * len;
  while (remaining > 0) {
    uint64_t n = MIN (remaining, chunk);
    if (write_bytes (c, buf, n) == -1)
      return -1;
    remaining -= n;
  }
  return 0;
}

static int
eval (const struct node *n, uint64_t origin, struct cursor *c)
{
  size_t i;

  switch (n->type) {
  case N_BYTE:
    return write_bytes (c, &n->u.byte, 1);

  case N_STRING:
    return write_bytes (c, n->u.str.s, n->u.str.len);

  case N_FILE:
    return write_file (c, n->u.str.s);

  case N_OFFSET:
    c->pos = origin;
    if (advance (c, n->u.num) == -1)
      return -1;
    note_max (c);
    return 0;

  case N_FORWARD:
    if (advance (c, n->u.num) == -1)
      return -1;
    note_max (c);
    return 0;

  case N_BACK:
    if (n->u.num > c->pos - origin) {
      nbdkit_error ("data: @-%" PRIu64 " moves before the start of "
                    "the %s (the cursor is at %" PRIu64 ")", n->u.num,
                    origin == 0 ? "disk" : "group", c->pos - origin);
      return -1;
    }
    c->pos -= n->u.num;
    return 0;

  case N_ALIGN: {
    uint64_t rel = c->pos - origin;
    uint64_t up = ROUND_UP (rel, n->u.num);
    if (up < rel) {             /* wrapped */
      nbdkit_error ("data: @^%" PRIu64 " overflows", n->u.num);
      return -1;
    }
    if (advance (c, up - rel) == -1)
      return -1;
    note_max (c);
    return 0;
  }

  case N_GROUP: {
    /* A block: its own origin, its length is the furthest it reached. */
    struct cursor inner = { .pos = c->pos, .max = c->pos };
    for (i = 0; i < n->u.list.n; ++i)
      if (eval (n->u.list.v[i], c->pos, &inner) == -1)
        return -1;
    c->pos = MAX (inner.max, inner.pos);
    note_max (c);
    return 0;
  }

  case N_REPEAT: {
    const struct node *child = n->u.rep.child;
    uint64_t count = n->u.rep.count, start = c->pos, len, k;
    struct cursor first = { .pos = c->pos, .max = c->pos };

    if (count == 0)
      return 0;
    /* Each copy is a block like a group. */
    if (eval (child, c->pos, &first) == -1)
      return -1;
    len = MAX (first.max, first.pos) - start;
    c->pos = start + len;
    note_max (c);

    if (is_dense (child) && len <= MAX_REPLICATE)
      return replicate (c, start, len, count);
    if (writes_nothing (child)) {
      if (len > 0 && count - 1 > (LIMIT - c->pos) / len) {
        nbdkit_error ("data: the expression goes beyond the largest "
                      "possible disk (2^63-1 bytes)");
        return -1;
      }
      c->pos += (count - 1) * len;
      note_max (c);
      return 0;
    }

    /* Anything else: evaluate every copy. */
    for (k = 1; k < count; ++k) {
      struct cursor copy = { .pos = c->pos, .max = c->pos };
      uint64_t copy_start = c->pos;
      if (eval (child, copy_start, &copy) == -1)
        return -1;
      c->pos = copy_start + (MAX (copy.max, copy.pos) - copy_start);
      note_max (c);
    }
    return 0;
  }
  }
  abort ();
}

/* ---------------------------------------------------------------- */
/* base64 */

static int
base64_value (unsigned char c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decode IN into a new buffer.  White space is ignored, '=' padding is
 * optional.  Returns -1 after an error.
 */
static int
base64_decode (const char *in, unsigned char **out, size_t *outlen)
{
  unsigned char *buf = malloc (strlen (in) * 3 / 4 + 3);
  size_t len = 0, i;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;

  if (buf == NULL) {
    nbdkit_error ("data: malloc: %m");
    return -1;
  }
  for (i = 0; in[i]; ++i) {
    unsigned char c = in[i];
    int v;

    if (isspace (c))
      continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    v = base64_value (c);
    if (v < 0 || padding) {
      nbdkit_error ("data: base64: at character %zu: expected a base64 "
                    "character (A-Z a-z 0-9 + /)%s, but found '%c'",
                    i + 1, padding ? " before the '=' padding" : "", c);
      free (buf);
      return -1;
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[len++] = acc >> bits;
      acc &= (1u << bits) - 1;
    }
  }
  if (bits >= 6) {
    nbdkit_error ("data: base64: the data ends in the middle of a byte "
                  "(truncated base64?)");
    free (buf);
    return -1;
  }
  *out = buf;
  *outlen = len;
  return 0;
}

/* ---------------------------------------------------------------- */
/* Plugin callbacks. */

static void
data_unload (void)
{
  free (source_value);
  sparse_array_free (sa);
}

static const char *
source_key (enum source s)
{
  switch (s) {
  case SRC_DATA: return "data";
  case SRC_RAW: return "raw";
  case SRC_BASE64: return "base64";
  default: return "";
  }
}

static int
data_config (const char *key, const char *value)
{
  enum source s = SRC_NONE;

  if (strcmp (key, "size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1) {
      nbdkit_error ("data: could not parse size=%s", value);
      return -1;
    }
    size = r;
    return 0;
  }
  if (strcmp (key, "data") == 0)
    s = SRC_DATA;
  else if (strcmp (key, "raw") == 0)
    s = SRC_RAW;
  else if (strcmp (key, "base64") == 0)
    s = SRC_BASE64;
  else {
    nbdkit_error ("data: unknown parameter '%s=%s'", key, value);
    return -1;
  }

  if (source != SRC_NONE) {
    nbdkit_error ("data: %s=%s: the disk was already given by %s=; use "
                  "only one of data=, raw= or base64=",
                  key, value, source_key (source));
    return -1;
  }
  source = s;
  source_value = strdup (value);
  if (source_value == NULL) {
    nbdkit_error ("data: strdup: %m");
    return -1;
  }
  return 0;
}

#define data_config_help \
  "[data=]EXPRESSION           The disk contents as an expression:\n" \
  "                            bytes (0..255), \"strings\", @OFFSET,\n" \
  "                            @+N, @-N, @^ALIGN, ( group ) * N, <FILE.\n" \
  "raw=BINARY                  The disk contents as raw bytes.\n" \
  "base64=BASE64               The disk contents in base64.\n" \
  "size=SIZE                   The disk size (default: end of the data)."

static int
data_config_complete (void)
{
  struct cursor c = { 0, 0 };

  if (source == SRC_NONE && size == -1) {
    nbdkit_error ("data: you must give the disk contents with data=, "
                  "raw= or base64= (or size= for an empty disk)");
    return -1;
  }

  sa = sparse_array_new (SPARSE_MAX_SIZE);
  if (sa == NULL) {
    nbdkit_error ("data: cannot create the sparse array: %m");
    return -1;
  }

  switch (source) {
  case SRC_NONE:
    break;

  case SRC_RAW:
    if (write_bytes (&c, source_value, strlen (source_value)) == -1)
      return -1;
    break;

  case SRC_BASE64: {
    CLEANUP_FREE unsigned char *buf = NULL;
    size_t len;
    if (base64_decode (source_value, &buf, &len) == -1)
      return -1;
    if (write_bytes (&c, buf, len) == -1)
      return -1;
    break;
  }

  case SRC_DATA: {
    struct parser ps = { .expr = source_value, .p = source_value };
    struct node *root = parse_list (&ps, '\0');
    int r;

    if (root == NULL)
      return -1;
    if (data_debug_AST)
      debug_tree (root);
    r = eval (root, 0, &c);
    free_node (root);
    if (r == -1)
      return -1;
    break;
  }
  }

  note_max (&c);
  if (size >= 0) {
    disk_size = size;
    /* Drop anything past the end. */
    if (c.max > (uint64_t) size)
      sparse_array_zero (sa, c.max - size, size);
  }
  else
    disk_size = c.max;

  nbdkit_debug ("data: disk size %" PRIi64 ", %" PRIu64 " pages allocated",
                disk_size, sparse_array_pages (sa));
  return 0;
}

static int handle;

static void *
data_open (int readonly)
{
  return &handle;
}

static int64_t
data_get_size (void *h)
{
  return disk_size;
}

static int
data_one (void *h)
{
  return 1;
}

static int
data_can_fua (void *h)
{
  return NBDKIT_FUA_NATIVE;
}

static int
data_can_zero (void *h)
{
  return NBDKIT_ZERO_NATIVE;
}

static int
data_can_cache (void *h)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
data_pread (void *h, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  sparse_array_read (sa, buf, count, offset);
  return 0;
}

static int
data_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  if (sparse_array_write (sa, buf, count, offset) == -1) {
    nbdkit_error ("data: write: %m");
    return -1;
  }
  return 0;
}

static int
data_noop (void *h, uint32_t flags)
{
  return 0;
}

static int
data_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  sparse_array_zero (sa, count, offset);
  return 0;
}

static int
data_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
data_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
             struct nbdkit_extents *extents)
{
  return sparse_array_plugin_extents (sa, count, offset, flags, extents);
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name              = "data",
  .longname          = "blockkit data plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "A disk whose contents are given on the command "
                       "line (expression, raw bytes or base64)",
  .unload            = data_unload,
  .config            = data_config,
  .config_complete   = data_config_complete,
  .config_help       = data_config_help,
  .magic_config_key  = "data",
  .open              = data_open,
  .get_size          = data_get_size,
  .can_multi_conn    = data_one,
  .can_trim          = data_one,
  .can_flush         = data_one,
  .can_extents       = data_one,
  .can_fast_zero     = data_one,
  .can_fua           = data_can_fua,
  .can_zero          = data_can_zero,
  .can_cache         = data_can_cache,
  .pread             = data_pread,
  .pwrite            = data_pwrite,
  .flush             = data_noop,
  .zero              = data_zero,
  .trim              = data_zero,
  .cache             = data_cache,
  .extents           = data_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
