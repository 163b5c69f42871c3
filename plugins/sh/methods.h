/* blockkit: the plugin callbacks that the sh and eval plugins share
 * (methods.c, and io.c for the data path).  Each one runs the script
 * method of the same name with the established arguments and turns its
 * answer into the C callback's result.  sh.c and eval.c put them in
 * their struct nbdkit_plugin next to their own load, config and
 * dump_plugin.
 */

#ifndef BLOCKKIT_SCRIPT_METHODS_H
#define BLOCKKIT_SCRIPT_METHODS_H

#include <stdint.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

/* A connection: the string the open method printed, passed back as $2
 * to every per-connection method.
 */
struct handle {
  char *h;
};

/* Lifecycle helpers for the plugins' own callbacks. */
void script_unload (void);            /* the unload method, then $tmpdir */
int script_config_complete (void);
void script_dump_plugin (void);       /* max_known_status, then the script's */

int script_thread_model (void);
int script_get_ready (void);
int script_after_fork (void);
int script_preconnect (int readonly);
int script_list_exports (int readonly, int is_tls,
                         struct nbdkit_exports *exports);
const char *script_default_export (int readonly, int is_tls);
void *script_open (int readonly);
void script_close (void *handle);
const char *script_export_description (void *handle);
int64_t script_get_size (void *handle);
int script_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                       uint32_t *maximum);
int script_can_write (void *handle);
int script_can_flush (void *handle);
int script_is_rotational (void *handle);
int script_can_trim (void *handle);
int script_can_zero (void *handle);
int script_can_fast_zero (void *handle);
int script_can_extents (void *handle);
int script_can_fua (void *handle);
int script_can_multi_conn (void *handle);
int script_can_cache (void *handle);
int script_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
                  uint32_t flags);
int script_pwrite (void *handle, const void *buf, uint32_t count,
                   uint64_t offset, uint32_t flags);
int script_flush (void *handle, uint32_t flags);
int script_trim (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags);
int script_zero (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags);
int script_extents (void *handle, uint32_t count, uint64_t offset,
                    uint32_t flags, struct nbdkit_extents *extents);
int script_cache (void *handle, uint32_t count, uint64_t offset,
                  uint32_t flags);

/* Every callback above, for a plugin's struct initializer. */
#define SCRIPT_METHODS                                          \
  .thread_model       = script_thread_model,                    \
  .get_ready          = script_get_ready,                       \
  .after_fork         = script_after_fork,                      \
  .preconnect         = script_preconnect,                      \
  .list_exports       = script_list_exports,                    \
  .default_export     = script_default_export,                  \
  .open               = script_open,                            \
  .close              = script_close,                           \
  .export_description = script_export_description,              \
  .get_size           = script_get_size,                        \
  .block_size         = script_block_size,                      \
  .can_write          = script_can_write,                       \
  .can_flush          = script_can_flush,                       \
  .is_rotational      = script_is_rotational,                   \
  .can_trim           = script_can_trim,                        \
  .can_zero           = script_can_zero,                        \
  .can_fast_zero      = script_can_fast_zero,                   \
  .can_extents        = script_can_extents,                     \
  .can_fua            = script_can_fua,                         \
  .can_multi_conn     = script_can_multi_conn,                  \
  .can_cache          = script_can_cache,                       \
  .pread              = script_pread,                           \
  .pwrite             = script_pwrite,                          \
  .flush              = script_flush,                           \
  .trim               = script_trim,                            \
  .zero               = script_zero,                            \
  .extents            = script_extents,                         \
  .cache              = script_cache,                           \
  .errno_is_preserved = 1

#endif /* BLOCKKIT_SCRIPT_METHODS_H */
