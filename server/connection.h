/* blockkit: one client connection, from handshake to close. */
#ifndef BLOCKKIT_CONNECTION_H
#define BLOCKKIT_CONNECTION_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Largest READ or WRITE we serve in one request (DESIGN: at least 64M). */
#define MAX_REQUEST_SIZE (64 * 1024 * 1024)

/* Seconds a client has to finish the handshake (--timeout). */
#define DEFAULT_HANDSHAKE_TIMEOUT 60

/* Largest option payload accepted during the handshake. */
#define MAX_OPTION_LENGTH (64 * 1024)

/* A buffered input stream: one read(2) can bring in many requests. */
struct rbuf {
  char *data;
  size_t start, end;            /* unread bytes are data[start..end) */
  size_t cap;
  /* Read only what is asked for, not as much as fits: set after a large
   * write, because the next request is then probably another one, whose
   * payload should go straight to its own buffer instead of being copied
   * through this one.
   */
  bool exact;
  /* The last read from the socket took less than it could have: the
   * socket was empty then, so asking it again at once for one more
   * request would most likely find nothing (header_ready in
   * transmission.c), a wasted system call per batch of requests.
   */
  bool drained;
};

/* One request on its way through the workers.  Requests and their
 * buffers are recycled through a free list rather than freed.
 */
struct request {
  struct request *next;
  uint16_t flags;
  uint16_t type;
  uint64_t cookie;              /* opaque: kept in wire byte order */
  uint64_t offset;
  uint32_t count;
  int error;                    /* errno decided by validation, 0 = run */
  uint64_t queued_ns;           /* when it was handed to the workers */
  char *buf;                    /* write payload or read result */
  size_t buf_size;
  /* The write payload: req->buf, or, for a request the reader runs
   * itself, borrowed straight from the input buffer (no copy).
   */
  const char *payload;
  /* The write's payload already went straight into the plugin's memory
   * (direct.c): running it only means answering it.
   */
  bool stored;
  /* A small read the reader holds back whose data is sent straight from
   * the plugin's pages together with the other held replies (direct.c):
   * the plugin was not called.
   */
  bool mapped;
  /* A read's reply the reader began straight from the plugin's pages and
   * handed to a worker to finish (direct.c): how much of its header and
   * data left, and the send semaphore stays taken until it is done.
   */
  bool send_resume;
  size_t hdr_sent;
  uint64_t data_sent;

  /* The reply, built by handle_request and sent as one vector. */
  char reply_hdr[32];
  struct iovec reply[2];
  int reply_iovcnt;
};

/* Replies the reader produced itself, sent together before it blocks,
 * or once this many are waiting: enough to save most system calls, few
 * enough that the client starts on the first replies while the reader
 * works on the rest (measured on 2 cores: 16 beat 1, 4 and 64).
 */
#define MAX_CORKED 16

struct connection {
  int sockin, sockout;
  bool sockin_is_socket, sockout_is_socket;
  /* One reply at a time on the wire: a semaphore, not a mutex, because
   * a reply the reader began may be finished by a worker (direct.c),
   * which then releases it.  send_lock/send_unlock (request.c).
   */
  sem_t send_sem;

  /* While not 0: the CLOCK_MONOTONIC millisecond by which the client
   * must have finished the handshake (--timeout).
   */
  uint64_t deadline_ms;

  /* Set to false to stop reading requests (DISC, fatal error). */
  volatile bool running;
  /* A kernel connection of nbdattach's: its reader stops between two
   * requests when pause_kernel_connections is called, and then paused is
   * set (connections.c).
   */
  bool pausable, paused;
  volatile bool disconnect_requested;  /* nbdkit_disconnect */

  /* Negotiated during the handshake. */
  char *exportname;
  char *default_export;         /* what "" means, asked once (handshake.c) */
  bool fixed_newstyle;
  bool no_zeroes;
  bool structured_replies;
  bool meta_base_allocation;
  bool readonly;
  struct context *top_context;
  uint64_t exportsize;
  uint16_t eflags;
  uint32_t min_block, pref_block, max_block;

  /* The TLS session once NBD_OPT_STARTTLS succeeded (tls.c), else NULL:
   * all I/O then goes through it.
   */
  struct gnutls_session_int *tls;

  /* Who is on the other end. */
  struct sockaddr_storage peer;
  socklen_t peer_len;

  /* Strings from nbdkit_*_intern, freed when the connection closes. */
  char **interns;
  size_t n_interns, interns_cap;

  /* Transmission phase. */
  struct rbuf rbuf;
  pthread_mutex_t queue_lock;
  pthread_cond_t queue_cond;
  struct request *queue_head, *queue_tail;
  struct request *free_requests;
  size_t n_free_requests;
  uint64_t spare_large_bytes;   /* large buffers in free_requests */
  unsigned idle_workers;
  bool queue_closed;
  /* Requests handed to the workers and not yet answered, the bytes they
   * hold, and the reader waiting for them to drain (transmission.c).
   */
  unsigned in_flight;
  uint64_t in_flight_bytes;
  bool reader_waiting;
  pthread_cond_t space_cond;

  /* Average time (ns) requests take in the chain, to decide whether the
   * reader runs a request itself or hands it to a worker.
   */
  volatile uint64_t avg_request_ns;
  /* Average time (ns) from queueing a request to a worker starting it:
   * what handing a request over costs on this machine.
   */
  volatile uint64_t avg_handoff_ns;
  unsigned handoff_probe;       /* counts requests kept in the reader */
  unsigned time_sample;         /* counts requests run untimed */
  /* Large payloads move straight between socket and plugin (direct.c). */
  bool direct;
  /* Large reads lent to the kernel through this pipe (lend.c): the
   * bytes in it not yet in the socket, and the most one splice moves.
   */
  bool lend_tried, lending;
  int lend_pipe[2];
  size_t lend_piped;
  size_t lend_max;
  struct request *corked[MAX_CORKED];
  size_t n_corked;
};

/* What a client is told about the export. */
struct export_info {
  uint64_t size;
  uint16_t eflags;
  uint32_t min_block, pref_block, max_block;
};

/* connections.c */
extern void handle_single_connection (int sockin, int sockout);
extern int probe_export (const char *exportname, struct export_info *info);
extern int handle_kernel_connection (int fd, const char *exportname);
extern struct connection *open_local_connection (const char *exportname);
extern int close_local_connection (struct connection *conn);
extern volatile bool kernel_pause_requested;
extern void pause_kernel_connections (void);
extern void resume_kernel_connections (void);
extern bool conn_await_request (struct connection *conn);
extern void conn_free_interns (struct connection *conn);

/* handshake.c: returns 0 once the client is ready for transmission. */
extern int protocol_handshake (struct connection *conn);
extern int protocol_open_export (struct connection *conn,
                                 const char *exportname);
extern int protocol_compute_eflags (struct connection *conn);
extern void protocol_close_export (struct connection *conn);
extern int send_option_reply (struct connection *conn, uint32_t option,
                              uint32_t reply, const void *data,
                              uint32_t len);
extern int send_option_error (struct connection *conn, uint32_t option,
                              uint32_t reply, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

/* transmission.c */
extern void protocol_transmission (struct connection *conn);

/* request.c */
extern int validate_request (struct connection *conn, struct request *req);
extern int reserve_buffer (struct request *req, size_t size);
extern void handle_request (struct connection *conn, struct request *req);
extern int send_replies (struct connection *conn, struct request **reqs,
                         size_t n);
extern void send_lock (struct connection *conn);
extern void send_unlock (struct connection *conn);
/* Releases the send semaphore after replies whose sending returned R (0,
 * or -1 with errno: the connection then stops).  Returns R.
 */
extern int end_replies (struct connection *conn, int r);
extern uint32_t errno_to_nbd_error (int err);
/* Leaves a successful read's reply header in req->reply[0]. */
extern void prepare_read_reply (struct connection *conn, struct request *req);

/* direct.c */
/* Pages mapped per system call: 64 pages of 32 KiB, 2 MiB. */
#define DIRECT_IOV 64
extern bool direct_usable (const struct connection *conn);
/* Waits, holding no page, until FD is ready for EVENTS or hung up (the
 * next system call then tells): 0, or 1 after TIMEOUT_MS (0: just
 * looks; -1: no limit), or -1 on error or quit.
 */
extern int wait_socket (int fd, short events, int timeout_ms);
/* Sends a read's reply straight from the plugin's memory: false if this
 * read takes the ordinary path (nothing done), true once answered (on a
 * failed send, conn->running is false).
 */
/* DIRECT_STALLED: the client read nothing for a while (only when
 * MAY_STALL); the reply is part sent, req->send_resume set and the send
 * semaphore still taken: call again to go on, from any thread.
 */
enum direct_result { DIRECT_NOT, DIRECT_DONE, DIRECT_STALLED };
extern enum direct_result direct_read (struct connection *conn,
                                       struct request *req,
                                       bool may_stall);
extern bool direct_read_p (const struct connection *conn,
                           const struct request *req);
/* Whether the reader may hold back REQ, a small read, with its data left
 * in the plugin's pages until the replies it holds are sent
 * (direct_send_replies); if so, its reply header is ready and
 * req->mapped set.
 */
extern bool direct_defer_read (struct connection *conn, struct request *req);
/* send_replies for a batch with mapped reads among it. */
extern int direct_send_replies (struct connection *conn,
                                struct request **reqs, size_t n);
/* Receives a validated write's payload straight into the plugin's
 * memory: 0 if it takes the ordinary path (nothing read), 1 once read
 * (req->error ENOMEM if storage ran out: *SKIP bytes of payload are
 * then still to be skipped), -1 if the connection failed.
 */
extern int direct_write (struct connection *conn, struct request *req,
                         uint64_t *skip);
/* lend.c: a Unix socket's large reads are spliced, not copied.
 * lend_setup decides once per connection whether it can (and then sets
 * conn->lending).
 */
extern void lend_setup (struct connection *conn);
extern void lend_close (struct connection *conn);
/* Moves some of REQ's reply (HDR_LEN bytes of header, then data) into
 * the socket without blocking: 0 on progress, -1 with errno (EAGAIN:
 * no room), 1 if the data cannot be mapped and nothing was sent.
 */
extern int lend_step (struct connection *conn, struct request *req,
                      size_t hdr_len);

/* Validates and runs REQ (type, flags, offset, count; buf/buf_size for a
 * read, payload for a write) without any reply.  Returns 0 or an errno.
 */
extern int run_local_request (struct connection *conn, struct request *req);

/* Configuration from the command line (main.c). */
extern const char *exportname_option;   /* -e */
extern bool readonly_option;            /* -r */
extern unsigned threads_option;         /* -t */
extern bool oldstyle_option;            /* --oldstyle */
extern bool no_sr_option;               /* --no-sr */
extern bool no_mc_option;               /* --no-mc */
extern bool log_to_syslog;
extern unsigned mask_handshake_option;  /* --mask-handshake */
extern bool no_meta_contexts_option;    /* --no-meta-contexts */
extern bool keepalive_option;           /* --keepalive */
extern unsigned timeout_option;         /* --timeout: handshake, seconds */

#endif /* BLOCKKIT_CONNECTION_H */
