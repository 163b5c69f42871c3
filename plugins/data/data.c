/* blockkit: the data plugin, a disk whose initial contents are given
 * on the command line: as an expression (data=), as raw bytes (raw=)
 * or in base64 (base64=).  The disk is held in RAM by an allocator
 * (allocator=sparse, the default, malloc[,mlock=true] or zstd, as in
 * the memory plugin) and is writable; writes are lost when the server
 * exits.
 *
 * This file is the plugin: its parameters (any parameter it does not
 * know is a $variable for the expression, as in nbdkit), base64=, and
 * the callbacks.  The expression language is parse.c (text to tree)
 * and eval.c (tree to disk); data.h joins them.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"
#include "cleanup.h"
#include "data.h"

/* -D data.AST=1 prints the parsed expression. */
NBDKIT_DLL_PUBLIC int data_debug_AST = 0;

/* Which key gave the data. */
enum source { SRC_NONE, SRC_DATA, SRC_RAW, SRC_BASE64 };
static enum source source = SRC_NONE;
static char *source_value;              /* the value of that key */
static int64_t size = -1;               /* size=, or -1 */
static char *allocator_spec;            /* allocator=, or NULL */

/* Every other parameter: the $variables of the expression.  The server
 * keeps keys and values alive until unload.
 */
struct var {
  const char *key, *value;
};
static struct var *vars;
static size_t nvars;

static struct allocator *a;
static int64_t disk_size;

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
int
data_base64_decode (const char *in, unsigned char **out, size_t *outlen)
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
  free (allocator_spec);
  free (vars);
  if (a)
    a->f->free (a);
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
  if (strcmp (key, "allocator") == 0) {
    /* Checked in config_complete, where the allocator is made. */
    free (allocator_spec);
    allocator_spec = strdup (value);
    if (allocator_spec == NULL) {
      nbdkit_error ("data: strdup: %m");
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "data") == 0)
    s = SRC_DATA;
  else if (strcmp (key, "raw") == 0)
    s = SRC_RAW;
  else if (strcmp (key, "base64") == 0)
    s = SRC_BASE64;
  else {
    /* A variable for $KEY.  Given twice, the last one counts. */
    struct var *v = realloc (vars, (nvars + 1) * sizeof *v);
    if (v == NULL) {
      nbdkit_error ("data: realloc: %m");
      return -1;
    }
    vars = v;
    vars[nvars].key = key;
    vars[nvars].value = value;
    nvars++;
    return 0;
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
  "                            bytes (0..255), le16:/be16:/le32:/be32:/\n" \
  "                            le64:/be64: words, \"strings\", @OFFSET,\n" \
  "                            @+N, @-N, @^ALIGN, ( group ), X * N,\n" \
  "                            X[N:M], X -> \\NAME, \\NAME, $VAR, <FILE,\n" \
  "                            <(SCRIPT).\n" \
  "raw=BINARY                  The disk contents as raw bytes.\n" \
  "base64=BASE64               The disk contents in base64.\n" \
  "size=SIZE                   The disk size (default: end of the data).\n" \
  "allocator=sparse|malloc[,mlock=true]|zstd\n" \
  "                            How the disk is kept in RAM.\n" \
  "VAR=EXPRESSION              A variable for $VAR in data=."

static void
data_dump_plugin (void)
{
  /* The keys nbdkit prints, which scripts test for. */
  printf ("data_base64=yes\n");
  printf ("mlock=yes\n");
  printf ("zstd=%s\n", allocator_have_zstd () ? "yes" : "no");
}

/* $VAR: a parameter of the plugin, else the environment. */
static const char *
lookup_var (const char *name)
{
  size_t i;

  for (i = nvars; i-- > 0; )
    if (strcmp (vars[i].key, name) == 0)
      return vars[i].value;
  return getenv (name);
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
  data_print_node (fp, root, 0);
  fclose (fp);
  nbdkit_debug ("data: parsed expression:");
  for (line = strtok_r (buf, "\n", &saveptr); line;
       line = strtok_r (NULL, "\n", &saveptr))
    nbdkit_debug ("data: %s", line);
  free (buf);
}

static int
data_config_complete (void)
{
  uint64_t end = 0;

  if (source == SRC_NONE && size == -1) {
    nbdkit_error ("data: you must give the disk contents with data=, "
                  "raw= or base64= (or size= for an empty disk)");
    return -1;
  }

  /* As in nbdkit: variables only mean something to an expression. */
  if (nvars > 0 && source != SRC_DATA) {
    nbdkit_error ("data: unknown parameter '%s=%s' (parameters other "
                  "than size= and allocator= are variables for a "
                  "data='...' expression)", vars[0].key, vars[0].value);
    return -1;
  }

  a = allocator_create (allocator_spec ? allocator_spec : "sparse");
  if (a == NULL)
    return -1;

  switch (source) {
  case SRC_NONE:
    break;

  case SRC_RAW:
    end = strlen (source_value);
    if (end > 0 && a->f->write (a, source_value, end, 0, false) == -1)
      return -1;
    break;

  case SRC_BASE64: {
    CLEANUP_FREE unsigned char *buf = NULL;
    size_t len;
    if (data_base64_decode (source_value, &buf, &len) == -1)
      return -1;
    end = len;
    if (len > 0 && a->f->write (a, buf, len, 0, false) == -1)
      return -1;
    break;
  }

  case SRC_DATA: {
    struct node *root = data_parse (source_value, "data", lookup_var);
    int r;

    if (root == NULL)
      return -1;
    if (data_debug_AST)
      debug_tree (root);
    r = data_eval (root, a, &end);
    data_free_node (root);
    if (r == -1)
      return -1;
    break;
  }
  }

  if (size >= 0) {
    disk_size = size;
    /* Drop anything past the end. */
    if (end > (uint64_t) size && a->f->zero (a, end - size, size) == -1)
      return -1;
  }
  else
    disk_size = end;

  nbdkit_debug ("data: disk size %" PRIi64 ", allocator=%s",
                disk_size, a->f->name);
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
  return a->f->read (a, buf, count, offset);
}

static int
data_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  /* Clients' writes behave as in the memory plugin. */
  return a->f->write (a, buf, count, offset, true);
}

static int
data_noop (void *h, uint32_t flags)
{
  return 0;
}

static int
data_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return a->f->zero (a, count, offset);
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
  return allocator_plugin_extents (a, count, offset, flags, extents);
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
  .dump_plugin       = data_dump_plugin,
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
