/* nbdattach: serving the chain as /dev/ublkbN (--transport=ublk).
 *
 * attach.c has opened the chain and daemonized; here the device is
 * added (queues = -C, depth UBLK_QUEUE_DEPTH, requests up to
 * UBLK_MAX_IO bytes), given the chain's parameters, its queue threads
 * started (ublk-queue.c) and the device started.  Then the daemon waits
 * for a signal (STOP_DEV) or for the queues to end (someone else's
 * STOP_DEV, nbdattach --detach); the queues flush the chain as they end,
 * and the device is deleted.
 *
 * Devices are added with user recovery (UBLK_F_USER_RECOVERY and
 * _REISSUE): when the daemon dies without deleting its device (kill -9,
 * a crash), the driver holds the disk's I/O instead of failing it, and
 * requeues the requests the dead daemon had fetched.  --reattach (or a
 * restart of `nbdattach --config NAME`) runs START_USER_RECOVERY, serves
 * the queues again and ends with END_USER_RECOVERY, after which the held
 * and requeued requests run on the new daemon: nothing acknowledged is
 * lost, and nothing in flight fails.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nbd-protocol.h"
#include "nbdattach.h"
#include "ublk.h"

/* Requests in flight per queue; each tag has a buffer of UBLK_MAX_IO
 * bytes (virtual memory, touched as used): 32 MiB per queue.
 */
#define UBLK_QUEUE_DEPTH 64
#define UBLK_MAX_IO (512 * 1024)
/* Discards and zeroes carry no data: larger, but within the chain's
 * 32-bit counts.
 */
#define UBLK_MAX_DISCARD (1024 * 1024 * 1024)
/* How long --reattach waits for the driver to let go of a dead daemon
 * (its /dev/ublkcN must be closed, which happens as the process exits).
 */
#define RECOVERY_WAIT_MS 10000

struct attach_state {
  struct ublk_ctrl ctrl;
  int dev_id;
  int cdev_fd;
  struct ublk_queue *queues;
  int n_queues;
  void (*report) (int status, const char *msg);
  bool reported;
};

static int __attribute__ ((format (printf, 2, 3)))
attach_error (struct attach_state *s, const char *fmt, ...)
{
  char msg[400];
  va_list args;

  va_start (args, fmt);
  vsnprintf (msg, sizeof msg, fmt, args);
  va_end (args);
  if (!s->reported)
    s->report (1, msg);
  else
    nbdkit_error ("%s", msg);
  s->reported = true;
  return -1;
}

static unsigned
log2_of (uint64_t n)
{
  unsigned s = 0;

  while ((UINT64_C (1) << (s + 1)) <= n)
    s++;
  return s;
}

/* The chain's properties as the driver's parameters. */
static void
make_params (const struct export_info *info, uint32_t max_io,
             struct ublk_params *p)
{
  uint64_t phys = info->pref_block;
  uint32_t max_req = max_io;

  if (phys < block_size)
    phys = block_size;
  if (phys > 65536)
    phys = 65536;
  if (info->max_block && info->max_block < max_req)
    max_req = info->max_block / block_size * block_size;
  if (max_req < block_size)
    max_req = block_size;

  memset (p, 0, sizeof *p);
  p->len = sizeof *p;
  p->types = UBLK_PARAM_TYPE_BASIC;
  if (info->eflags & NBD_FLAG_READ_ONLY)
    p->basic.attrs |= UBLK_ATTR_READ_ONLY;
  if (info->eflags & NBD_FLAG_ROTATIONAL)
    p->basic.attrs |= UBLK_ATTR_ROTATIONAL;
  /* A chain that can flush has a cache that a flush empties; FUA means
   * something only then.
   */
  if (info->eflags & NBD_FLAG_SEND_FLUSH) {
    p->basic.attrs |= UBLK_ATTR_VOLATILE_CACHE;
    if (info->eflags & NBD_FLAG_SEND_FUA)
      p->basic.attrs |= UBLK_ATTR_FUA;
  }
  p->basic.logical_bs_shift = log2_of (block_size);
  p->basic.physical_bs_shift = log2_of (phys);
  p->basic.io_min_shift = log2_of (phys);
  p->basic.io_opt_shift = log2_of (phys);
  p->basic.max_sectors = max_req >> 9;
  p->basic.dev_sectors = info->size >> 9;

  if (!(info->eflags & NBD_FLAG_READ_ONLY) &&
      (info->eflags & (NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES))) {
    p->types |= UBLK_PARAM_TYPE_DISCARD;
    p->discard.discard_granularity = phys;
    if (info->eflags & NBD_FLAG_SEND_TRIM) {
      p->discard.max_discard_sectors = UBLK_MAX_DISCARD >> 9;
      p->discard.max_discard_segments = 1;
    }
    if (info->eflags & NBD_FLAG_SEND_WRITE_ZEROES)
      p->discard.max_write_zeroes_sectors = UBLK_MAX_DISCARD >> 9;
  }
}

static bool
pid_alive (pid_t pid)
{
  return pid > 0 && (kill (pid, 0) == 0 || errno == EPERM);
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  nanosleep (&ts, NULL);
}

/* A new device; fills INFO with what the driver made of it. */
static int
add_device (struct attach_state *s, const struct export_info *export,
            struct ublksrv_ctrl_dev_info *info)
{
  struct ublk_params params;
  int r;

  memset (info, 0, sizeof *info);
  info->nr_hw_queues = connections;
  info->queue_depth = UBLK_QUEUE_DEPTH;
  info->max_io_buf_bytes = UBLK_MAX_IO;
  info->dev_id = device_index >= 0 ? (uint32_t) device_index : (uint32_t) -1;
  info->flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
  if (s->ctrl.encoded)
    info->flags |= UBLK_F_CMD_IOCTL_ENCODE;
  r = ublk_ctrl_cmd (&s->ctrl, UBLK_CMD_ADD_DEV, info->dev_id, info,
                     sizeof *info, 0);
  if (r < 0)
    return attach_error (s, "the ublk driver refused a new device: %s%s",
                         strerror (-r), r == -EEXIST ?
                         " (that device number is taken)" : "");
  s->dev_id = info->dev_id;
  debug ("/dev/ublkb%d added: %u queues of %u, %u bytes per request, "
         "flags 0x%llx", s->dev_id, info->nr_hw_queues, info->queue_depth,
         info->max_io_buf_bytes, (unsigned long long) info->flags);

  make_params (export, info->max_io_buf_bytes, &params);
  r = ublk_ctrl_cmd (&s->ctrl, UBLK_CMD_SET_PARAMS, s->dev_id, &params,
                     sizeof params, 0);
  if (r < 0)
    return attach_error (s, "/dev/ublkb%d: the driver refused the "
                         "parameters: %s", s->dev_id, strerror (-r));
  return 0;
}

/* --reattach: the device must be waiting for a daemon, for this chain. */
static int
start_recovery (struct attach_state *s, const struct export_info *export,
                struct ublksrv_ctrl_dev_info *info)
{
  struct ublk_params params;
  int r, ms;

  s->dev_id = ublk_find_device (reattach_target);
  if (s->dev_id < 0 || ublk_ctrl_dev_info (&s->ctrl, s->dev_id, info) < 0) {
    s->dev_id = -1;
    return attach_error (s, "%s: no such ublk device", reattach_target);
  }
  if (!(info->flags & UBLK_F_USER_RECOVERY))
    return attach_error (s, "/dev/ublkb%d was not made with user recovery "
                         "and cannot be reattached", s->dev_id);
  if (info->state == UBLK_S_DEV_LIVE && pid_alive (info->ublksrv_pid))
    return attach_error (s, "/dev/ublkb%d is still served by process %d",
                         s->dev_id, (int) info->ublksrv_pid);
  memset (&params, 0, sizeof params);
  params.len = sizeof params;
  r = ublk_ctrl_cmd (&s->ctrl, UBLK_CMD_GET_PARAMS, s->dev_id, &params,
                     sizeof params, 0);
  if (r >= 0 && params.basic.dev_sectors != export->size >> 9)
    return attach_error (s, "/dev/ublkb%d has %llu bytes, the chain %"
                         PRIu64 ": not the same data", s->dev_id,
                         (unsigned long long) params.basic.dev_sectors << 9,
                         export->size);
  /* The driver answers EBUSY until the dead daemon's files are closed
   * and the device is quiesced.
   */
  for (ms = 0; ; ms += 100) {
    r = ublk_ctrl_cmd (&s->ctrl, UBLK_CMD_START_USER_RECOVERY, s->dev_id,
                       NULL, 0, 0);
    if (r != -EBUSY || ms >= RECOVERY_WAIT_MS)
      break;
    sleep_ms (100);
  }
  if (r < 0)
    return attach_error (s, "/dev/ublkb%d: recovery refused: %s%s",
                         s->dev_id, strerror (-r), r == -EBUSY ?
                         " (is its old daemon still exiting?)" : "");
  return 0;
}

/* Opens /dev/ublkcN (udev may still be making the node) and starts one
 * thread per queue.
 */
static int
start_queues (struct attach_state *s, const struct ublksrv_ctrl_dev_info *info)
{
  char path[40];
  int i, ms;

  snprintf (path, sizeof path, "/dev/ublkc%d", s->dev_id);
  for (ms = 0; ; ms += 50) {
    s->cdev_fd = open (path, O_RDWR | O_CLOEXEC);
    if (s->cdev_fd >= 0 || errno != ENOENT || ms >= 5000)
      break;
    sleep_ms (50);
  }
  if (s->cdev_fd == -1)
    return attach_error (s, "%s: %s", path, strerror (errno));
  s->queues = calloc (info->nr_hw_queues, sizeof *s->queues);
  if (s->queues == NULL)
    return attach_error (s, "out of memory");
  for (i = 0; i < info->nr_hw_queues; ++i) {
    struct ublk_queue *q = &s->queues[i];

    q->q_id = i;
    q->depth = info->queue_depth;
    q->max_io = info->max_io_buf_bytes;
    q->cdev_fd = s->cdev_fd;
    q->encoded = (info->flags & UBLK_F_CMD_IOCTL_ENCODE) != 0;
    q->exportname = exportname_option ? exportname_option : "";
    s->n_queues++;
    if (ublk_queue_start (q) == -1)
      return attach_error (s, "/dev/ublkb%d: queue %d failed to start "
                           "(see the messages above or the log)",
                           s->dev_id, i);
  }
  return 0;
}

/* Ends the queues (if running) and deletes the device, unless DELETE is
 * false (a failed reattach must leave the device waiting).
 */
static void
finish (struct attach_state *s, bool delete)
{
  int i, r;

  /* Not deleting: the queues' fetches stay in the driver, and only the
   * process's exit, which the caller is heading for, takes them back.
   */
  if (!delete) {
    ublk_ctrl_close (&s->ctrl);
    return;
  }
  if (s->dev_id >= 0) {
    r = ublk_ctrl_cmd (&s->ctrl, UBLK_CMD_STOP_DEV, s->dev_id, NULL, 0, 0);
    if (r < 0 && r != -ENODEV)
      debug ("/dev/ublkb%d: stop: %s", s->dev_id, strerror (-r));
  }
  for (i = 0; i < s->n_queues; ++i)
    ublk_queue_join (&s->queues[i]);
  free (s->queues);
  /* DEL_DEV waits until /dev/ublkcN is closed. */
  if (s->cdev_fd >= 0)
    close (s->cdev_fd);
  if (s->dev_id >= 0) {
    r = ublk_ctrl_cmd (&s->ctrl, UBLK_CMD_DEL_DEV, s->dev_id, NULL, 0, 0);
    if (r < 0 && r != -ENODEV)
      nbdkit_error ("/dev/ublkb%d: delete: %s", s->dev_id, strerror (-r));
    ublk_remove_state (s->dev_id);
  }
  ublk_ctrl_close (&s->ctrl);
}

static bool
all_queues_done (const struct attach_state *s)
{
  int i;

  for (i = 0; i < s->n_queues; ++i)
    if (!s->queues[i].done)
      return false;
  return true;
}

int
ublk_attach (const struct export_info *export, const char *plugin_name,
             int signal_fd, void (*report) (int status, const char *msg),
             void (*attached) (void))
{
  struct attach_state s = { .dev_id = -1, .cdev_fd = -1, .report = report };
  struct ublksrv_ctrl_dev_info info;
  char why[400], devname[32], state[96];
  bool stopping = false, recovering = reattach_target != NULL;
  int i, r, status = EXIT_SUCCESS;

  if (ublk_ctrl_open (&s.ctrl, why, sizeof why) == -1) {
    report (1, why);
    return EXIT_FAILURE;
  }
  if (connections > 1 &&
      thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS) {
    attach_error (&s, "-C %d: this chain serves one connection at a time "
                  "(thread model %s), so one queue", connections,
                  name_of_thread_model (thread_model));
    goto out_fail;
  }
  if ((recovering ? start_recovery (&s, export, &info)
       : add_device (&s, export, &info)) == -1 ||
      start_queues (&s, &info) == -1)
    goto out_fail;
  snprintf (devname, sizeof devname, "/dev/ublkb%d", s.dev_id);
  /* Before START_DEV: the disk's udev event reads it for the name. */
  ublk_write_state (s.dev_id, plugin_name, backend_name);
  /* Both wait until every queue has its fetches in, then let requests
   * flow (START_DEV adds the disk: the partition scan runs on the queues).
   */
  r = ublk_ctrl_cmd (&s.ctrl, recovering ? UBLK_CMD_END_USER_RECOVERY
                     : UBLK_CMD_START_DEV, s.dev_id, NULL, 0, getpid ());
  if (r < 0) {
    attach_error (&s, "%s: %s failed: %s", devname,
                  recovering ? "ending recovery" : "starting the device",
                  strerror (-r));
    goto out_fail;
  }

  attached ();
  report (0, devname);
  s.reported = true;
  snprintf (state, sizeof state, "READY=1\nSTATUS=Serving %s\n", devname);
  notify_systemd (state);

  while (!all_queues_done (&s)) {
    struct pollfd pfd = { .fd = signal_fd, .events = POLLIN };

    if (poll (&pfd, 1, 200) == 1 && !stopping) {
      char c;
      if (read (signal_fd, &c, 1) == 1)
        debug ("signal %d: stopping %s", c, devname);
      stopping = true;
      notify_systemd ("STOPPING=1\n");
      /* The disk goes (its dirty pages written first); then every
       * fetch is aborted and the queues flush the chain and end.
       */
      r = ublk_ctrl_cmd (&s.ctrl, UBLK_CMD_STOP_DEV, s.dev_id, NULL, 0, 0);
      if (r < 0) {
        nbdkit_error ("%s: stop failed: %s", devname, strerror (-r));
        status = EXIT_FAILURE;
      }
    }
  }
  for (i = 0; i < s.n_queues; ++i)
    if (s.queues[i].result == -1)
      status = EXIT_FAILURE;
  finish (&s, true);
  debug ("%s deleted", devname);
  return status;

 out_fail:
  /* A device made here goes again; one being recovered keeps waiting. */
  finish (&s, !recovering);
  return EXIT_FAILURE;
}

/* A ublk device named NAME waiting for a daemon: a restarted `nbdattach
 * --config NAME` recovers it instead of making a new one.
 */
const char *
ublk_dead_device_named (const char *name)
{
  static char dev[32];
  struct ublksrv_ctrl_dev_info info;
  struct ublk_ctrl c;
  char why[256];
  int id, r;

  if (access ("/dev/ublk-control", F_OK) == -1 ||
      (id = ublk_find_device (name)) < 0 ||
      ublk_ctrl_open (&c, why, sizeof why) == -1)
    return NULL;
  r = ublk_ctrl_dev_info (&c, id, &info);
  ublk_ctrl_close (&c);
  if (r < 0 || !(info.flags & UBLK_F_USER_RECOVERY) ||
      info.state == UBLK_S_DEV_DEAD ||
      (info.state == UBLK_S_DEV_LIVE && pid_alive (info.ublksrv_pid)))
    return NULL;
  snprintf (dev, sizeof dev, "/dev/ublkb%d", id);
  return dev;
}
