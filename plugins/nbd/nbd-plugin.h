/* blockkit: the nbd plugin's shared declarations.
 *
 * The plugin forwards every request to another NBD server through
 * libnbd.  Its code is split by job: config.c parses the keys and says
 * where the server is, connect.c makes a libnbd handle and takes it
 * through the handshake, conn.c runs one connection (the handle plus
 * the thread that drives its socket) and waits for replies, and nbd.c
 * groups connections into what a client sees and implements the
 * callbacks.  This header is what they share.
 */
#ifndef BLOCKKIT_NBD_PLUGIN_H
#define BLOCKKIT_NBD_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <semaphore.h>

#include <libnbd.h>

struct nbdkit_exports;

/* Where the server is and how to talk to it: set by .config, read-only
 * once .config_complete has run.
 */
struct nbd_settings {
  /* Exactly one way of reaching the server. */
  const char *uri;              /* uri= */
  const char *socket;           /* socket= (absolute path) */
  const char *hostname;         /* hostname= */
  const char *port;             /* port= (TCP or vsock) */
  bool have_vsock;              /* vsock= */
  uint32_t vsock_cid;
  int socket_fd;                /* socket-fd=, or -1 */
  char **command;               /* command= then each arg=, NULL-ended */
  size_t n_command;

  const char *export;           /* export= (default "") */
  bool have_export;
  bool dynamic_export;          /* the client's export name is passed on */

  int tls;                      /* LIBNBD_TLS_*, or -1 when not given */
  const char *tls_certificates;
  int tls_verify;               /* -1 when not given */
  const char *tls_username;
  const char *tls_psk;

  bool shared;                  /* one set of connections for everyone */
  bool have_shared;
  unsigned connections;         /* per group (connections=, default 1) */
  unsigned retry;               /* extra tries of the first connect */
  unsigned timeout;             /* seconds per request, 0 = none */
  unsigned connect_timeout;     /* seconds for connect + handshake */
};

extern struct nbd_settings cfg;

/* config.c */
extern int nbdplug_config (const char *key, const char *value);
extern int nbdplug_config_complete (void);
extern void nbdplug_dump_plugin (void);
extern void nbdplug_unload (void);
extern const char *nbdplug_describe_server (void);
#define nbdplug_config_help \
  "[uri=]URI                   nbd://, nbds://, nbd+unix://, nbds+unix:// URI\n" \
  "socket=PATH                 Unix socket of the server\n" \
  "hostname=HOST [port=PORT]   TCP address of the server (port 10809)\n" \
  "vsock=CID [port=PORT]       AF_VSOCK address of the server\n" \
  "socket-fd=FD                An inherited, connected socket (implies shared)\n" \
  "command=CMD [arg=ARG]...    Run a server speaking NBD on stdin/stdout\n" \
  "export=NAME                 Export name on the server (default \"\")\n" \
  "dynamic-export=BOOL         Pass on the client's export name (and list)\n" \
  "tls=off|on|require          TLS towards the server\n" \
  "tls-certificates=DIR        X.509 client certificates and CA\n" \
  "tls-verify=BOOL             Verify the server's certificate (default true)\n" \
  "tls-username=NAME           Name presented with the certificate or PSK\n" \
  "tls-psk=FILE                Pre-shared keys file (psktool)\n" \
  "connections=N               Connections per client (default 1)\n" \
  "shared=BOOL                 One set of connections for all clients\n" \
  "retry=N                     Retry the first connect N times, 1 s apart\n" \
  "timeout=SECS                Fail a request (and the connection) after SECS\n" \
  "connect-timeout=SECS        Limit on connect + handshake (default 30)"

/* One libnbd handle and the thread that drives it (conn.c).
 *
 * Requests are submitted from the server's worker threads with the
 * nbd_aio_* calls; the connection's own thread polls the socket and
 * runs libnbd's state machine, which calls each request's completion
 * callback.  So any number of requests are in flight on one socket.
 */
struct conn {
  struct nbd_handle *nbd;
  pthread_t thread;
  bool thread_running;
  int wake_fd;                  /* eventfd: submission or stop */
  /* Set (and never cleared) once the server is gone: new requests fail
   * at once instead of being queued on a dead handle.
   */
  _Atomic bool dead;
  _Atomic bool stopping;        /* conn_close asked the thread to end */
  unsigned index;               /* for messages: which connection */
};

/* A request waiting for its reply.  Lives on the waiting thread's
 * stack; the completion callback posts the semaphore as its very last
 * touch of it.
 */
struct req {
  sem_t done;
  int err;                      /* errno from the server or libnbd */
};

/* connect.c: a handle through the handshake, on EXPORT (NULL: the
 * configured one); or, given LIST, one that listed the server's
 * exports into it.  NULL after nbdkit_error.
 */
extern struct nbd_handle *nbdplug_connect (unsigned index,
                                           const char *export,
                                           struct nbdkit_exports *list);
extern int64_t nbdplug_now_ms (void);

extern struct conn *conn_open (unsigned index, const char *export);
extern void conn_close (struct conn *c);
extern bool conn_is_dead (struct conn *c);
extern void req_init (struct req *r);
extern nbd_completion_callback req_callback (struct req *r);
/* After an nbd_aio_* call returned COOKIE: wakes the thread if needed
 * and waits for the reply.  Returns 0 or -1 with the error set for the
 * client (nbdkit_set_error).  WHAT names the request in messages.
 */
extern int conn_wait (struct conn *c, struct req *r, int64_t cookie,
                      const char *what);
/* Fails at once (-1, EIO) if the connection is known to be dead. */
extern int conn_check (struct conn *c, const char *what);

#endif /* BLOCKKIT_NBD_PLUGIN_H */
