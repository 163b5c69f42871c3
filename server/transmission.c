/* blockkit: the transmission phase of one connection.
 *
 * One reader (this connection's thread) drains requests from a buffered
 * stream: a single read(2) usually brings in many request headers.  It
 * checks each request and reads a write's payload straight into a
 * recycled buffer.  Then:
 *
 * - Requests that take the chain microseconds (a RAM disk, a page-cache
 *   hit) the reader runs itself, and their replies are corked: sent
 *   together, in one system call, when no further request is waiting in
 *   the buffer.  Handing such a request to another thread would cost
 *   two context switches, more than the request itself.
 * - Anything slower goes to the workers, so that one slow request never
 *   holds up the others.  Workers are started on demand, up to -t, and
 *   each writes its reply (header and payload in one call) as soon as it
 *   is done.  Replies therefore leave in completion order, not request
 *   order, as the protocol allows.
 * - With a plugin that lends its memory (direct.c), large payloads skip
 *   the buffers: the reader receives a large write straight into the
 *   plugin's pages and sends a large read's reply straight from them,
 *   both itself: the socket's copy is then all the work there is.
 *
 * Which path a request takes follows running averages of how long
 * requests have been taking on this connection and of how long a
 * handover to a worker takes (much longer under emulation or load): a
 * request runs here when it is cheaper than the handover.  Under the serialized
 * thread models the reader runs every request itself: one at a time and
 * in order is then exactly what the model asks for.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "conn-io.h"
#include "minmax.h"
#include "nbd-protocol.h"

/* The input buffer: big enough for a burst of headers plus small writes. */
#define RBUF_SIZE (256 * 1024)

/* Requests faster than this on average are run by the reader itself. */
#define INLINE_THRESHOLD_NS 20000
#define INITIAL_REQUEST_NS 1000000
#define HANDOFF_PROBE_EVERY 32
#define TIME_SAMPLE_EVERY 8
#define INLINE_MAX_BYTES (128 * 1024)
/* Reads up to this size sent straight from the plugin's pages (direct.c)
 * are sent by the reader itself; larger ones go to a worker like any
 * large request, so that small requests behind them are not held up.
 */
#define INLINE_DIRECT_MAX_BYTES (1024 * 1024)

/* A write this large has its payload read straight into the request's
 * buffer, and so has the next request's if it is one too (rbuf.exact).
 */
#define LARGE_WRITE_BYTES (64 * 1024)

/* Request buffers up to this size are always kept for reuse.  Larger
 * ones are kept only while the connection's spare large buffers total at
 * most KEEP_LARGE_TOTAL: a stream of huge requests then reuses warm
 * memory, where a fresh buffer for each (glibc gives such sizes back to
 * the kernel when freed) cost a page fault per 4 KiB, a quarter of the
 * server's CPU time on 32 MiB writes; and a burst of them does not pin
 * more than that for the life of the connection.
 */
#define KEEP_BUFFER_MAX (4 * 1024 * 1024)
#define KEEP_LARGE_TOTAL (128 * 1024 * 1024)

/* What one connection may make the server hold at once: requests handed
 * to the workers and not yet answered, and the payload and reply bytes
 * they carry.  At either bound the reader stops reading until replies
 * drain, so a client that pipelines requests and never reads replies
 * costs a fixed amount of memory, not whatever it sends.  Generous
 * enough that no real client waits (the kernel keeps at most 128
 * requests in flight per connection, nbdcopy 64), and always room for
 * one request of the largest size.
 */
#define MAX_IN_FLIGHT 512
#define MAX_IN_FLIGHT_BYTES (2 * (uint64_t) MAX_REQUEST_SIZE)

/* A write payload longer than this is never accepted, and more than the
 * server will read just to stay in step with the stream: such a request
 * (up to 0xffffffff) ends the connection at once, as the protocol allows.
 */
#define MAX_SKIP_BYTES MAX_REQUEST_SIZE

/* ---- buffered input ---- */

/* Slides the unread bytes to the front, making room behind them. */
static void
rbuf_compact (struct rbuf *rb)
{
  if (rb->start > 0) {
    memmove (rb->data, rb->data + rb->start, rb->end - rb->start);
    rb->end -= rb->start;
    rb->start = 0;
  }
}

/* How much the next read may bring in, once compacted: as much as fits,
 * or in exact mode only what makes WANT bytes.
 */
static size_t
rbuf_room (const struct rbuf *rb, size_t want)
{
  /* A reader asked to pause must not read into the next request. */
  return rb->exact || kernel_pause_requested
    ? want - rb->end : rb->cap - rb->end;
}

/* Makes at least WANT bytes available in the buffer (WANT <= cap). */
static int
rbuf_fill (struct connection *conn, size_t want)
{
  struct rbuf *rb = &conn->rbuf;

  if (rb->end - rb->start >= want)
    return 0;
  rbuf_compact (rb);
  while (rb->end < want) {
    size_t room = rbuf_room (rb, want);
    ssize_t r = conn_recv_some (conn, rb->data + rb->end, room);

    if (r == -1)
      return -1;
    if (r == 0) {
      errno = 0;
      return -1;
    }
    rb->end += r;
    rb->drained = (size_t) r < room;
  }
  return 0;
}

/* Copies LEN bytes of stream into BUF: first what is buffered, then the
 * rest straight from the socket (no double copy for big writes).
 */
static int
rbuf_read (struct connection *conn, void *buf, size_t len)
{
  struct rbuf *rb = &conn->rbuf;
  size_t n = MIN (len, rb->end - rb->start);

  if (len == 0)                 /* BUF may be NULL then */
    return 0;
  memcpy (buf, rb->data + rb->start, n);
  rb->start += n;
  if (n == len)
    return 0;
  /* Small remainders go through the buffer, to pick up what follows. */
  if (len - n < rb->cap / 2 && !rb->exact) {
    if (rbuf_fill (conn, len - n) == -1)
      return -1;
    memcpy ((char *) buf + n, rb->data + rb->start, len - n);
    rb->start += len - n;
    return 0;
  }
  rb->drained = false;
  return conn_recv_full (conn, (char *) buf + n, len - n);
}

/* Discards LEN bytes of stream: the payload of a write that was refused.
 * Exact mode is dropped first, so that each read brings in a whole
 * buffer rather than the one byte rbuf_fill would otherwise ask for.
 */
static int
rbuf_skip (struct connection *conn, uint64_t len)
{
  struct rbuf *rb = &conn->rbuf;

  rb->exact = false;
  while (len > 0) {
    size_t n;

    if (rb->end == rb->start && rbuf_fill (conn, 1) == -1)
      return -1;
    n = MIN (len, (uint64_t) (rb->end - rb->start));
    rb->start += n;
    len -= n;
  }
  return 0;
}

/* ---- the request queue ---- */

static void *worker (void *arg);

static struct request *
get_request (struct connection *conn)
{
  struct request *req;

  pthread_mutex_lock (&conn->queue_lock);
  req = conn->free_requests;
  if (req) {
    conn->free_requests = req->next;
    conn->n_free_requests--;
    if (req->buf_size > KEEP_BUFFER_MAX)
      conn->spare_large_bytes -= req->buf_size;
  }
  pthread_mutex_unlock (&conn->queue_lock);

  if (req == NULL)
    req = calloc (1, sizeof *req);
  return req;
}

/* Called with queue_lock held. */
static void
put_request_locked (struct connection *conn, struct request *req)
{
  if (req->buf_size > KEEP_BUFFER_MAX) {
    if (conn->spare_large_bytes + req->buf_size <= KEEP_LARGE_TOTAL)
      conn->spare_large_bytes += req->buf_size;
    else {
      free (req->buf);
      req->buf = NULL;
      req->buf_size = 0;
    }
  }
  req->next = conn->free_requests;
  conn->free_requests = req;
  conn->n_free_requests++;
}

/* The bytes a request makes the server hold: its payload or reply. */
static uint64_t
request_bytes (const struct request *req)
{
  return req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE
    ? req->count : 0;
}

/* Called with queue_lock held. */
static bool
over_limits (const struct connection *conn)
{
  return conn->in_flight >= MAX_IN_FLIGHT ||
    conn->in_flight_bytes >= MAX_IN_FLIGHT_BYTES;
}

/* A request handed to the workers is answered (or dropped): it no longer
 * counts against the connection's limits.  Called with queue_lock held.
 */
static void
retire_request_locked (struct connection *conn, struct request *req)
{
  conn->in_flight--;
  conn->in_flight_bytes -= request_bytes (req);
  if (conn->reader_waiting && !over_limits (conn))
    pthread_cond_signal (&conn->space_cond);
  put_request_locked (conn, req);
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs a request and folds its duration into the connection's average
 * (an exponential moving average, 1/8 weight; races between threads only
 * blur a heuristic).
 */
static void
run_request (struct connection *conn, struct request *req)
{
  uint64_t start, d, avg;

  /* The two clock reads were 4% of the server's CPU time on random 4 KiB
   * writes to a RAM disk: while requests stay well below the threshold,
   * only every TIME_SAMPLE_EVERY-th is timed (a request that turns slow
   * still shows within that many).
   */
  if (conn->avg_request_ns < INLINE_THRESHOLD_NS / 2 &&
      ++conn->time_sample % TIME_SAMPLE_EVERY != 0) {
    handle_request (conn, req);
    return;
  }
  start = now_ns ();
  handle_request (conn, req);
  d = now_ns () - start;
  avg = conn->avg_request_ns;
  conn->avg_request_ns = avg - avg / 8 + d / 8;
}

/* Runs a request handed over and sends its reply, or finishes a
 * reply the reader began.
 */
static void
serve_request (struct connection *conn, struct request *req)
{
  if (direct_read (conn, req, false) != DIRECT_NOT)
    return;
  run_request (conn, req);
  send_replies (conn, &req, 1);
}

static void *
worker (void *arg)
{
  struct connection *conn = arg;
  struct request *done = NULL;

  threadlocal_set_conn (conn);
  for (;;) {
    struct request *req;

    /* Returning the last request and taking the next share one lock. */
    pthread_mutex_lock (&conn->queue_lock);
    if (done)
      retire_request_locked (conn, done);
    done = NULL;
    while (conn->queue_head == NULL && !conn->queue_closed) {
      conn->idle_workers++;
      pthread_cond_wait (&conn->queue_cond, &conn->queue_lock);
      conn->idle_workers--;
    }
    req = conn->queue_head;
    if (req) {
      conn->queue_head = req->next;
      if (conn->queue_head == NULL)
        conn->queue_tail = NULL;
    }
    pthread_mutex_unlock (&conn->queue_lock);

    if (req == NULL)
      break;
    /* The client is gone (or the server is quitting): nobody will read
     * the reply, so queued work is dropped rather than run.  Nothing
     * dropped was acknowledged.
     */
    if (!conn->running || quit) {
      /* A reply begun by the reader holds the send semaphore. */
      if (req->send_resume) {
        req->send_resume = false;
        send_unlock (conn);
      }
      done = req;
      continue;
    }
    {
      uint64_t d = now_ns () - req->queued_ns, avg = conn->avg_handoff_ns;
      conn->avg_handoff_ns = avg - avg / 8 + d / 8;
    }
    serve_request (conn, req);
    done = req;
  }
  threadlocal_set_conn (NULL);
  return NULL;
}

/* ---- the reader ---- */

struct workers {
  pthread_t *threads;
  unsigned n, max;
};

/* Hands REQ to the workers: at the end of the queue, or at its front
 * for a reply the reader began (it must not wait behind requests whose
 * workers would wait for it).
 */
static void
enqueue (struct connection *conn, struct workers *w, struct request *req,
         bool front)
{
  bool need_worker;

  req->queued_ns = now_ns ();
  pthread_mutex_lock (&conn->queue_lock);
  conn->in_flight++;
  conn->in_flight_bytes += request_bytes (req);
  req->next = NULL;
  if (front && conn->queue_head) {
    req->next = conn->queue_head;
    conn->queue_head = req;
  }
  else if (conn->queue_tail)
    conn->queue_tail->next = req;
  else
    conn->queue_head = req;
  if (req->next == NULL)
    conn->queue_tail = req;
  /* Wake a worker only if one is asleep: busy ones will find it. */
  if (conn->idle_workers > 0)
    pthread_cond_signal (&conn->queue_cond);
  need_worker = conn->idle_workers == 0 && w->n < w->max;
  pthread_mutex_unlock (&conn->queue_lock);

  if (need_worker) {
    int err = pthread_create (&w->threads[w->n], NULL, worker, conn);
    if (err == 0)
      w->n++;
    else if (w->n == 0 || front) {
      /* No worker at all, or none free for a reply begun here (the
       * others may be waiting for it): run it here rather than never.
       * It is at the front of the queue, or all of it.
       */
      errno = err;
      nbdkit_error ("pthread_create: %m");
      pthread_mutex_lock (&conn->queue_lock);
      conn->queue_head = req->next;
      if (conn->queue_head == NULL)
        conn->queue_tail = NULL;
      pthread_mutex_unlock (&conn->queue_lock);
      serve_request (conn, req);
      pthread_mutex_lock (&conn->queue_lock);
      retire_request_locked (conn, req);
      pthread_mutex_unlock (&conn->queue_lock);
    }
  }
}

/* True if a worker is free to take a request at once: one asleep, or
 * room to start one.  (Workers waiting to send are neither.)
 */
static bool
worker_free (struct connection *conn, const struct workers *w)
{
  bool r;

  pthread_mutex_lock (&conn->queue_lock);
  r = conn->idle_workers > 0 || w->n < w->max;
  pthread_mutex_unlock (&conn->queue_lock);
  return r;
}

/* Sends the replies the reader has been holding back. */
static void
flush_corked (struct connection *conn)
{
  size_t i;

  if (conn->n_corked == 0)
    return;
  send_replies (conn, conn->corked, conn->n_corked);
  pthread_mutex_lock (&conn->queue_lock);
  for (i = 0; i < conn->n_corked; ++i)
    put_request_locked (conn, conn->corked[i]);
  pthread_mutex_unlock (&conn->queue_lock);
  conn->n_corked = 0;
}

/* Waits while the connection is at its limits (see MAX_IN_FLIGHT), first
 * sending the replies the reader holds.  Returns false if the client went
 * away or the server is quitting meanwhile.
 */
static bool
wait_for_room (struct connection *conn)
{
  bool ok;

  pthread_mutex_lock (&conn->queue_lock);
  if (!over_limits (conn)) {
    pthread_mutex_unlock (&conn->queue_lock);
    return true;
  }
  pthread_mutex_unlock (&conn->queue_lock);
  flush_corked (conn);

  pthread_mutex_lock (&conn->queue_lock);
  conn->reader_waiting = true;
  /* Timed, so that quit (set by a signal handler) is noticed. */
  while (over_limits (conn) && conn->running && !quit) {
    struct timespec ts;

    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&conn->space_cond, &conn->queue_lock, &ts);
  }
  conn->reader_waiting = false;
  ok = conn->running && !quit;
  pthread_mutex_unlock (&conn->queue_lock);
  return ok;
}

/* True if a whole request header is already buffered, reading more
 * from the socket only if that cannot block.
 */
static bool
header_ready (struct connection *conn)
{
  struct rbuf *rb = &conn->rbuf;
  size_t room;
  ssize_t r;

  if (rb->end - rb->start >= sizeof (struct nbd_request))
    return true;
  if (rb->drained)
    return false;
  rbuf_compact (rb);
  room = rbuf_room (rb, sizeof (struct nbd_request));
  r = conn_recv_nowait (conn, rb->data + rb->end, room);
  if (r > 0)
    rb->end += r;
  rb->drained = r < 0 || (size_t) r < room;
  return rb->end - rb->start >= sizeof (struct nbd_request);
}

/* True if the input buffer already holds the next request's header,
 * beyond this request's own payload: running this one in the reader
 * would make that one wait.
 */
static bool
another_request_buffered (const struct connection *conn,
                          const struct request *req)
{
  const struct rbuf *rb = &conn->rbuf;
  uint64_t own = req->type == NBD_CMD_WRITE ? req->count : 0;

  return rb->end - rb->start >= own + sizeof (struct nbd_request);
}

/* Whether the reader runs this request itself.  Never a big one, which
 * would hold up the requests behind it for the whole copy, except a read
 * sent straight from the plugin's pages (direct.c): its reply is all
 * there is to do, and a worker would only wait for the socket (replies
 * leave one at a time) after a wakeup and a handover that cost more,
 * on 1 MiB reads, than the rest of the request but the socket's copy.
 * Always one that takes the chain microseconds (a RAM disk).  A slower one (a
 * network plugin waiting on its server) only when that costs less than
 * the handover and nothing is waiting behind it: otherwise requests
 * that could run in parallel would run one at a time.  And every
 * HANDOFF_PROBE_EVERY-th such request is handed over anyway, so that the
 * handover's cost, measured only when one happens, stays current (a
 * handover once measured slow on a busy machine would otherwise keep
 * every request in the reader for good).
 */
static bool
run_here_p (struct connection *conn, const struct request *req, bool parallel)
{
  if (!parallel)
    return true;
  if (direct_read_p (conn, req) && req->count <= INLINE_DIRECT_MAX_BYTES)
    return true;
  if (req->count > INLINE_MAX_BYTES &&
      (req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE))
    return false;
  if (conn->avg_request_ns < INLINE_THRESHOLD_NS)
    return true;
  if (conn->avg_request_ns >= conn->avg_handoff_ns ||
      another_request_buffered (conn, req))
    return false;
  return ++conn->handoff_probe % HANDOFF_PROBE_EVERY != 0;
}

/* Reads one request.  Returns 1 for a request to run, 0 for NBD_CMD_DISC,
 * -1 when the client went away, broke the protocol, or the server is
 * quitting.  Decides *RUN_HERE; when the reader will run the request before
 * reading on, a small write's payload is left in the input buffer and
 * used from there.
 */
static int
read_request (struct connection *conn, struct request *req, bool *run_here,
              bool parallel)
{
  bool may_borrow;
  struct rbuf *rb = &conn->rbuf;
  struct nbd_request hdr;

  if (rbuf_fill (conn, sizeof hdr) == -1) {
    if (errno != 0 && errno != ESHUTDOWN)
      debug ("reading a request: %m");
    return -1;
  }
  memcpy (&hdr, rb->data + rb->start, sizeof hdr);
  rb->start += sizeof hdr;

  if (be32toh (hdr.magic) != NBD_REQUEST_MAGIC) {
    nbdkit_error ("client sent a request with a bad magic 0x%08" PRIx32
                  ": disconnecting", be32toh (hdr.magic));
    return -1;
  }
  req->flags = be16toh (hdr.flags);
  req->type = be16toh (hdr.type);
  req->cookie = hdr.cookie;
  req->offset = be64toh (hdr.offset);
  req->count = be32toh (hdr.count);
  req->payload = req->buf;
  rb->exact = req->type == NBD_CMD_WRITE && req->count > LARGE_WRITE_BYTES;

  if (req->type == NBD_CMD_DISC) {
    debug ("client sent NBD_CMD_DISC");
    return 0;
  }

  req->error = validate_request (conn, req);
  *run_here = run_here_p (conn, req, parallel);
  may_borrow = *run_here;

  if (req->type != NBD_CMD_WRITE)
    return 1;
  if (req->count > MAX_SKIP_BYTES) {
    nbdkit_error ("client sent a write of %" PRIu32 " bytes, over the "
                  "largest request (%u bytes): disconnecting",
                  req->count, (unsigned) MAX_REQUEST_SIZE);
    return -1;
  }

  /* The payload follows whatever we think of the request: read it, or
   * skip it, so the stream stays in step.
   */
  if (req->error != 0)
    return rbuf_skip (conn, req->count) == -1 ? -1 : 1;

  /* A large payload straight into the plugin's memory: then only the
   * reply is left to do, which the reader does at once.
   */
  if (req->count > LARGE_WRITE_BYTES) {
    uint64_t skip;
    int d = direct_write (conn, req, &skip);

    if (d == -1)
      return -1;
    if (d == 1) {
      req->stored = req->error == 0;
      *run_here = true;
      return skip == 0 || rbuf_skip (conn, skip) == 0 ? 1 : -1;
    }
  }

  if (may_borrow && req->count <= rb->cap / 2) {
    if (rbuf_fill (conn, req->count) == -1)
      return -1;
    req->payload = rb->data + rb->start;
    rb->start += req->count;
    return 1;
  }

  if (reserve_buffer (req, req->count) == -1) {
    req->error = ENOMEM;
    return rbuf_skip (conn, req->count) == -1 ? -1 : 1;
  }
  req->payload = req->buf;
  return rbuf_read (conn, req->buf, req->count) == -1 ? -1 : 1;
}

void
protocol_transmission (struct connection *conn)
{
  struct workers w = { 0 };
  bool parallel = thread_model == NBDKIT_THREAD_MODEL_PARALLEL;
  unsigned i;
  int r;

  w.max = parallel ? threads_option : 0;
  /* Until requests have shown they are fast, assume they are not: a
   * slow first request must not hold up the reader.
   */
  conn->avg_request_ns = INITIAL_REQUEST_NS;
  conn->direct = direct_usable (conn);
  w.threads = calloc (w.max + 1, sizeof *w.threads);
  conn->rbuf.data = malloc (RBUF_SIZE);
  conn->rbuf.cap = RBUF_SIZE;
  if (w.threads == NULL || conn->rbuf.data == NULL) {
    nbdkit_error ("malloc: %m");
    free (w.threads);
    return;
  }

  while (conn->running && !quit && !conn->disconnect_requested) {
    struct request *req;
    bool run_here;

    /* nbdattach's pause: stop between two requests, nothing of the next
     * one read, so that the same socket can be served again from here
     * (connections.c).
     */
    if (conn->pausable && conn->rbuf.start == conn->rbuf.end &&
        kernel_pause_requested) {
      conn->paused = true;
      break;
    }

    /* About to block for input: first send what the client waits for. */
    if (conn->n_corked > 0 && !header_ready (conn))
      flush_corked (conn);

    if (conn->pausable && conn->rbuf.start == conn->rbuf.end &&
        !conn_await_request (conn)) {
      conn->paused = true;
      break;
    }

    if (!wait_for_room (conn))
      break;
    req = get_request (conn);
    if (req == NULL) {
      nbdkit_error ("calloc: %m");
      break;
    }
    req->error = 0;
    req->stored = false;
    req->mapped = false;
    req->send_resume = false;
    r = read_request (conn, req, &run_here, parallel);
    if (r <= 0) {
      pthread_mutex_lock (&conn->queue_lock);
      put_request_locked (conn, req);
      /* After DISC, what was asked before it is still answered; after
       * EOF, an error or quit, queued requests are dropped.
       */
      if (r == -1)
        conn->running = false;
      pthread_mutex_unlock (&conn->queue_lock);
      break;
    }

    /* A large read from the plugin's pages: its reply leaves now, after
     * the replies held back (which it would otherwise overtake).
     */
    if (run_here && direct_read_p (conn, req)) {
      enum direct_result d;

      flush_corked (conn);
      d = direct_read (conn, req, true);
      /* The client stopped reading: a worker that is free (not one
       * waiting to send, which would wait for this reply) finishes it,
       * and the reader goes on reading; without one, it goes on itself.
       */
      while (d == DIRECT_STALLED && !worker_free (conn, &w))
        d = direct_read (conn, req, true);
      if (d == DIRECT_STALLED) {
        enqueue (conn, &w, req, true);
        continue;
      }
      if (d == DIRECT_DONE) {
        pthread_mutex_lock (&conn->queue_lock);
        put_request_locked (conn, req);
        pthread_mutex_unlock (&conn->queue_lock);
        continue;
      }
    }
    if (run_here) {
      if (!direct_defer_read (conn, req))
        run_request (conn, req);
      conn->corked[conn->n_corked++] = req;
      if (conn->n_corked == MAX_CORKED)
        flush_corked (conn);
    }
    else
      enqueue (conn, &w, req, false);
  }
  flush_corked (conn);

  /* Let the workers finish (or drop) what was queued, then stop them. */
  pthread_mutex_lock (&conn->queue_lock);
  conn->queue_closed = true;
  pthread_cond_broadcast (&conn->queue_cond);
  pthread_mutex_unlock (&conn->queue_lock);
  for (i = 0; i < w.n; ++i)
    pthread_join (w.threads[i], NULL);
  free (w.threads);
}
