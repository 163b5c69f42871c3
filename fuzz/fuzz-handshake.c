/* blockkit fuzzing: the NBD handshake.
 *
 * The fuzz input is everything a client sends on one connection, from
 * its handshake flags on (the seeds are real sessions of nbdinfo, qemu
 * and nbdsh, captured on the wire): the server greets it, negotiates
 * options, and if the input gets that far, serves requests, from the
 * memory plugin, until the input ends.  See server-harness.c.
 *
 * The first byte's top bit also switches --oldstyle, where the server
 * speaks first and the whole input is requests.
 */
#include <config.h>

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "server-harness.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  harness_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Real handshake flags are 0..3: a set top bit is otherwise a client
   * the server refuses at once, so it may as well mean --oldstyle.
   */
  oldstyle_option = size > 0 && (data[0] & 0x80);
  harness_connection (data, size, NULL, 0);
  oldstyle_option = false;
  return 0;
}
