/* blockkit: a connection's raw I/O (conn-io.c), the bottom layer.
 *
 * The server's layers call downwards only: the connection's life
 * (connections.c) runs the protocol phases (handshake.c, transmission.c,
 * request.c), and they move bytes through these functions, which pick
 * the transport: the plain socket or pipe, or the GnuTLS session
 * (tls.c) once NBD_OPT_STARTTLS succeeded.
 */
#ifndef BLOCKKIT_CONN_IO_H
#define BLOCKKIT_CONN_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct connection;

/* Binds the connection to its fds (-1, -1 for none: probe_export) and
 * registers it for shutdown_all_connections; conn_io_detach undoes it
 * and ends any TLS session.
 */
extern void conn_io_attach (struct connection *conn, int sockin, int sockout);
extern void conn_io_detach (struct connection *conn);

/* The handshake deadline (--timeout): SECONDS from now, 0 for none. */
extern void conn_set_deadline (struct connection *conn, unsigned seconds);
/* Milliseconds left before the deadline (at least 1), 0 if none is set. */
extern unsigned conn_deadline_left_ms (const struct connection *conn);

extern ssize_t conn_recv_some (struct connection *conn, void *buf,
                               size_t len);
extern int conn_recv_full (struct connection *conn, void *buf, size_t len);
extern ssize_t conn_recv_nowait (struct connection *conn, void *buf,
                                 size_t len);
extern int conn_send_iov (struct connection *conn, struct iovec *iov,
                          int iovcnt);
extern int conn_send_full (struct connection *conn, const void *buf,
                           size_t len);

/* Shuts every registered connection's socket down (HOW as shutdown(2)). */
extern void shutdown_all_connections (int how);

#endif /* BLOCKKIT_CONN_IO_H */
