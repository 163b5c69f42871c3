/* blockkit: the public plugin API.
 *
 * A plugin fills in a struct nbdkit_plugin and registers it with
 * NBDKIT_REGISTER_PLUGIN.  The struct records its own size and the API
 * version it was compiled for, so the server can load plugins built
 * against any earlier layout: the loader copies what the plugin gave
 * and leaves every later callback NULL, which means "use the default".
 *
 * The field order below is an ABI and must never change; new callbacks
 * are only ever appended.
 */
#ifndef NBDKIT_PLUGIN_H
#define NBDKIT_PLUGIN_H

#include <stdlib.h>
#include <stdint.h>

/* API version 1 had no flags argument on data callbacks; it is what a
 * plugin gets unless it asks for 2 before including this header.
 */
#ifndef NBDKIT_API_VERSION
#define NBDKIT_API_VERSION 1
#endif
#if NBDKIT_API_VERSION != 1 && NBDKIT_API_VERSION != 2
#error "NBDKIT_API_VERSION must be 1 or 2"
#endif

#include <nbdkit-common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nbdkit_plugin {
  /* Filled in by NBDKIT_REGISTER_PLUGIN, never by hand. */
  uint64_t _struct_size;
  int _api_version;
  int _thread_model;

  /* Required: a short name ([a-z0-9_-]), used on the command line and in
   * debug messages.  The rest is for --help and --dump-plugin.
   */
  const char *name;
  const char *longname;
  const char *version;
  const char *description;

  void (*load) (void);
  void (*unload) (void);

  int (*config) (const char *key, const char *value);
  int (*config_complete) (void);
  const char *config_help;

  void * (*open) (int readonly);
  void (*close) (void *handle);

  int64_t (*get_size) (void *handle);

  int (*can_write) (void *handle);
  int (*can_flush) (void *handle);
  int (*is_rotational) (void *handle);
  int (*can_trim) (void *handle);

  /* The version 1 data callbacks, without flags.  Version 2 plugins see
   * them under private names and leave them NULL.
   */
#if NBDKIT_API_VERSION == 1
  int (*pread) (void *handle, void *buf, uint32_t count, uint64_t offset);
  int (*pwrite) (void *handle, const void *buf, uint32_t count,
                 uint64_t offset);
  int (*flush) (void *handle);
  int (*trim) (void *handle, uint32_t count, uint64_t offset);
  int (*zero) (void *handle, uint32_t count, uint64_t offset, int may_trim);
#else
  int (*_pread_v1) (void *, void *, uint32_t, uint64_t);
  int (*_pwrite_v1) (void *, const void *, uint32_t, uint64_t);
  int (*_flush_v1) (void *);
  int (*_trim_v1) (void *, uint32_t, uint64_t);
  int (*_zero_v1) (void *, uint32_t, uint64_t, int);
#endif

  /* Non-zero if the callbacks leave a meaningful errno on failure. */
  int errno_is_preserved;

  void (*dump_plugin) (void);

  int (*can_zero) (void *handle);
  int (*can_fua) (void *handle);

  /* The version 2 data callbacks, with NBDKIT_FLAG_* flags. */
#if NBDKIT_API_VERSION == 1
  int (*_unused1) (void *, void *, uint32_t, uint64_t, uint32_t);
  int (*_unused2) (void *, const void *, uint32_t, uint64_t, uint32_t);
  int (*_unused3) (void *, uint32_t);
  int (*_unused4) (void *, uint32_t, uint64_t, uint32_t);
  int (*_unused5) (void *, uint32_t, uint64_t, uint32_t);
#else
  int (*pread) (void *handle, void *buf, uint32_t count, uint64_t offset,
                uint32_t flags);
  int (*pwrite) (void *handle, const void *buf, uint32_t count,
                 uint64_t offset, uint32_t flags);
  int (*flush) (void *handle, uint32_t flags);
  int (*trim) (void *handle, uint32_t count, uint64_t offset, uint32_t flags);
  int (*zero) (void *handle, uint32_t count, uint64_t offset, uint32_t flags);
#endif

  /* A bare word on the command line (no '=') is this key's value. */
  const char *magic_config_key;

  int (*can_multi_conn) (void *handle);

  int (*can_extents) (void *handle);
  int (*extents) (void *handle, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents);

  int (*can_cache) (void *handle);
  int (*cache) (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags);

  /* May only make the compile-time THREAD_MODEL stricter. */
  int (*thread_model) (void);

  int (*can_fast_zero) (void *handle);

  int (*preconnect) (int readonly);

  int (*get_ready) (void);
  int (*after_fork) (void);

  int (*list_exports) (int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char * (*default_export) (int readonly, int is_tls);
  const char * (*export_description) (void *handle);

  void (*cleanup) (void);

  int (*block_size) (void *handle,
                     uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum);
};

/* A plugin must define THREAD_MODEL to one of NBDKIT_THREAD_MODEL_*
 * before this macro.  The server finds the struct through plugin_init.
 */
#ifdef __cplusplus
#define NBDKIT_CXX_LANG_C extern "C"
#else
#define NBDKIT_CXX_LANG_C
#endif

#define NBDKIT_REGISTER_PLUGIN(plugin)                                   \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_plugin *             \
  plugin_init (void)                                                     \
  {                                                                      \
    (plugin)._struct_size = sizeof (plugin);                             \
    (plugin)._api_version = NBDKIT_API_VERSION;                          \
    (plugin)._thread_model = THREAD_MODEL;                               \
    return &(plugin);                                                    \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_PLUGIN_H */
