/* blockkit: the data plugin's internal interface, shared by its parts:
 *
 *   parse.c   the expression language: text -> tree;
 *   tree.c    the tree's nodes, printing and simplification;
 *   eval.c    evaluation of a tree into an allocator (the disk);
 *   data.c    the plugin: parameters, base64=, raw=, the callbacks.
 *
 * fuzz/fuzz-data.c drives parse.c and eval.c directly through this
 * header, the way data_config_complete does.
 */
#ifndef BLOCKKIT_DATA_H
#define BLOCKKIT_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

struct allocator;

/* The expression tree (see blockkit-data-plugin(1) for the language). */
enum node_type {
  N_BYTE,                       /* u.byte */
  N_STRING,                     /* u.str: "...", a le16:..be64: word, or
                                 * adjacent bytes merged */
  N_FILL,                       /* u.fill: COUNT copies of one byte */
  N_FILE,                       /* u.str = file name: <FILE */
  N_SCRIPT,                     /* u.str = shell script: <(SCRIPT) */
  N_OFFSET,                     /* @N:  u.num */
  N_FORWARD,                    /* @+N: u.num */
  N_BACK,                       /* @-N: u.num */
  N_ALIGN,                      /* @^N: u.num */
  N_GROUP,                      /* ( list ), and the whole expression */
  N_REPEAT,                     /* u.rep.child * u.rep.count */
  N_SLICE,                      /* u.slice.child [start:end] */
  N_ASSIGN,                     /* u.assign.child -> \name */
  N_NAME,                       /* u.str = name: \name */
};

struct node {
  enum node_type type;
  union {
    unsigned char byte;
    struct { char *s; size_t len; } str;
    struct { unsigned char byte; uint64_t count; } fill;
    uint64_t num;
    struct { struct node **v; size_t n; } list;
    struct { struct node *child; uint64_t count; } rep;
    struct { struct node *child; uint64_t start, end; bool has_end; } slice;
    struct { struct node *child; char *name; } assign;
  } u;
};

/* Variables ($NAME): the plugin's extra parameters, else the
 * environment.  Returns NULL if not set.
 */
typedef const char *(*data_lookup_var_fn) (const char *name);

/* Parse EXPR (WHAT names it in messages, e.g. "data").  A $VAR is
 * replaced by the group its value parses to, as nbdkit does, so that
 * it is simplified like any group.  LOOKUP_VAR may be NULL (no
 * variables).  Returns the tree, already simplified (data_simplify),
 * or NULL after reporting the error.
 */
extern struct node *data_parse (const char *expr, const char *what,
                                data_lookup_var_fn lookup_var);

/* The optimisations nbdkit makes, which decide how written bytes show
 * in block status (see the comment in parse.c).  Done by data_parse.
 */
extern struct node *data_simplify (struct node *n);

/* tree.c: nodes (NULL after reporting an error).  A string node holds
 * a NUL-terminated copy of its LEN bytes.
 */
extern struct node *data_new_node (enum node_type type);
extern struct node *data_new_str_node (enum node_type type, const char *s,
                                       size_t len);
extern int data_list_append (struct node *list, struct node *item);
extern void data_free_node (struct node *n);

/* A group with no @ and no -> among its items: the same as its items
 * written in place.
 */
extern bool data_is_splicable (const struct node *group);

/* Print the tree, one node a line (-D data.AST=1). */
extern void data_print_node (FILE *fp, const struct node *n, int indent);

/* Hooks for fuzz/fuzz-data.c.  The allocator evaluation makes for each
 * sub-expression (a group, a repeat, a name...), by default
 * allocator_create ("sparse").
 */
extern struct allocator *(*data_new_scratch) (void);

/* Evaluate ROOT into A from offset 0.  *SIZE is set to the furthest
 * point reached (the disk size unless size= says otherwise).
 */
extern int data_eval (const struct node *root, struct allocator *a,
                      uint64_t *size);

/* Largest offset a disk can reach. */
#define DATA_LIMIT ((uint64_t) INT64_MAX)

/* base64= (data.c): decode IN into a new buffer. */
extern int data_base64_decode (const char *in, unsigned char **out,
                               size_t *outlen);

#endif /* BLOCKKIT_DATA_H */
