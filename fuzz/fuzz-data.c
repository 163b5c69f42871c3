/* blockkit fuzzing: the data plugin's expression language, and its
 * base64 decoder.
 *
 * The fuzz input is the text of a data= expression (the seeds are the
 * examples of blockkit-data-plugin(1)).  Each iteration parses it,
 * prints the tree as -D data.AST=1 would, evaluates it into a fresh
 * sparse array as .config_complete does, reads the resulting disk back
 * through .pread and .extents, and frees everything; the same bytes are
 * also given to the base64 decoder (base64=).
 *
 * data.c is included rather than linked, to reach its static parser and
 * evaluator.  Two things a fuzzer must not do are fenced off here, not
 * in the plugin, because a user on the command line may do them:
 * <FILE reads a file (an expression that names one is parsed, not
 * evaluated), and writing gigabytes of RAM (the sparse array calls are
 * wrapped and fail, as a full disk would, once a budget is spent).
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparse.h"

/* What one iteration may spend: RAM in the sparse array (every page a
 * write allocates, and as much again for the tree above scattered
 * pages), bytes read back (the evaluator reads what it replicates, so
 * a nest of repeats over terabytes of zeroes costs reads, not RAM),
 * and calls.  Well beyond any seed, far below what makes an iteration
 * slow or big.  Past it, writes fail as they would on a full machine.
 */
#define BUDGET_RAM (64 * 1024 * 1024)
#define BUDGET_READ (64 * 1024 * 1024)
#define BUDGET_CALLS 100000

static uint64_t spent_read, spent_calls;

static int
budget (struct sparse_array *a, uint64_t len)
{
  uint64_t pages = sparse_array_pages (a) + len / SPARSE_PAGE_SIZE + 1;

  if (++spent_calls > BUDGET_CALLS || spent_read > BUDGET_READ ||
      pages > BUDGET_RAM / SPARSE_PAGE_SIZE / 2) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

static int
fuzz_sparse_write (struct sparse_array *a, const void *buf, size_t count,
                   uint64_t offset)
{
  if (budget (a, count) == -1)
    return -1;
  return sparse_array_write (a, buf, count, offset);
}

static int
fuzz_sparse_fill (struct sparse_array *a, int c, uint64_t count,
                  uint64_t offset)
{
  if (budget (a, c == 0 ? 0 : count) == -1)
    return -1;
  return sparse_array_fill (a, c, count, offset);
}

static void
fuzz_sparse_read (struct sparse_array *a, void *buf, size_t count,
                  uint64_t offset)
{
  spent_read += count;
  sparse_array_read (a, buf, count, offset);
}

#define sparse_array_write fuzz_sparse_write
#define sparse_array_fill fuzz_sparse_fill
#define sparse_array_read fuzz_sparse_read
#include "../plugins/data/data.c"
#undef sparse_array_write
#undef sparse_array_fill
#undef sparse_array_read
#include <nbdkit-filter.h>        /* nbdkit_extents_new */

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FILE *devnull;

static bool
names_a_file (const struct node *n)
{
  size_t i;

  switch (n->type) {
  case N_FILE:
    return true;
  case N_GROUP:
    for (i = 0; i < n->u.list.n; ++i)
      if (names_a_file (n->u.list.v[i]))
        return true;
    return false;
  case N_REPEAT:
    return names_a_file (n->u.rep.child);
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
    if (data_pread (&handle, buf, n, offsets[i], 0) == -1)
      abort ();
  }
  exts = nbdkit_extents_new (0, disk_size);
  if (exts == NULL)
    abort ();
  /* Block status walks the pages: 64M is plenty to cross a few. */
  if (data_extents (&handle, MIN (disk_size, (int64_t) 64 * 1024 * 1024),
                    0, 0, exts) == -1)
    abort ();
  nbdkit_extents_free (exts);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *expr = malloc (size + 1);
  struct parser ps;
  struct node *root;
  struct cursor c = { 0, 0 };
  unsigned char *decoded = NULL;
  size_t decoded_len;

  if (expr == NULL)
    abort ();
  memcpy (expr, data, size);
  expr[size] = '\0';
  if (devnull == NULL && (devnull = fopen ("/dev/null", "w")) == NULL)
    abort ();

  /* base64= */
  if (base64_decode (expr, &decoded, &decoded_len) == 0)
    free (decoded);

  /* data=, as data_config_complete does it. */
  spent_read = spent_calls = 0;
  sa = sparse_array_new (SPARSE_MAX_SIZE);
  if (sa == NULL)
    abort ();
  ps = (struct parser) { .expr = expr, .p = expr };
  root = parse_list (&ps, '\0');
  if (root != NULL) {
    print_node (devnull, root, 0);
    if (!names_a_file (root) && eval (root, 0, &c) == 0) {
      note_max (&c);
      if (c.max > LIMIT)
        abort ();               /* the evaluator let the disk overflow */
      disk_size = c.max;
      read_back ();
    }
    free_node (root);
  }
  sparse_array_free (sa);
  sa = NULL;
  disk_size = 0;
  free (expr);
  return 0;
}
