/* blockkit fuzzing: the data plugin's expression language, and its
 * base64 decoder.
 *
 * The fuzz input is the text of a data= expression (the seeds are the
 * examples of blockkit-data-plugin(1)).  Each iteration parses it
 * (data_parse, with a few fixed $variables, one of them referring to
 * itself), prints the tree as -D data.AST=1 would, evaluates it
 * (data_eval) into a fresh disk as .config_complete does, reads the
 * resulting disk back through .pread and .extents, and frees
 * everything; the same bytes are also given to the base64 decoder
 * (base64=).
 *
 * The plugin's sources (data.c, tree.c, parse.c, eval.c) are included
 * rather than linked, to reach the plugin's static disk and callbacks.
 * Three things a fuzzer must not do are fenced off here, not in the
 * plugin, because a user on the command line may do them: <FILE reads
 * a file and <(SCRIPT) runs a shell (an expression that has either is
 * parsed, not evaluated), and writing gigabytes of RAM: every
 * allocator the evaluation uses (the disk and the scratch images of
 * groups, repeats and names) is wrapped, and fails as a full disk
 * would once a budget is spent.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/data/data.c"
#include "../plugins/data/tree.c"
#include "../plugins/data/parse.c"
#include "../plugins/data/eval.c"
#include <nbdkit-filter.h>        /* nbdkit_extents_new */

/* What one iteration may spend: RAM in sparse pages (every page a
 * write or fill allocates, over all allocators alive), bytes read back
 * (copying an image reads it, so a nest of repeats over terabytes of
 * zeroes costs reads, not RAM), and calls.  Well beyond any seed, far
 * below what makes an iteration slow or big.  Past it, writes fail as
 * they would on a full machine.
 */
#define BUDGET_RAM (64 * 1024 * 1024)
#define BUDGET_READ (64 * 1024 * 1024)
#define BUDGET_CALLS 100000

static uint64_t spent_ram, spent_read, spent_calls;

static int
budget (uint64_t ram)
{
  spent_ram += ram;
  if (++spent_calls > BUDGET_CALLS || spent_read > BUDGET_READ ||
      spent_ram > BUDGET_RAM) {
    nbdkit_error ("fuzz: budget spent");
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* An allocator that counts, around a sparse one. */
struct budget_allocator {
  struct allocator a;
  struct allocator *inner;
};

#define INNER(a) (((struct budget_allocator *) (a))->inner)

static void
b_free (struct allocator *a)
{
  INNER (a)->f->free (INNER (a));
  free (a);
}

static int
b_set_size_hint (struct allocator *a, uint64_t size)
{
  return INNER (a)->f->set_size_hint (INNER (a), size);
}

static int
b_read (struct allocator *a, void *buf, uint64_t count, uint64_t offset)
{
  spent_read += count;
  if (budget (0) == -1)
    return -1;
  return INNER (a)->f->read (INNER (a), buf, count, offset);
}

static int
b_write (struct allocator *a, const void *buf, uint64_t count,
         uint64_t offset, bool keep_holes)
{
  /* Pages touched, at most: one more than the bytes span. */
  if (budget (count + SPARSE_PAGE_SIZE) == -1)
    return -1;
  return INNER (a)->f->write (INNER (a), buf, count, offset, keep_holes);
}

static int
b_fill (struct allocator *a, int c, uint64_t count, uint64_t offset)
{
  if (budget (c == 0 ? 0 : count + SPARSE_PAGE_SIZE) == -1)
    return -1;
  return INNER (a)->f->fill (INNER (a), c, count, offset);
}

static int
b_zero (struct allocator *a, uint64_t count, uint64_t offset)
{
  if (budget (0) == -1)
    return -1;
  return INNER (a)->f->zero (INNER (a), count, offset);
}

static int
b_extents (struct allocator *a, uint64_t count, uint64_t offset,
           allocator_extent_fn fn, void *opaque)
{
  if (budget (0) == -1)
    return -1;
  return INNER (a)->f->extents (INNER (a), count, offset, fn, opaque);
}

static const struct allocator_functions budget_functions = {
  .name = "fuzz-budget",
  .free = b_free,
  .set_size_hint = b_set_size_hint,
  .read = b_read,
  .write = b_write,
  .fill = b_fill,
  .zero = b_zero,
  .extents = b_extents,
};

static struct allocator *
budget_scratch (void)
{
  struct budget_allocator *b = calloc (1, sizeof *b);

  if (b == NULL)
    abort ();
  b->a.f = &budget_functions;
  b->inner = allocator_sparse_new ();
  if (b->inner == NULL)
    abort ();
  return &b->a;
}

/* A few variables, to reach $VAR: one refers to itself. */
static const char *
fuzz_var (const char *name)
{
  if (strcmp (name, "a") == 0) return "1 2 0x55";
  if (strcmp (name, "b") == 0) return "@4 $a -> \\x \\x \\x";
  if (strcmp (name, "c") == 0) return "( $c )";
  return NULL;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FILE *devnull;

static bool
runs_something (const struct node *n)
{
  size_t i;

  switch (n->type) {
  case N_FILE: case N_SCRIPT:
    return true;
  case N_GROUP:
    for (i = 0; i < n->u.list.n; ++i)
      if (runs_something (n->u.list.v[i]))
        return true;
    return false;
  case N_REPEAT:
    return runs_something (n->u.rep.child);
  case N_SLICE:
    return runs_something (n->u.slice.child);
  case N_ASSIGN:
    return runs_something (n->u.assign.child);
  default:
    return false;
  }
}

/* Reads the disk back, a few pieces of it, through the plugin. */
static void
read_back (void)
{
  struct nbdkit_extents *exts;
  char buf[4096];
  uint64_t offsets[3] = { 0, disk_size / 2, disk_size - 1 };
  size_t i;

  if (disk_size <= 0)
    return;
  for (i = 0; i < 3; ++i) {
    uint32_t n = MIN ((uint64_t) sizeof buf, disk_size - offsets[i]);
    /* May fail only because the budget is spent. */
    data_pread (&handle, buf, n, offsets[i], 0);
  }
  exts = nbdkit_extents_new (0, disk_size);
  if (exts == NULL)
    abort ();
  data_extents (&handle, MIN (disk_size, (int64_t) UINT32_MAX), 0, 0, exts);
  nbdkit_extents_free (exts);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *expr = malloc (size + 1);
  struct node *root;
  unsigned char *decoded = NULL;
  size_t decoded_len;
  uint64_t end;

  if (expr == NULL)
    abort ();
  memcpy (expr, data, size);
  expr[size] = '\0';
  if (devnull == NULL && (devnull = fopen ("/dev/null", "w")) == NULL)
    abort ();

  /* base64= */
  if (data_base64_decode (expr, &decoded, &decoded_len) == 0)
    free (decoded);

  /* data=, as data_config_complete does it. */
  spent_ram = spent_read = spent_calls = 0;
  data_new_scratch = budget_scratch;
  a = budget_scratch ();
  root = data_parse (expr, "data", fuzz_var);
  if (root != NULL) {
    data_print_node (devnull, root, 0);
    if (!runs_something (root) && data_eval (root, a, &end) == 0) {
      if (end > DATA_LIMIT)
        abort ();               /* the evaluator let the disk overflow */
      disk_size = end;
      read_back ();
    }
    data_free_node (root);
  }
  a->f->free (a);
  a = NULL;
  disk_size = 0;
  free (expr);
  return 0;
}
