/* blockkit: the data plugin's expression tree: making, freeing and
 * printing nodes, and the simplification data_parse applies (see
 * data.h; the parser is parse.c).
 *
 * data_simplify rewrites the tree the way nbdkit's data plugin
 * optimises its own.  That is not only for speed: it decides which
 * written bytes end up allocated and so how a disk looks in block
 * status, and nbdkit's behaviour there is what clients have come to
 * see.  The rules (found by comparing nbdinfo --map of many
 * expressions with nbdkit 1.32):
 *
 *   - a string (or word) of two or more equal bytes becomes a fill,
 *     and so does a byte repeated N > 1 times; a fill of zeroes is a
 *     zero request, so it leaves a hole ("0 0", le16:0, 0*100) where
 *     a single written 0 is allocated data that reads as zero;
 *   - then neighbours in a list merge, left to right: two equal bytes
 *     into a fill, two different ones into a string; a byte and a fill
 *     of the same byte (either way round), or two such fills, into one
 *     fill; a string and a byte (either way round) or two strings into
 *     one string (which stays a string even if its bytes are equal:
 *     "\x00" 0 is allocated, "\x00\x00" is not); a fill and a string
 *     never merge;
 *   - a group is spliced into its parent if it has no @ and no ->
 *     among its items (then it is the same as its items written in
 *     place); a group of one such item is that item; X*1 is X.
 *
 * Everything else (groups with @ or ->, repeats of anything but a
 * string, slices of anything but a byte, string, fill, file or script,
 * names) is evaluated on its own and copied in, zeroes as holes
 * (eval.c).  A $variable is a group (parse.c), simplified like one.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <ctype.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "data.h"
#include "minmax.h"

void
data_free_node (struct node *n)
{
  size_t i;

  if (n == NULL)
    return;
  switch (n->type) {
  case N_STRING: case N_FILE: case N_SCRIPT: case N_NAME:
    free (n->u.str.s);
    break;
  case N_GROUP:
    for (i = 0; i < n->u.list.n; ++i)
      data_free_node (n->u.list.v[i]);
    free (n->u.list.v);
    break;
  case N_REPEAT:
    data_free_node (n->u.rep.child);
    break;
  case N_SLICE:
    data_free_node (n->u.slice.child);
    break;
  case N_ASSIGN:
    data_free_node (n->u.assign.child);
    free (n->u.assign.name);
    break;
  default:
    break;
  }
  free (n);
}

struct node *
data_new_node (enum node_type type)
{
  struct node *n = calloc (1, sizeof *n);
  if (n == NULL)
    nbdkit_error ("data: calloc: %m");
  else
    n->type = type;
  return n;
}

/* A node holding a copy of LEN bytes of S (a string, name, file...). */
struct node *
data_new_str_node (enum node_type type, const char *s, size_t len)
{
  struct node *n = data_new_node (type);

  if (n == NULL)
    return NULL;
  n->u.str.s = malloc (len + 1);
  if (n->u.str.s == NULL) {
    nbdkit_error ("data: malloc: %m");
    free (n);
    return NULL;
  }
  memcpy (n->u.str.s, s, len);
  n->u.str.s[len] = '\0';
  n->u.str.len = len;
  return n;
}

int
data_list_append (struct node *list, struct node *item)
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

static bool
is_move (const struct node *n)
{
  return n->type == N_OFFSET || n->type == N_FORWARD ||
    n->type == N_BACK || n->type == N_ALIGN;
}

static void
print_bytes (FILE *fp, const char *s, size_t len)
{
  size_t i;

  fputc ('"', fp);
  for (i = 0; i < len && i < 64; ++i) {
    unsigned char c = s[i];
    if (isprint (c) && c != '"' && c != '\\')
      fputc (c, fp);
    else
      fprintf (fp, "\\x%02x", c);
  }
  fprintf (fp, "%s\"", len > 64 ? "..." : "");
}

void
data_print_node (FILE *fp, const struct node *n, int indent)
{
  size_t i;

  fprintf (fp, "%*s", indent, "");
  switch (n->type) {
  case N_BYTE:
    fprintf (fp, "byte %u\n", n->u.byte);
    return;
  case N_STRING:
    fprintf (fp, "string of %zu bytes: ", n->u.str.len);
    print_bytes (fp, n->u.str.s, n->u.str.len);
    fputc ('\n', fp);
    return;
  case N_FILL:
    fprintf (fp, "fill %" PRIu64 " bytes of %u\n",
             n->u.fill.count, n->u.fill.byte);
    return;
  case N_FILE:
    fprintf (fp, "file %s\n", n->u.str.s);
    return;
  case N_SCRIPT:
    fprintf (fp, "script ");
    print_bytes (fp, n->u.str.s, n->u.str.len);
    fputc ('\n', fp);
    return;
  case N_OFFSET:
    fprintf (fp, "offset @%" PRIu64 "\n", n->u.num);
    return;
  case N_FORWARD:
    fprintf (fp, "offset @+%" PRIu64 "\n", n->u.num);
    return;
  case N_BACK:
    fprintf (fp, "offset @-%" PRIu64 "\n", n->u.num);
    return;
  case N_ALIGN:
    fprintf (fp, "align @^%" PRIu64 "\n", n->u.num);
    return;
  case N_GROUP:
    fprintf (fp, "group (%zu items)\n", n->u.list.n);
    for (i = 0; i < n->u.list.n; ++i)
      data_print_node (fp, n->u.list.v[i], indent + 2);
    return;
  case N_REPEAT:
    fprintf (fp, "repeat %" PRIu64 " times\n", n->u.rep.count);
    data_print_node (fp, n->u.rep.child, indent + 2);
    return;
  case N_SLICE:
    if (n->u.slice.has_end)
      fprintf (fp, "slice [%" PRIu64 ":%" PRIu64 "]\n",
               n->u.slice.start, n->u.slice.end);
    else
      fprintf (fp, "slice [%" PRIu64 ":]\n", n->u.slice.start);
    data_print_node (fp, n->u.slice.child, indent + 2);
    return;
  case N_ASSIGN:
    fprintf (fp, "assign to \\%s\n", n->u.assign.name);
    data_print_node (fp, n->u.assign.child, indent + 2);
    return;
  case N_NAME:
    fprintf (fp, "name \\%s\n", n->u.str.s);
    return;
  }
}

/* ---------------------------------------------------------------- */
/* Simplification (the rules are in the comment at the top). */

/* A group that can be replaced by its items. */
bool
data_is_splicable (const struct node *g)
{
  size_t i;

  for (i = 0; i < g->u.list.n; ++i)
    if (is_move (g->u.list.v[i]) || g->u.list.v[i]->type == N_ASSIGN)
      return false;
  return true;
}

/* Turn a string of one repeated byte (2 bytes or more) into a fill. */
static struct node *
uniform_to_fill (struct node *n)
{
  size_t i;
  unsigned char c;

  if (n->type != N_STRING || n->u.str.len < 2)
    return n;
  c = n->u.str.s[0];
  for (i = 1; i < n->u.str.len; ++i)
    if ((unsigned char) n->u.str.s[i] != c)
      return n;
  free (n->u.str.s);
  n->type = N_FILL;
  n->u.fill.byte = c;
  n->u.fill.count = i;
  return n;
}

/* A group of exactly one item that could stand in its place. */
static struct node *
unwrap (struct node *n)
{
  struct node *item;

  if (n->type != N_GROUP || n->u.list.n != 1 || !data_is_splicable (n))
    return n;
  item = n->u.list.v[0];
  free (n->u.list.v);
  free (n);
  return item;
}

/* Append LEN bytes at P to string node N. */
static bool
string_append (struct node *n, const void *p, size_t len)
{
  char *s = realloc (n->u.str.s, n->u.str.len + len + 1);

  if (s == NULL)
    return false;               /* not merged: still correct */
  memcpy (s + n->u.str.len, p, len);
  n->u.str.len += len;
  s[n->u.str.len] = '\0';
  n->u.str.s = s;
  return true;
}

/* Merge CUR into PREV, the item before it, if nbdkit would (see the
 * comment at the top).  Returns true if it did (CUR is then to be
 * freed).
 */
static bool
merge (struct node *prev, const struct node *cur)
{
  unsigned char b;

  switch (prev->type) {
  case N_BYTE:
    b = prev->u.byte;
    if (cur->type == N_BYTE && cur->u.byte == b) {
      prev->type = N_FILL;
      prev->u.fill.byte = b;
      prev->u.fill.count = 2;
      return true;
    }
    if (cur->type == N_FILL && cur->u.fill.byte == b &&
        cur->u.fill.count < DATA_LIMIT) {
      prev->type = N_FILL;
      prev->u.fill.byte = b;
      prev->u.fill.count = cur->u.fill.count + 1;
      return true;
    }
    if (cur->type == N_BYTE || cur->type == N_STRING) {
      size_t len = cur->type == N_BYTE ? 1 : cur->u.str.len;
      char *s = malloc (len + 2);
      if (s == NULL)
        return false;
      s[0] = b;
      if (cur->type == N_BYTE)
        s[1] = cur->u.byte;
      else
        memcpy (s + 1, cur->u.str.s, len);
      s[len + 1] = '\0';
      prev->type = N_STRING;
      prev->u.str.s = s;
      prev->u.str.len = len + 1;
      return true;
    }
    return false;

  case N_FILL:
    b = prev->u.fill.byte;
    if (cur->type == N_BYTE && cur->u.byte == b &&
        prev->u.fill.count < DATA_LIMIT) {
      prev->u.fill.count++;
      return true;
    }
    if (cur->type == N_FILL && cur->u.fill.byte == b &&
        cur->u.fill.count <= DATA_LIMIT - prev->u.fill.count) {
      prev->u.fill.count += cur->u.fill.count;
      return true;
    }
    return false;

  case N_STRING:
    if (cur->type == N_BYTE)
      return string_append (prev, &cur->u.byte, 1);
    if (cur->type == N_STRING)
      return string_append (prev, cur->u.str.s, cur->u.str.len);
    return false;

  default:
    return false;
  }
}

static struct node *
simplify_group (struct node *g)
{
  struct node **v = g->u.list.v, **out;
  size_t n = g->u.list.n, i, j, total = 0;

  for (i = 0; i < n; ++i)
    v[i] = data_simplify (v[i]);

  /* Splice in child groups that have no @ and no ->. */
  for (i = 0; i < n; ++i)
    total += v[i]->type == N_GROUP && data_is_splicable (v[i])
      ? v[i]->u.list.n : 1;
  out = malloc (MAX (total, (size_t) 1) * sizeof *out);
  if (out == NULL)
    return g;                   /* leave it as it is: still correct */
  for (i = j = 0; i < n; ++i) {
    if (v[i]->type == N_GROUP && data_is_splicable (v[i])) {
      if (v[i]->u.list.n > 0)   /* an empty group has no array */
        memcpy (&out[j], v[i]->u.list.v, v[i]->u.list.n * sizeof *out);
      j += v[i]->u.list.n;
      free (v[i]->u.list.v);
      free (v[i]);
    }
    else
      out[j++] = v[i];
  }
  free (v);
  v = g->u.list.v = out;
  n = g->u.list.n = j;

  /* Merge neighbours (the rules are in the comment at the top). */
  for (i = j = 0; i < n; ++i) {
    if (j > 0 && merge (v[j - 1], v[i])) {
      data_free_node (v[i]);
      continue;
    }
    v[j++] = v[i];
  }
  g->u.list.n = j;
  return g;
}

struct node *
data_simplify (struct node *n)
{
  switch (n->type) {
  case N_STRING:
    return uniform_to_fill (n);

  case N_GROUP:
    return simplify_group (n);

  case N_REPEAT: {
    struct node *c = unwrap (data_simplify (n->u.rep.child));
    uint64_t count = n->u.rep.count;

    n->u.rep.child = c;
    if (count == 1) {
      free (n);
      return c;
    }
    if (count == 0) {
      /* Nothing at all: an empty group. */
      data_free_node (c);
      n->type = N_GROUP;
      n->u.list.v = NULL;
      n->u.list.n = 0;
      return n;
    }
    if (c->type == N_BYTE) {
      n->type = N_FILL;
      n->u.fill.byte = c->u.byte;
      n->u.fill.count = count;
      free (c);
      return n;
    }
    if (c->type == N_FILL && c->u.fill.count <= DATA_LIMIT / count) {
      c->u.fill.count *= count;
      free (n);
      return c;
    }
    return n;
  }

  case N_SLICE:
    n->u.slice.child = unwrap (data_simplify (n->u.slice.child));
    return n;

  case N_ASSIGN:
    n->u.assign.child = unwrap (data_simplify (n->u.assign.child));
    return n;

  default:
    return n;
  }
}

