/* blockkit: TLS for client connections (tls.c, handshake-tls.c). */
#ifndef BLOCKKIT_TLS_H
#define BLOCKKIT_TLS_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

struct connection;

enum { TLS_OFF = 0, TLS_ON = 1, TLS_REQUIRE = 2 };

/* Command line (main.c sets them). */
extern int tls_mode;
extern const char *tls_certificates_dir;
extern const char *tls_psk_file;
extern bool tls_verify_peer;

/* Startup and exit: credentials, or a clear error and exit. */
extern void tls_load (void);
extern void tls_unload (void);
extern const char *tls_certificates_loaded_from (void);

/* One connection: the handshake after NBD_OPT_STARTTLS, its I/O, its end. */
extern int tls_start (struct connection *conn, unsigned timeout_ms);
extern void tls_end (struct connection *conn);
extern bool tls_pending (struct connection *conn);
extern ssize_t tls_recv (struct connection *conn, void *buf, size_t len);
extern int tls_send_iov (struct connection *conn, const struct iovec *iov,
                         int iovcnt);

/* handshake-tls.c: the option phase's TLS rules. */
extern bool tls_option_refused (struct connection *conn, uint32_t option);
extern int opt_starttls (struct connection *conn, uint32_t optlen);

#endif /* BLOCKKIT_TLS_H */
