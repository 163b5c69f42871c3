/* nbdattach: one ublk hardware queue, served by its own thread.
 *
 * The thread owns an io_uring (128-byte SQEs) on /dev/ublkcN.  At start
 * it submits one FETCH_REQ per tag, each naming that tag's buffer.  When
 * the kernel has a request for a tag, the fetch completes; the request's
 * descriptor (operation, sector, length) is in a read-only array the
 * driver shares with us (mmap of /dev/ublkcN), and for a write the data
 * is already in the tag's buffer.  The thread runs the request through
 * the chain (run_local_request: the same validation and thread-model locking as
 * a network request) and answers with COMMIT_AND_FETCH_REQ, which carries
 * the result and re-arms the tag in the same SQE; for a read the driver
 * copies the buffer into the request's pages on commit.  All CQEs that
 * are ready are handled before one io_uring_enter submits their commits
 * and waits for more.  Buffers belong to their tag for the queue's life:
 * nothing is allocated per request.
 *
 * The driver requires every command of a queue to come from the task
 * that fetched first, which is why the ring, the fetches and the commits
 * all live in this one thread.  A fetch that completes with
 * UBLK_IO_RES_ABORT means the device is stopping (STOP_DEV, or deletion):
 * once every tag is aborted the thread flushes the chain and ends.
 *
 * Requests of one queue run one at a time, inline: for an in-memory or
 * page-cache plugin handing them to other threads costs more than they
 * take.  Parallelism comes from queues (-C, each with its own chain
 * connection, hence the multi-conn requirement as for nbd connections).
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "nbd-protocol.h"
#include "ublk.h"

struct ublk_queue_private {
  struct io_uring ring;
  const struct ublksrv_io_desc *descs;
  size_t descs_size;
  char *bufs;                   /* depth * max_io bytes */
  size_t bufs_size;
  struct connection *conn;
};

static size_t
round_up (size_t n, size_t to)
{
  return (n + to - 1) / to * to;
}

/* Queues one FETCH (first time) or COMMIT_AND_FETCH for TAG. */
static int
prep_io_cmd (struct ublk_queue *q, unsigned tag, unsigned cmd, int result)
{
  struct ublk_queue_private *p = q->priv;
  struct io_uring_sqe *sqe = io_uring_get_sqe (&p->ring);
  struct ublksrv_io_cmd *ic;

  if (sqe == NULL)
    return -1;                  /* at most one command per tag: cannot be */
  memset (sqe, 0, 2 * sizeof *sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = q->cdev_fd;
  if (q->encoded)
    sqe->cmd_op = cmd == UBLK_IO_FETCH_REQ ? UBLK_U_IO_FETCH_REQ
      : UBLK_U_IO_COMMIT_AND_FETCH_REQ;
  else
    sqe->cmd_op = cmd;
  sqe->user_data = tag;
  ic = (struct ublksrv_io_cmd *) sqe->cmd;
  ic->q_id = q->q_id;
  ic->tag = tag;
  ic->result = result;
  ic->addr = (uintptr_t) (p->bufs + (size_t) tag * q->max_io);
  return 0;
}

/* Runs the request of TAG through the chain.  Returns what the driver
 * is told: bytes transferred for a read or write, 0 for the others, or
 * -errno.
 */
static int
run_tag (struct ublk_queue *q, unsigned tag)
{
  struct ublk_queue_private *p = q->priv;
  const struct ublksrv_io_desc *iod = &p->descs[tag];
  unsigned op = ublksrv_get_op (iod);
  unsigned flags = ublksrv_get_flags (iod);
  char *buf = p->bufs + (size_t) tag * q->max_io;
  struct request req;
  int err;

  memset (&req, 0, sizeof req);
  req.offset = iod->start_sector << 9;
  req.count = iod->nr_sectors << 9;
  if (flags & (UBLK_IO_F_FUA >> 8))
    req.flags |= NBD_CMD_FLAG_FUA;
  switch (op) {
  case UBLK_IO_OP_READ:
    req.type = NBD_CMD_READ;
    req.buf = buf;
    req.buf_size = q->max_io;   /* never reallocated: count <= max_io */
    break;
  case UBLK_IO_OP_WRITE:
    req.type = NBD_CMD_WRITE;
    req.payload = buf;
    break;
  case UBLK_IO_OP_FLUSH:
    req.type = NBD_CMD_FLUSH;
    req.offset = req.count = 0;
    req.flags = 0;
    break;
  case UBLK_IO_OP_DISCARD:
    req.type = NBD_CMD_TRIM;
    break;
  case UBLK_IO_OP_WRITE_ZEROES:
    req.type = NBD_CMD_WRITE_ZEROES;
    /* UBLK_IO_F_NOUNMAP is the kernel's REQ_NOUNMAP: the caller wants
     * the blocks kept allocated (BLKZEROOUT, fallocate's zero range),
     * which is NBD's NO_HOLE.  Without it (fallocate's punch hole) the
     * chain's zero may trim.  Either way it is one zero call, no data.
     */
    if (flags & (UBLK_IO_F_NOUNMAP >> 8))
      req.flags |= NBD_CMD_FLAG_NO_HOLE;
    break;
  default:
    debug ("ublk queue %u: unknown operation %u", q->q_id, op);
    return -EOPNOTSUPP;
  }
  if (req.count > q->max_io &&
      (op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE))
    return -EINVAL;             /* the driver keeps to max_sectors */
  err = run_local_request (p->conn, &req);
  if (err)
    return -err;
  return op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE ? (int) req.count
    : 0;
}

static void
set_started (struct ublk_queue *q, int v)
{
  pthread_mutex_lock (&q->lock);
  q->started = v;
  pthread_cond_broadcast (&q->cond);
  pthread_mutex_unlock (&q->lock);
}

/* Maps the descriptors, allocates the buffers and makes the ring. */
static int
set_up (struct ublk_queue *q)
{
  struct ublk_queue_private *p = q->priv;
  size_t page = sysconf (_SC_PAGESIZE);
  /* The driver lays the queues' descriptor arrays out at the stride of
   * the largest possible queue.
   */
  off_t off = UBLKSRV_CMD_BUF_OFFSET + (off_t) q->q_id *
    round_up (UBLK_MAX_QUEUE_DEPTH * sizeof (struct ublksrv_io_desc), page);
  void *m;
  int r;

  p->descs_size = round_up (q->depth * sizeof (struct ublksrv_io_desc), page);
  m = mmap (NULL, p->descs_size, PROT_READ, MAP_SHARED | MAP_POPULATE,
            q->cdev_fd, off);
  if (m == MAP_FAILED) {
    nbdkit_error ("ublk queue %u: mmap of the request descriptors: %m",
                  q->q_id);
    return -1;
  }
  p->descs = m;

  p->bufs_size = (size_t) q->depth * q->max_io;
  m = mmap (NULL, p->bufs_size, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    nbdkit_error ("ublk queue %u: %zu bytes of buffers: %m", q->q_id,
                  p->bufs_size);
    return -1;
  }
  p->bufs = m;

  /* Completions arrive as task work in this thread: nothing gains from
   * running it before we ask for events, so let the kernel defer it
   * (6.1+); older kernels get a plain ring.
   */
  r = io_uring_queue_init (q->depth, &p->ring,
                           IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
                           IORING_SETUP_DEFER_TASKRUN);
  if (r == -EINVAL)
    r = io_uring_queue_init (q->depth, &p->ring, IORING_SETUP_SQE128);
  if (r < 0) {
    nbdkit_error ("ublk queue %u: io_uring: %s", q->q_id, strerror (-r));
    p->bufs_size = 0;           /* so that tear_down skips the ring */
    munmap (p->bufs, (size_t) q->depth * q->max_io);
    p->bufs = NULL;
    return -1;
  }
  return 0;
}

static void
tear_down (struct ublk_queue *q)
{
  struct ublk_queue_private *p = q->priv;

  if (p->bufs) {
    io_uring_queue_exit (&p->ring);
    munmap (p->bufs, p->bufs_size);
  }
  if (p->descs)
    munmap ((void *) p->descs, p->descs_size);
}

/* Fetch, run, commit until every tag is aborted. */
static int
serve (struct ublk_queue *q)
{
  struct ublk_queue_private *p = q->priv;
  unsigned tag, active = q->depth;
  int r, status = 0;

  for (tag = 0; tag < q->depth; ++tag)
    prep_io_cmd (q, tag, UBLK_IO_FETCH_REQ, 0);
  r = io_uring_submit (&p->ring);
  if (r != q->depth) {
    nbdkit_error ("ublk queue %u: submitting the fetches: %s", q->q_id,
                  r < 0 ? strerror (-r) : "short submit");
    return -1;
  }
  set_started (q, 1);

  while (active > 0) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;

    r = io_uring_submit_and_wait (&p->ring, 1);
    if (r < 0 && r != -EINTR) {
      nbdkit_error ("ublk queue %u: io_uring_enter: %s", q->q_id,
                    strerror (-r));
      return -1;
    }
    io_uring_for_each_cqe (&p->ring, head, cqe) {
      tag = cqe->user_data;
      seen++;
      if (cqe->res == UBLK_IO_RES_OK && tag < q->depth)
        prep_io_cmd (q, tag, UBLK_IO_COMMIT_AND_FETCH_REQ, run_tag (q, tag));
      else {
        /* ABORT: the device is going away.  Anything else is a command
         * the driver refused, and the tag is lost to us likewise.
         */
        if (cqe->res != UBLK_IO_RES_ABORT) {
          nbdkit_error ("ublk queue %u tag %u: the driver refused the "
                        "command: %s", q->q_id, tag, strerror (-cqe->res));
          status = -1;
        }
        active--;
      }
    }
    io_uring_cq_advance (&p->ring, seen);
  }
  return status;
}

static void *
queue_thread (void *arg)
{
  struct ublk_queue *q = arg;
  struct ublk_queue_private priv = { .conn = NULL };
  char name[32];

  snprintf (name, sizeof name, "ublk queue %u", q->q_id);
  threadlocal_set_name (name);
  q->priv = &priv;
  q->result = -1;
  lock_connection ();
  priv.conn = open_local_connection (q->exportname);
  if (priv.conn == NULL || set_up (q) == -1)
    set_started (q, -1);
  else {
    q->result = serve (q);
    if (q->started == 0)
      set_started (q, -1);
  }
  if (priv.conn && close_local_connection (priv.conn) == -1)
    q->result = -1;
  unlock_connection ();
  tear_down (q);
  q->priv = NULL;
  q->done = true;
  return NULL;
}

int
ublk_queue_start (struct ublk_queue *q)
{
  sigset_t all, old;
  int r;

  pthread_mutex_init (&q->lock, NULL);
  pthread_cond_init (&q->cond, NULL);
  q->started = 0;
  q->done = false;
  /* Signals are for the main thread's poll, not for the queues. */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  r = pthread_create (&q->thread, NULL, queue_thread, q);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (r != 0) {
    errno = r;
    nbdkit_error ("pthread_create: %m");
    q->started = -1;
    q->done = true;
    return -1;
  }
  q->has_thread = true;
  pthread_mutex_lock (&q->lock);
  while (q->started == 0)
    pthread_cond_wait (&q->cond, &q->lock);
  pthread_mutex_unlock (&q->lock);
  return q->started == 1 ? 0 : -1;
}

void
ublk_queue_join (struct ublk_queue *q)
{
  if (q->has_thread)
    pthread_join (q->thread, NULL);
  q->has_thread = false;
  pthread_mutex_destroy (&q->lock);
  pthread_cond_destroy (&q->cond);
}
