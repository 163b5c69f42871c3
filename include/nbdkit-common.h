/* blockkit: the part of the public API shared by plugins and filters.
 *
 * Source-compatible with the established plugin API (API version 2, and
 * version 1 for old plugins).  Every function declared here is exported
 * by the blockkit and nbdattach executables; plugins resolve them at
 * dlopen time.
 */
#ifndef NBDKIT_COMMON_H
#define NBDKIT_COMMON_H

#if !defined (NBDKIT_PLUGIN_H) && !defined (NBDKIT_FILTER_H)
#error "Include nbdkit-plugin.h or nbdkit-filter.h instead of this file."
#endif

#include <stdarg.h>
#include <stdint.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <nbdkit-version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined (__GNUC__) || defined (__clang__)
#define NBDKIT_ATTRIBUTE_FORMAT_PRINTF(fmtpos, argpos) \
  __attribute__ ((__format__ (__printf__, fmtpos, argpos)))
#define NBDKIT_ATTRIBUTE_NONNULL(...) __attribute__ ((__nonnull__ (__VA_ARGS__)))
#define NBDKIT_DLL_PUBLIC __attribute__ ((__visibility__ ("default")))
#else
#define NBDKIT_ATTRIBUTE_FORMAT_PRINTF(fmtpos, argpos)
#define NBDKIT_ATTRIBUTE_NONNULL(...)
#define NBDKIT_DLL_PUBLIC
#endif
/* Older spellings, kept so that plugins using them still build. */
#define ATTRIBUTE_FORMAT_PRINTF NBDKIT_ATTRIBUTE_FORMAT_PRINTF

#define NBDKIT_EXTERN_DECL(ret, fn, args) extern ret fn args

/* Thread models, from most to least restrictive. */
#define NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS     0
#define NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS    1
#define NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS        2
#define NBDKIT_THREAD_MODEL_PARALLEL                  3

/* Flags passed to data callbacks. */
#define NBDKIT_FLAG_MAY_TRIM  (1 << 0) /* zero: may punch a hole */
#define NBDKIT_FLAG_FUA       (1 << 1) /* write through before replying */
#define NBDKIT_FLAG_REQ_ONE   (1 << 2) /* extents: one extent is enough */
#define NBDKIT_FLAG_FAST_ZERO (1 << 3) /* zero: fail rather than be slow */

/* Tri-state answers of can_fua, can_cache and can_zero. */
#define NBDKIT_FUA_NONE       0
#define NBDKIT_FUA_EMULATE    1
#define NBDKIT_FUA_NATIVE     2

#define NBDKIT_CACHE_NONE     0
#define NBDKIT_CACHE_EMULATE  1
#define NBDKIT_CACHE_NATIVE   2

#define NBDKIT_ZERO_NONE      0
#define NBDKIT_ZERO_EMULATE   1
#define NBDKIT_ZERO_NATIVE    2

/* Extent types (bitmask), as in NBD's base:allocation context. */
#define NBDKIT_EXTENT_HOLE    (1 << 0)
#define NBDKIT_EXTENT_ZERO    (1 << 1)

/* For plugins and filters that keep no per-connection state: a non-NULL
 * handle that .open can return.
 */
#define NBDKIT_HANDLE_NOT_NEEDED ((void *) &errno)

/* Longest export name the protocol allows. */
#define NBDKIT_EXPORT_NAME_MAX 4096

/* Messages. */
NBDKIT_EXTERN_DECL (void, nbdkit_error,
                    (const char *msg, ...) NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2));
NBDKIT_EXTERN_DECL (void, nbdkit_verror,
                    (const char *msg, va_list args)
                    NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 0));
NBDKIT_EXTERN_DECL (void, nbdkit_debug,
                    (const char *msg, ...) NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2));
NBDKIT_EXTERN_DECL (void, nbdkit_vdebug,
                    (const char *msg, va_list args)
                    NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 0));
NBDKIT_EXTERN_DECL (void, nbdkit_set_error, (int err));

/* Paths. */
NBDKIT_EXTERN_DECL (char *, nbdkit_absolute_path, (const char *path));
NBDKIT_EXTERN_DECL (char *, nbdkit_realpath, (const char *path));

/* Parsing configuration values.  Each returns 0 on success, or -1 after
 * reporting an error that names WHAT.
 */
NBDKIT_EXTERN_DECL (int64_t, nbdkit_parse_size, (const char *str));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_probability,
                    (const char *what, const char *str, double *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_bool, (const char *str));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_delay,
                    (const char *what, const char *str,
                     unsigned *sec, unsigned *nsec));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_int,
                    (const char *what, const char *str, int *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_unsigned,
                    (const char *what, const char *str, unsigned *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_int8_t,
                    (const char *what, const char *str, int8_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_uint8_t,
                    (const char *what, const char *str, uint8_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_int16_t,
                    (const char *what, const char *str, int16_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_uint16_t,
                    (const char *what, const char *str, uint16_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_int32_t,
                    (const char *what, const char *str, int32_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_uint32_t,
                    (const char *what, const char *str, uint32_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_int64_t,
                    (const char *what, const char *str, int64_t *r));
NBDKIT_EXTERN_DECL (int, nbdkit_parse_uint64_t,
                    (const char *what, const char *str, uint64_t *r));

NBDKIT_EXTERN_DECL (int, nbdkit_stdio_safe, (void));
NBDKIT_EXTERN_DECL (int, nbdkit_read_password,
                    (const char *value, char **password));

/* Sleeps, but returns early (-1, ESHUTDOWN) if the server is quitting
 * or the current client has gone away.
 */
NBDKIT_EXTERN_DECL (int, nbdkit_nanosleep, (unsigned sec, unsigned nsec));

/* About the current connection. */
NBDKIT_EXTERN_DECL (const char *, nbdkit_export_name, (void));
NBDKIT_EXTERN_DECL (int, nbdkit_is_tls, (void));
NBDKIT_EXTERN_DECL (int, nbdkit_peer_name,
                    (struct sockaddr *addr, socklen_t *addrlen));
NBDKIT_EXTERN_DECL (int64_t, nbdkit_peer_pid, (void));
NBDKIT_EXTERN_DECL (int64_t, nbdkit_peer_uid, (void));
NBDKIT_EXTERN_DECL (int64_t, nbdkit_peer_gid, (void));
/* The client's X.509 certificate DN and its issuer's ("" if none; free
 * the result).  nbdkit_peer_tls_username: the PSK user, a blockkit
 * extension.
 */
NBDKIT_EXTERN_DECL (char *, nbdkit_peer_tls_dn, (void));
NBDKIT_EXTERN_DECL (char *, nbdkit_peer_tls_issuer_dn, (void));
NBDKIT_EXTERN_DECL (char *, nbdkit_peer_tls_username, (void));

/* Ask the whole server to exit, or drop the current client. */
NBDKIT_EXTERN_DECL (void, nbdkit_shutdown, (void));
NBDKIT_EXTERN_DECL (void, nbdkit_disconnect, (int force));

/* A blockkit extension: the export's size changed behind the server (a
 * Ceph image resized by another client).  Under nbdattach the daemon
 * re-reads the size through the chain and tells the kernel, as
 * `nbdattach --resize` does; the network server ignores it, since a
 * client learns the size when it connects.  Callable from any thread,
 * it never blocks: the work happens later in the daemon's main loop.
 */
NBDKIT_EXTERN_DECL (void, nbdkit_size_changed, (void));

/* A blockkit extension for plugins that keep their data in the
 * server's own memory (the memory plugin): the server may then move a
 * large request's payload straight between the socket and that memory
 * (a write received into it, a read sent from it) instead of through a
 * buffer and .pread/.pwrite, one copy less.  Only used when the plugin
 * is the whole chain (no filter), its thread model is parallel and the
 * connection is a plain socket (no TLS); the plugin's .pwrite must do
 * nothing a direct write would miss (FUA included).  Register once, from
 * .config_complete.
 *
 * map points IOV[0 .. *IOVCNT) at [OFFSET, OFFSET+COUNT) (at most the
 * *IOVCNT entries given), sets *IOVCNT to the entries used and returns
 * the bytes they cover, fewer than COUNT if the vector ran out; the
 * memory stays valid until unmap, which the same thread calls promptly
 * (the server never waits in between).  A thread may map several
 * ranges before it unmaps them (one unmap per map), to send several
 * replies in one system call.  MODE: NBDKIT_DIRECT_READ (the
 * memory is only read), NBDKIT_DIRECT_WRITE (fails with -1, nothing
 * held, where storage is not allocated yet: the server then takes the
 * ordinary path) or NBDKIT_DIRECT_WRITE_ALLOC (allocates it; -1 only
 * when out of memory).
 *
 * Memory mapped for reading is lent to the kernel: on a Unix socket the
 * server splices its pages into the socket (vmsplice), and the client
 * copies them out later, after unmap.  Such memory must therefore be
 * page-aligned whole pages, and memory the plugin frees must first be
 * detached from those pages (madvise MADV_DONTNEED), so that whatever
 * reuses the address never writes into a page a reply still holds.
 * Writes into it meanwhile are fine: they only race with a read the
 * client has not had the answer to.
 */
struct iovec;
#define NBDKIT_DIRECT_READ        0
#define NBDKIT_DIRECT_WRITE       1
#define NBDKIT_DIRECT_WRITE_ALLOC 2
struct nbdkit_direct_ops {
  int64_t (*map) (uint64_t offset, uint64_t count, int mode,
                  struct iovec *iov, int *iovcnt);
  void (*unmap) (void);
};
NBDKIT_EXTERN_DECL (void, nbdkit_set_direct_ops,
                    (const struct nbdkit_direct_ops *ops));

/* Strings that live until the current connection closes (or, outside a
 * connection, until the plugin is unloaded).
 */
NBDKIT_EXTERN_DECL (const char *, nbdkit_strdup_intern, (const char *str));
NBDKIT_EXTERN_DECL (const char *, nbdkit_strndup_intern,
                    (const char *str, size_t n));
NBDKIT_EXTERN_DECL (const char *, nbdkit_printf_intern,
                    (const char *fmt, ...) NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2));
NBDKIT_EXTERN_DECL (const char *, nbdkit_vprintf_intern,
                    (const char *fmt, va_list ap)
                    NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 0));

/* Extents (answers to block status). */
struct nbdkit_extents;
NBDKIT_EXTERN_DECL (int, nbdkit_add_extent,
                    (struct nbdkit_extents *,
                     uint64_t offset, uint64_t length, uint32_t type));

/* Export lists (answers to NBD_OPT_LIST). */
struct nbdkit_exports;
NBDKIT_EXTERN_DECL (int, nbdkit_add_export,
                    (struct nbdkit_exports *,
                     const char *name, const char *description));
NBDKIT_EXTERN_DECL (int, nbdkit_use_default_export,
                    (struct nbdkit_exports *));

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_COMMON_H */
