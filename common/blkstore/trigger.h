/* blockkit: a BOOL|/PATH switch (cow-on-read, cache-on-read).
 *
 * The value is either a boolean, or an absolute path: then the switch is
 * on only while that file exists, so it can be flipped at run time
 * without restarting the server.
 */
#ifndef BLOCKKIT_BLK_TRIGGER_H
#define BLOCKKIT_BLK_TRIGGER_H

#include <stdbool.h>

struct blk_trigger {
  bool on;                      /* the boolean, when path is NULL */
  char *path;                   /* or: on while this file exists */
};

/* Parses VALUE for KEY into *T (freeing what *T held).  Returns 0, or -1
 * after nbdkit_error naming the key and the value.
 */
extern int blk_trigger_parse (const char *key, const char *value,
                              struct blk_trigger *t);
extern bool blk_trigger_active (const struct blk_trigger *t);
extern void blk_trigger_free (struct blk_trigger *t);

#endif /* BLOCKKIT_BLK_TRIGGER_H */
