/* blockkit: the public filter API.
 *
 * A filter sits between the client and the plugin (or another filter)
 * and sees every call on its way down.  Unlike plugins, filters are tied
 * to the exact blockkit version they were built with: the struct layout
 * may change between releases, so the server refuses a filter whose
 * _version string differs from its own, with a message saying so.
 *
 * The layer below a filter is reached through nbdkit_next, a struct of
 * function pointers whose first argument is the nbdkit_next itself:
 *
 *   next->pread (next, buf, count, offset, flags, err);
 *
 * Failures come back as -1 with *err set to an errno value, which the
 * filter may pass on, change, or act on (retry).
 */
#ifndef NBDKIT_FILTER_H
#define NBDKIT_FILTER_H

#ifdef NBDKIT_API_VERSION
#if NBDKIT_API_VERSION != 2
#error "Filters must use NBDKIT_API_VERSION 2"
#endif
#else
#define NBDKIT_API_VERSION 2
#endif

#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NBDKIT_FILTER_API_VERSION 6

/* Opaque handles.  A backend is one layer of the chain (valid from
 * .after_fork until .unload); a context is one open instance of a layer.
 * nbdkit_next is the context of the layer below, seen through its
 * operations.
 */
typedef struct nbdkit_backend nbdkit_backend;
typedef struct nbdkit_context nbdkit_context;
typedef struct nbdkit_next_ops nbdkit_next;

/* The "next" functions handed to callbacks that run outside a context. */
typedef int nbdkit_next_config (nbdkit_backend *nxdata,
                                const char *key, const char *value);
typedef int nbdkit_next_config_complete (nbdkit_backend *nxdata);
typedef int nbdkit_next_preconnect (nbdkit_backend *nxdata, int readonly);
typedef int nbdkit_next_list_exports (nbdkit_backend *nxdata, int readonly,
                                      struct nbdkit_exports *exports);
typedef const char *nbdkit_next_default_export (nbdkit_backend *nxdata,
                                                int readonly);
typedef int nbdkit_next_open (nbdkit_context *context,
                              int readonly, const char *exportname);

struct nbdkit_next_ops {
  /* Only for contexts the filter manages itself (see nbdkit-filter(3)):
   * prepare before first use, finalize before closing.
   */
  int (*prepare) (nbdkit_next *nxdata);
  int (*finalize) (nbdkit_next *nxdata);

  int64_t (*get_size) (nbdkit_next *nxdata);
  const char * (*export_description) (nbdkit_next *nxdata);
  int (*block_size) (nbdkit_next *nxdata,
                     uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum);

  int (*can_write) (nbdkit_next *nxdata);
  int (*can_flush) (nbdkit_next *nxdata);
  int (*is_rotational) (nbdkit_next *nxdata);
  int (*can_trim) (nbdkit_next *nxdata);
  int (*can_zero) (nbdkit_next *nxdata);
  int (*can_fast_zero) (nbdkit_next *nxdata);
  int (*can_extents) (nbdkit_next *nxdata);
  int (*can_fua) (nbdkit_next *nxdata);
  int (*can_multi_conn) (nbdkit_next *nxdata);
  int (*can_cache) (nbdkit_next *nxdata);

  int (*pread) (nbdkit_next *nxdata,
                void *buf, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
  int (*pwrite) (nbdkit_next *nxdata,
                 const void *buf, uint32_t count, uint64_t offset,
                 uint32_t flags, int *err);
  int (*flush) (nbdkit_next *nxdata, uint32_t flags, int *err);
  int (*trim) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*zero) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*extents) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents, int *err);
  int (*cache) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
  /* The server's contexts carry more after this: never copy or allocate
   * one of these yourself.
   */
};

/* Extents, as filled by the layer below. */
struct nbdkit_extent {
  uint64_t offset;
  uint64_t length;
  uint32_t type;
};

NBDKIT_EXTERN_DECL (struct nbdkit_extents *, nbdkit_extents_new,
                    (uint64_t start, uint64_t end));
NBDKIT_EXTERN_DECL (void, nbdkit_extents_free, (struct nbdkit_extents *));
NBDKIT_EXTERN_DECL (size_t, nbdkit_extents_count,
                    (const struct nbdkit_extents *));
NBDKIT_EXTERN_DECL (struct nbdkit_extent, nbdkit_get_extent,
                    (const struct nbdkit_extents *, size_t));
/* Fills EXTENTS for [offset, offset+count) from NEXT, asking as often as
 * needed to cover the whole range.
 */
NBDKIT_EXTERN_DECL (int, nbdkit_extents_full,
                    (nbdkit_next *next,
                     uint32_t count, uint64_t offset,
                     uint32_t flags, struct nbdkit_extents *extents,
                     int *err));
/* As nbdkit_extents_full, but widens the range to ALIGN boundaries and
 * merges extents so that every extent is ALIGN-aligned (a partly-data
 * block counts as data).
 */
NBDKIT_EXTERN_DECL (int, nbdkit_extents_aligned,
                    (nbdkit_next *next,
                     uint32_t count, uint64_t offset,
                     uint32_t flags, uint32_t align,
                     struct nbdkit_extents *extents, int *err));

/* Export lists, as filled by the layer below. */
struct nbdkit_export {
  char *name;
  char *description;
};

NBDKIT_EXTERN_DECL (struct nbdkit_exports *, nbdkit_exports_new, (void));
NBDKIT_EXTERN_DECL (void, nbdkit_exports_free, (struct nbdkit_exports *));
NBDKIT_EXTERN_DECL (size_t, nbdkit_exports_count,
                    (const struct nbdkit_exports *));
NBDKIT_EXTERN_DECL (struct nbdkit_export, nbdkit_get_export,
                    (const struct nbdkit_exports *, size_t));

/* The context API (seed 003): manual control of contexts below. */
NBDKIT_EXTERN_DECL (nbdkit_backend *, nbdkit_context_get_backend,
                    (nbdkit_context *context));
NBDKIT_EXTERN_DECL (nbdkit_next *, nbdkit_next_context_open,
                    (nbdkit_backend *backend, int readonly,
                     const char *exportname, int shared));
NBDKIT_EXTERN_DECL (void, nbdkit_next_context_close, (nbdkit_next *next));
NBDKIT_EXTERN_DECL (nbdkit_next *, nbdkit_context_set_next,
                    (nbdkit_context *context, nbdkit_next *next));

struct nbdkit_filter {
  /* Set by NBDKIT_REGISTER_FILTER: the server checks both. */
  int _api_version;
  const char *_version;

  const char *name;
  const char *longname;
  const char *description;

  void (*load) (void);
  void (*unload) (void);

  int (*config) (nbdkit_next_config *next, nbdkit_backend *nxdata,
                 const char *key, const char *value);
  int (*config_complete) (nbdkit_next_config_complete *next,
                          nbdkit_backend *nxdata);
  const char *config_help;

  int (*thread_model) (void);
  int (*get_ready) (int thread_model);
  int (*after_fork) (nbdkit_backend *backend);
  void (*cleanup) (nbdkit_backend *backend);

  int (*preconnect) (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                     int readonly);
  int (*list_exports) (nbdkit_next_list_exports *next,
                       nbdkit_backend *nxdata,
                       int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char * (*default_export) (nbdkit_next_default_export *next,
                                  nbdkit_backend *nxdata,
                                  int readonly, int is_tls);

  void * (*open) (nbdkit_next_open *next, nbdkit_context *context,
                  int readonly, const char *exportname, int is_tls);
  void (*close) (void *handle);

  int (*prepare) (nbdkit_next *next, void *handle, int readonly);
  int (*finalize) (nbdkit_next *next, void *handle);

  int64_t (*get_size) (nbdkit_next *next, void *handle);
  const char * (*export_description) (nbdkit_next *next, void *handle);
  int (*block_size) (nbdkit_next *next, void *handle,
                     uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum);

  int (*can_write) (nbdkit_next *next, void *handle);
  int (*can_flush) (nbdkit_next *next, void *handle);
  int (*is_rotational) (nbdkit_next *next, void *handle);
  int (*can_trim) (nbdkit_next *next, void *handle);
  int (*can_zero) (nbdkit_next *next, void *handle);
  int (*can_fast_zero) (nbdkit_next *next, void *handle);
  int (*can_extents) (nbdkit_next *next, void *handle);
  int (*can_fua) (nbdkit_next *next, void *handle);
  int (*can_multi_conn) (nbdkit_next *next, void *handle);
  int (*can_cache) (nbdkit_next *next, void *handle);

  int (*pread) (nbdkit_next *next, void *handle,
                void *buf, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
  int (*pwrite) (nbdkit_next *next, void *handle,
                 const void *buf, uint32_t count, uint64_t offset,
                 uint32_t flags, int *err);
  int (*flush) (nbdkit_next *next, void *handle, uint32_t flags, int *err);
  int (*trim) (nbdkit_next *next, void *handle,
               uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*zero) (nbdkit_next *next, void *handle,
               uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*extents) (nbdkit_next *next, void *handle,
                  uint32_t count, uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents, int *err);
  int (*cache) (nbdkit_next *next, void *handle,
                uint32_t count, uint64_t offset, uint32_t flags, int *err);
};

#ifdef __cplusplus
#define NBDKIT_CXX_LANG_C extern "C"
#else
#define NBDKIT_CXX_LANG_C
#endif

#define NBDKIT_REGISTER_FILTER(filter)                                  \
  NBDKIT_CXX_LANG_C NBDKIT_DLL_PUBLIC struct nbdkit_filter *            \
  filter_init (void)                                                    \
  {                                                                     \
    (filter)._api_version = NBDKIT_FILTER_API_VERSION;                  \
    (filter)._version = NBDKIT_VERSION_STRING;                          \
    return &(filter);                                                   \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_FILTER_H */
