/* blockkit: the chain runtime's internal interfaces.
 *
 * Shared by the network front end (blockkit) and, later, nbdattach.
 * Nothing here is public API: plugins only see include/.
 */
#ifndef BLOCKKIT_INTERNAL_H
#define BLOCKKIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/socket.h>

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"
#include "nbdkit-filter.h"

/* ---- extents.c, exports.c (the public parts are in nbdkit-filter.h) ---- */
/* True if the plugin called nbdkit_use_default_export. */
extern bool exports_uses_default (const struct nbdkit_exports *);

/* ---- log.c ---- */
extern bool verbose;
extern bool log_to_null;                /* --log=null */
extern int debug_backend_controlpath;   /* -D nbdkit.backend.controlpath */
extern int debug_backend_datapath;      /* -D nbdkit.backend.datapath */
extern const char *program_name;
/* Prints when -v was given; prefixed like plugin debug messages. */
extern void debug (const char *fmt, ...) NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2);
/* Plugin debug flags from -D name.flag=N, applied after dlopen. */
extern void add_debug_flag (const char *arg);
extern void apply_debug_flags (void *dl, const char *name);
extern void check_unused_debug_flags (void);

/* ---- threadlocal.c: per-thread state seen by nbdkit_* helpers ---- */
struct connection;
extern void threadlocal_set_name (const char *name);
extern const char *threadlocal_get_name (void);
extern void threadlocal_set_conn (struct connection *conn);
extern struct connection *threadlocal_get_conn (void);
extern void threadlocal_set_error (int err);
extern int threadlocal_get_error (void);

/* ---- intern.c: nbdkit_strdup_intern storage ---- */
/* Frees strings interned outside any connection (at unload). */
extern void free_interns (void);

/* ---- quit.c ---- */
extern volatile int quit;
extern int quit_fd;             /* readable once the server is quitting */
extern void set_up_quit_pipe (void);
extern void handle_quit (int sig);
extern void set_quit (void);

/* ---- public.c ---- */
/* What nbdkit_size_changed does: NULL (nothing) in the network server;
 * nbdattach sets it.  Called from any thread; must not block.
 */
extern void (*size_changed_hook) (void);
/* What the plugin gave nbdkit_set_direct_ops, or NULL (direct.c). */
extern const struct nbdkit_direct_ops *direct_ops;



#include "chain.h"
#include "connection.h"
#endif /* BLOCKKIT_INTERNAL_H */
