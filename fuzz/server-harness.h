/* blockkit fuzzing: the real server, run in process on one end of a
 * socketpair, for the protocol targets (fuzz-handshake, fuzz-transmission).
 */
#ifndef BLOCKKIT_FUZZ_SERVER_HARNESS_H
#define BLOCKKIT_FUZZ_SERVER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Loads the memory plugin (linked in) as the chain, once. */
extern void harness_init (void);

/* Serves one connection whose client sends the LEN1 bytes of PART1,
 * then the LEN2 bytes of PART2, then closes its sending side, reading
 * and discarding everything the server says.  Returns when the server
 * has closed the connection.
 */
extern void harness_connection (const uint8_t *part1, size_t len1,
                                const uint8_t *part2, size_t len2);

#endif /* BLOCKKIT_FUZZ_SERVER_HARNESS_H */
