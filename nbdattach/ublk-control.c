/* nbdattach: the ublk control device, /dev/ublk-control.
 *
 * Every control command is an io_uring IORING_OP_URING_CMD on the
 * control device, in a 128-byte SQE (IORING_SETUP_SQE128) whose command
 * area holds a struct ublksrv_ctrl_cmd.  The driver runs it while the
 * SQE is submitted and posts one CQE with the result: add a device, set
 * its parameters, start it (which waits until every queue has its
 * fetches in), stop, delete, get its information, and the user-recovery
 * pair.  Whether the opcodes go ioctl-encoded (6.4+) or as the legacy
 * numbers of 6.0-6.3 is learnt once, at open, from GET_FEATURES
 * (ublk-uapi.h).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"
#include "ublk.h"

#define CONTROL_DEVICE "/dev/ublk-control"

/* The legacy number CMD in the encoding the driver wants. */
static unsigned
opcode (const struct ublk_ctrl *c, unsigned cmd)
{
  if (!c->encoded)
    return cmd;
  switch (cmd) {
  case UBLK_CMD_GET_DEV_INFO: return UBLK_U_CMD_GET_DEV_INFO;
  case UBLK_CMD_ADD_DEV: return UBLK_U_CMD_ADD_DEV;
  case UBLK_CMD_DEL_DEV: return UBLK_U_CMD_DEL_DEV;
  case UBLK_CMD_START_DEV: return UBLK_U_CMD_START_DEV;
  case UBLK_CMD_STOP_DEV: return UBLK_U_CMD_STOP_DEV;
  case UBLK_CMD_SET_PARAMS: return UBLK_U_CMD_SET_PARAMS;
  case UBLK_CMD_GET_PARAMS: return UBLK_U_CMD_GET_PARAMS;
  case UBLK_CMD_START_USER_RECOVERY: return UBLK_U_CMD_START_USER_RECOVERY;
  case UBLK_CMD_END_USER_RECOVERY: return UBLK_U_CMD_END_USER_RECOVERY;
  case NBDATTACH_UBLK_CMD_GET_FEATURES: return UBLK_U_CMD_GET_FEATURES;
  default: return cmd;
  }
}

int
ublk_ctrl_cmd (struct ublk_ctrl *c, unsigned cmd, uint32_t dev_id,
               void *buf, uint16_t len, uint64_t data0)
{
  struct io_uring_sqe *sqe = io_uring_get_sqe (&c->ring);
  struct ublksrv_ctrl_cmd *cc;
  struct io_uring_cqe *cqe;
  int r;

  if (sqe == NULL)
    return -EBUSY;              /* one command at a time: cannot happen */
  memset (sqe, 0, 2 * sizeof *sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = c->fd;
  sqe->cmd_op = opcode (c, cmd);
  cc = (struct ublksrv_ctrl_cmd *) sqe->cmd;
  cc->dev_id = dev_id;
  cc->queue_id = (uint16_t) -1;     /* not a per-queue command */
  cc->addr = (uintptr_t) buf;
  cc->len = len;
  cc->data[0] = data0;
  r = io_uring_submit (&c->ring);
  if (r < 0)
    return r;
  /* START_DEV and END_USER_RECOVERY can take a while (they wait for the
   * queues); a signal meanwhile must not lose the result.
   */
  do
    r = io_uring_wait_cqe (&c->ring, &cqe);
  while (r == -EINTR);
  if (r < 0)
    return r;
  r = cqe->res;
  io_uring_cqe_seen (&c->ring, cqe);
  return r;
}

int
ublk_ctrl_dev_info (struct ublk_ctrl *c, uint32_t dev_id,
                    struct ublksrv_ctrl_dev_info *info)
{
  memset (info, 0, sizeof *info);
  return ublk_ctrl_cmd (c, UBLK_CMD_GET_DEV_INFO, dev_id, info,
                        sizeof *info, 0);
}

static int
open_control (void)
{
  return open (CONTROL_DEVICE, O_RDWR | O_CLOEXEC);
}

int
ublk_ctrl_open (struct ublk_ctrl *c, char *why, size_t len)
{
  uint64_t features = 0;
  int r;

  memset (c, 0, sizeof *c);
  c->fd = open_control ();
  if (c->fd == -1 && errno == ENOENT) {
    debug ("%s missing: loading the ublk_drv module", CONTROL_DEVICE);
    if (load_kernel_module ("ublk_drv") == 0)
      c->fd = open_control ();
    else
      errno = ENOENT;
  }
  if (c->fd == -1) {
    if (errno == ENOENT)
      snprintf (why, len, "this kernel has no ublk support (no "
                CONTROL_DEVICE ", and no ublk_drv module to load): ublk "
                "needs Linux 6.0 or later built with CONFIG_BLK_DEV_UBLK "
                "(Debian 12's 6.1 kernel has it off; bookworm-backports' "
                "6.12 has it), or use --transport=nbd");
    else
      snprintf (why, len, "%s: %s%s", CONTROL_DEVICE, strerror (errno),
                errno == EACCES || errno == EPERM ?
                " (ublk needs root, CAP_SYS_ADMIN)" : "");
    return -1;
  }
  r = io_uring_queue_init (4, &c->ring, IORING_SETUP_SQE128);
  if (r < 0) {
    snprintf (why, len, "io_uring with 128-byte entries: %s (ublk needs "
              "io_uring, Linux 5.19+, and io_uring not disabled by "
              "kernel.io_uring_disabled)", strerror (-r));
    close (c->fd);
    c->fd = -1;
    return -1;
  }

  /* Drivers that answer GET_FEATURES take ioctl-encoded opcodes; the
   * others (6.0-6.4) get the legacy numbers.
   */
  c->encoded = true;
  r = ublk_ctrl_cmd (c, NBDATTACH_UBLK_CMD_GET_FEATURES, (uint32_t) -1,
                     &features, sizeof features, 0);
  if (r == -EPERM) {
    snprintf (why, len, "%s: %s (ublk needs root, CAP_SYS_ADMIN)",
              CONTROL_DEVICE, strerror (EPERM));
    ublk_ctrl_close (c);
    return -1;
  }
  if (r < 0) {
    c->encoded = false;
    features = 0;
  }
  c->features = features;
  debug ("ublk driver: %s opcodes, features 0x%llx",
         c->encoded ? "ioctl-encoded" : "legacy",
         (unsigned long long) features);
  return 0;
}

void
ublk_ctrl_close (struct ublk_ctrl *c)
{
  if (c->fd >= 0) {
    io_uring_queue_exit (&c->ring);
    close (c->fd);
  }
  c->fd = -1;
}
