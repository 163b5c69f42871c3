/* blockkit: listening sockets (sockets.c). */
#ifndef BLOCKKIT_SOCKETS_H
#define BLOCKKIT_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>

extern int *listen_fds;
extern size_t n_listen_fds;

extern void bind_unix_socket (const char *path);
extern int tcpip_family;        /* -4: AF_INET, -6: AF_INET6 */
extern void bind_tcpip_socket (const char *ipaddr, const char *port);
extern void bind_vsock_socket (const char *port);

/* selinux.c: --selinux-label */
extern void check_selinux_label (void);
extern void set_socket_label (bool on);
extern size_t get_socket_activation (void);
/* Serves until quit.  Returns false if some connection was still inside
 * the plugin when the server gave up waiting: it must not be unloaded.
 */
extern bool accept_incoming_connections (void);

#endif /* BLOCKKIT_SOCKETS_H */
