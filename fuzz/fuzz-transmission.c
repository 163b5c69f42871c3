/* blockkit fuzzing: the transmission phase, request parsing and
 * validation, with the memory plugin (1 MiB) behind the server.
 *
 * The first byte of the fuzz input chooses how the connection was
 * negotiated, and the rest are the requests the client sends after
 * that (the seeds are the requests real clients send, and some that
 * break the rules).  The harness sends a valid handshake for that
 * choice first, then the requests; see server-harness.c.
 *
 *   bit 0  structured replies (NBD_OPT_STRUCTURED_REPLY)
 *   bit 1  the base:allocation meta context (needs bit 0)
 *   bit 2  the old NBD_OPT_EXPORT_NAME instead of NBD_OPT_GO
 *   bit 3  a read-only server (-r)
 */
#include <config.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "nbd-protocol.h"
#include "server-harness.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  harness_init ();
  return 0;
}

static uint8_t *
put32 (uint8_t *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, 4);
  return p + 4;
}

static uint8_t *
put_option (uint8_t *p, uint32_t option, const void *payload, uint32_t len)
{
  uint64_t magic = htobe64 (NBD_NEW_VERSION);

  memcpy (p, &magic, 8);
  p = put32 (p + 8, option);
  p = put32 (p, len);
  if (len > 0)
    memcpy (p, payload, len);
  return p + len;
}

/* Writes the client's side of a handshake for MODE into BUF. */
static size_t
handshake (uint8_t mode, uint8_t *buf)
{
  static const char meta[] = "\0\0\0\0" "\0\0\0\1" "\0\0\0\17"
    "base:allocation";
  static const char go[] = "\0\0\0\0" "\0\0";  /* name "", no infos */
  uint8_t *p = buf;

  p = put32 (p, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
  if (mode & 1) {
    p = put_option (p, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    if (mode & 2)
      p = put_option (p, NBD_OPT_SET_META_CONTEXT, meta, sizeof meta - 1);
  }
  if (mode & 4)
    p = put_option (p, NBD_OPT_EXPORT_NAME, NULL, 0);
  else
    p = put_option (p, NBD_OPT_GO, go, sizeof go - 1);
  return p - buf;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  uint8_t prefix[256];
  uint8_t mode;

  if (size == 0)
    return 0;
  mode = data[0];
  readonly_option = mode & 8;
  harness_connection (prefix, handshake (mode, prefix), data + 1, size - 1);
  readonly_option = false;
  return 0;
}
