/* blockkit: the chain of backends (a plugin, later filters stacked on it)
 * and the contexts opened on them.
 *
 * A backend is one loaded layer.  A context is one open handle into a
 * layer, made by that layer's .open; the layer nearest the client is
 * opened by a connection, and each layer's context points at the context
 * it opened below it (c_next).
 */
#ifndef BLOCKKIT_CHAIN_H
#define BLOCKKIT_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

struct context;
struct connection;
struct nbdkit_extents;
struct nbdkit_exports;

struct backend {
  struct backend *next;         /* towards the plugin; NULL for the plugin */
  size_t i;                     /* 0 for the plugin, +1 per layer above */
  const char *type;             /* "plugin" or "filter", for messages */
  char *name;                   /* short name */
  char *filename;               /* what was dlopen'd */
  void *dl;

  /* Lifetime of the layer. */
  void (*free) (struct backend *);
  int (*thread_model) (struct backend *);
  const char *(*plugin_name) (struct backend *);
  void (*usage) (struct backend *);
  const char *(*version) (struct backend *);
  void (*dump_fields) (struct backend *);
  int (*config) (struct backend *, const char *key, const char *value);
  int (*config_complete) (struct backend *);
  const char *(*magic_config_key) (struct backend *);
  int (*get_ready) (struct backend *);
  int (*after_fork) (struct backend *);
  void (*cleanup) (struct backend *);

  /* Before or outside a context. */
  int (*preconnect) (struct backend *, int readonly);
  int (*list_exports) (struct backend *, int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char *(*default_export) (struct backend *, int readonly, int is_tls);

  /* Context lifetime.  open returns the layer's handle (NULL = error). */
  void *(*open) (struct context *, int readonly, const char *exportname,
                 int is_tls);
  int (*prepare) (struct context *, int readonly);
  int (*finalize) (struct context *);
  void (*close) (struct context *);

  /* Queries, answered once per context (backend.c caches them). */
  const char *(*export_description) (struct context *);
  int64_t (*get_size) (struct context *);
  int (*block_size) (struct context *,
                     uint32_t *minimum, uint32_t *preferred, uint32_t *maximum);
  int (*can_write) (struct context *);
  int (*can_flush) (struct context *);
  int (*is_rotational) (struct context *);
  int (*can_trim) (struct context *);
  int (*can_zero) (struct context *);
  int (*can_fast_zero) (struct context *);
  int (*can_extents) (struct context *);
  int (*can_fua) (struct context *);
  int (*can_multi_conn) (struct context *);
  int (*can_cache) (struct context *);

  /* Data.  On failure they return -1 and set *err to an errno value. */
  int (*pread) (struct context *, void *buf, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
  int (*pwrite) (struct context *, const void *buf, uint32_t count,
                 uint64_t offset, uint32_t flags, int *err);
  int (*flush) (struct context *, uint32_t flags, int *err);
  int (*trim) (struct context *, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*zero) (struct context *, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*extents) (struct context *, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents, int *err);
  int (*cache) (struct context *, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
};

/* Context states. */
enum {
  CONTEXT_OPEN = 1,             /* .open succeeded */
  CONTEXT_PREPARED = 2,         /* .prepare succeeded */
  CONTEXT_FAILED = 4,           /* .prepare or .finalize failed */
};

struct context {
  /* First, so that a context is also the nbdkit_next a filter above it
   * calls through: next->pread (next, ...).
   */
  struct nbdkit_next_ops next;

  struct backend *b;
  void *handle;                 /* what the layer's .open returned */
  struct context *c_next;       /* the context this one opened below it */
  struct connection *conn;      /* NULL for contexts outside a client */
  unsigned state;
  bool readonly;

  /* Cached answers; -1 means "not asked yet". */
  int64_t exportsize;
  uint32_t minimum_block_size, preferred_block_size, maximum_block_size;
  bool block_size_known;
  int can_write, can_flush, is_rotational, can_trim, can_zero;
  int can_fast_zero, can_extents, can_fua, can_multi_conn, can_cache;
};

/* filters.c: load one filter on top of NEXT. */
extern struct backend *filter_register (struct backend *next, size_t index,
                                        const char *filename, void *dl,
                                        struct nbdkit_filter *(*init) (void));
extern char *find_filter_file (const char *name_or_path);

/* plugins.c: load the plugin at the bottom of the chain. */
extern struct backend *plugin_register (size_t index, const char *filename,
                                        void *dl,
                                        struct nbdkit_plugin *(*init) (void));
/* Turn a short name or a path into a filename to dlopen. */
extern char *find_plugin_file (const char *name_or_path);

/* backend.c: the generic parts of every layer. */
extern void backend_init (struct backend *b, struct backend *next,
                          size_t index, const char *filename, void *dl,
                          const char *type);
extern void backend_load (struct backend *b, const char *name,
                          void (*load) (void));
extern void backend_unload (struct backend *b, void (*unload) (void));
extern void backend_print_usage (struct backend *b, const char *longname,
                                 const char *description,
                                 const char *config_help);

extern struct context *backend_open (struct backend *b, int readonly,
                                     const char *exportname,
                                     struct connection *conn);
/* The operations every context offers to the layer above it. */
extern const struct nbdkit_next_ops backend_next_ops;
extern int backend_prepare (struct context *c);
extern int backend_finalize (struct context *c);
extern void backend_close (struct context *c);
extern bool backend_valid_range (struct context *c,
                                 uint64_t offset, uint32_t count);

extern const char *backend_export_description (struct context *c);
extern int64_t backend_get_size (struct context *c);
extern int backend_block_size (struct context *c, uint32_t *minimum,
                               uint32_t *preferred, uint32_t *maximum);
extern int backend_can_write (struct context *c);
extern int backend_can_flush (struct context *c);
extern int backend_is_rotational (struct context *c);
extern int backend_can_trim (struct context *c);
extern int backend_can_zero (struct context *c);
extern int backend_can_fast_zero (struct context *c);
extern int backend_can_extents (struct context *c);
extern int backend_can_fua (struct context *c);
extern int backend_can_multi_conn (struct context *c);
extern int backend_can_cache (struct context *c);

extern int backend_pread (struct context *c, void *buf, uint32_t count,
                          uint64_t offset, uint32_t flags, int *err);
extern int backend_pwrite (struct context *c, const void *buf, uint32_t count,
                           uint64_t offset, uint32_t flags, int *err);
extern int backend_flush (struct context *c, uint32_t flags, int *err);
extern int backend_trim (struct context *c, uint32_t count, uint64_t offset,
                         uint32_t flags, int *err);
extern int backend_zero (struct context *c, uint32_t count, uint64_t offset,
                         uint32_t flags, int *err);
extern int backend_extents (struct context *c, uint32_t count,
                            uint64_t offset, uint32_t flags,
                            struct nbdkit_extents *extents, int *err);
extern int backend_cache (struct context *c, uint32_t count, uint64_t offset,
                          uint32_t flags, int *err);
/* NBD_CMD_CACHE emulated by reading the range through PREAD, a layer's
 * own pread, into a scratch buffer that is thrown away (seed 000).
 */
typedef int (*layer_pread_fn) (struct context *c, void *buf, uint32_t count,
                               uint64_t offset, uint32_t flags, int *err);
extern int backend_cache_by_reading (struct context *c, layer_pread_fn pread,
                                     uint32_t count, uint64_t offset,
                                     int *err);

/* chain-load.c: load the plugin and filters named on a command line, then
 * pass them their KEY=VALUE words (bare words go to the magic key).
 */
extern struct backend *chain_load (const char *plugin_name, char **filters,
                                   size_t n_filters);
extern void chain_configure (int argc, char **argv);
extern void chain_config_params (int argc, char **argv);

/* Call a function for each layer, from the client side down. */
#define for_each_backend(b) for (b = top; b != NULL; b = b->next)

/* The loaded chain: top is the layer nearest the client. */
extern struct backend *top;

/* locks.c: the chain's effective thread model, and its locks. */
extern int thread_model;
extern const char *name_of_thread_model (int model);
extern void lock_init_thread_model (void);
extern void lock_connection (void);
extern void unlock_connection (void);
extern void lock_request (void);
extern void unlock_request (void);

#endif /* BLOCKKIT_CHAIN_H */
