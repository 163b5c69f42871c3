/* blockkit: check that the structs in common/protocol/nbd-protocol.h
 * have exactly the size and layout of the NBD wire format.
 */
#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <endian.h>

#include "nbd-protocol.h"

static unsigned failures;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

/* Compile-time as well: a wrong size breaks the build. */
_Static_assert (sizeof (struct nbd_request) == 28, "request");
_Static_assert (sizeof (struct nbd_simple_reply) == 16, "simple reply");
_Static_assert (sizeof (struct nbd_structured_reply) == 20, "structured");

static void
test_sizes (void)
{
  CHECK (sizeof (struct nbd_old_handshake) == 152);
  CHECK (sizeof (struct nbd_new_handshake) == 18);
  CHECK (sizeof (struct nbd_new_option) == 16);
  CHECK (sizeof (struct nbd_fixed_new_option_reply) == 20);
  CHECK (sizeof (struct nbd_new_handshake_finish) == 134);
  CHECK (sizeof (struct nbd_request) == 28);
  CHECK (sizeof (struct nbd_simple_reply) == 16);
  CHECK (sizeof (struct nbd_structured_reply) == 20);
  CHECK (sizeof (struct nbd_structured_reply_offset_data) == 8);
  CHECK (sizeof (struct nbd_structured_reply_offset_hole) == 12);
  CHECK (sizeof (struct nbd_structured_reply_error) == 6);
  CHECK (sizeof (struct nbd_block_descriptor) == 8);
}

static void
test_offsets (void)
{
  CHECK (offsetof (struct nbd_old_handshake, version) == 8);
  CHECK (offsetof (struct nbd_old_handshake, exportsize) == 16);
  CHECK (offsetof (struct nbd_old_handshake, gflags) == 24);
  CHECK (offsetof (struct nbd_old_handshake, eflags) == 26);
  CHECK (offsetof (struct nbd_old_handshake, zeroes) == 28);

  CHECK (offsetof (struct nbd_new_handshake, gflags) == 16);

  CHECK (offsetof (struct nbd_new_option, option) == 8);
  CHECK (offsetof (struct nbd_new_option, optlen) == 12);

  CHECK (offsetof (struct nbd_fixed_new_option_reply, option) == 8);
  CHECK (offsetof (struct nbd_fixed_new_option_reply, reply) == 12);
  CHECK (offsetof (struct nbd_fixed_new_option_reply, replylen) == 16);

  CHECK (offsetof (struct nbd_new_handshake_finish, eflags) == 8);
  CHECK (offsetof (struct nbd_new_handshake_finish, zeroes) == 10);

  CHECK (offsetof (struct nbd_request, flags) == 4);
  CHECK (offsetof (struct nbd_request, type) == 6);
  CHECK (offsetof (struct nbd_request, cookie) == 8);
  CHECK (offsetof (struct nbd_request, offset) == 16);
  CHECK (offsetof (struct nbd_request, count) == 24);

  CHECK (offsetof (struct nbd_simple_reply, error) == 4);
  CHECK (offsetof (struct nbd_simple_reply, cookie) == 8);

  CHECK (offsetof (struct nbd_structured_reply, flags) == 4);
  CHECK (offsetof (struct nbd_structured_reply, type) == 6);
  CHECK (offsetof (struct nbd_structured_reply, cookie) == 8);
  CHECK (offsetof (struct nbd_structured_reply, length) == 16);

  CHECK (offsetof (struct nbd_structured_reply_offset_hole, length) == 8);
  CHECK (offsetof (struct nbd_structured_reply_error, len) == 4);
  CHECK (offsetof (struct nbd_block_descriptor, status_flags) == 4);
}

static void
test_constants (void)
{
  uint64_t be;

  /* The two handshake magics spell words in ASCII on the wire. */
  be = htobe64 (NBD_MAGIC);
  CHECK (memcmp (&be, "NBDMAGIC", 8) == 0);
  be = htobe64 (NBD_NEW_VERSION);
  CHECK (memcmp (&be, "IHAVEOPT", 8) == 0);

  CHECK (NBD_REQUEST_MAGIC == 0x25609513);
  CHECK (NBD_SIMPLE_REPLY_MAGIC == 0x67446698);
  CHECK (NBD_STRUCTURED_REPLY_MAGIC == 0x668e33ef);
  CHECK (NBD_REP_MAGIC == UINT64_C (0x3e889045565a9));
  CHECK (NBD_OLD_VERSION == UINT64_C (0x420281861253));

  CHECK (NBD_REP_ERR_UNSUP == UINT32_C (0x80000001));
  CHECK (NBD_REP_ERR_TOO_BIG == UINT32_C (0x80000009));
  CHECK (NBD_REPLY_TYPE_ERROR == 32769);
  CHECK (NBD_REPLY_TYPE_ERROR_OFFSET == 32770);
  CHECK (NBD_FLAG_SEND_FAST_ZERO == 0x800);
  CHECK (NBD_CMD_FLAG_FAST_ZERO == 0x10);
}

int
main (void)
{
  test_sizes ();
  test_offsets ();
  test_constants ();

  if (failures) {
    fprintf (stderr, "test-nbd-protocol: %u check(s) FAILED\n", failures);
    return 1;
  }
  printf ("test-nbd-protocol: all checks passed\n");
  return 0;
}
