/* nbdattach: the parts of the ublk driver's interface that
 * <linux/ublk_cmd.h> from older kernel headers lacks.
 *
 * Debian 12's headers are Linux 6.1's: legacy command numbers only
 * (UBLK_CMD_ADD_DEV = 0x04 ...).  Linux 6.4 added ioctl-encoded
 * opcodes (_IOWR('u', NR, struct)), and a kernel built without
 * CONFIG_BLKDEV_UBLK_LEGACY_OPCODES accepts only those; 6.5 added
 * UBLK_U_CMD_GET_FEATURES, which says what the running driver supports.
 * The values below are the kernel's (include/uapi/linux/ublk_cmd.h of
 * 6.12): defined only when the installed header does not define them,
 * so newer headers win.  Which encoding a command uses is decided at run
 * time (ublk-control.c): GET_FEATURES answers only on drivers that take
 * encoded opcodes, and a 6.1 driver is sent the legacy numbers.  The
 * driver reads only the type ('u') and number of an encoded opcode, so
 * the direction and size bits below follow the kernel's header for
 * completeness, not for behaviour.
 */
#ifndef NBDATTACH_UBLK_UAPI_H
#define NBDATTACH_UBLK_UAPI_H

#include <errno.h>              /* UBLK_IO_RES_ABORT is -ENODEV */
#include <sys/ioctl.h>
#include <linux/ublk_cmd.h>

/* Control commands new since 6.1 (legacy-style numbers). */
#ifndef UBLK_CMD_GET_DEV_INFO2
#define UBLK_CMD_GET_DEV_INFO2 0x12
#endif
#define NBDATTACH_UBLK_CMD_GET_FEATURES 0x13  /* never had a legacy form */

/* Control commands, ioctl-encoded (6.4+). */
#ifndef UBLK_U_CMD_ADD_DEV
#define UBLK_U_CMD_GET_DEV_INFO \
  _IOR ('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV \
  _IOWR ('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV \
  _IOWR ('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV \
  _IOWR ('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV \
  _IOWR ('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS \
  _IOWR ('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS \
  _IOR ('u', UBLK_CMD_GET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_USER_RECOVERY \
  _IOWR ('u', UBLK_CMD_START_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_END_USER_RECOVERY \
  _IOWR ('u', UBLK_CMD_END_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#endif
#ifndef UBLK_U_CMD_GET_FEATURES
#define UBLK_U_CMD_GET_FEATURES \
  _IOR ('u', NBDATTACH_UBLK_CMD_GET_FEATURES, struct ublksrv_ctrl_cmd)
#endif

/* I/O commands, ioctl-encoded (6.4+). */
#ifndef UBLK_U_IO_FETCH_REQ
#define UBLK_U_IO_FETCH_REQ \
  _IOWR ('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ \
  _IOWR ('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd)
#endif

/* Feature flags (struct ublksrv_ctrl_dev_info.flags) after 6.1. */
#ifndef UBLK_F_UNPRIVILEGED_DEV
#define UBLK_F_UNPRIVILEGED_DEV (1ULL << 5)
#endif
/* The server sends I/O commands ioctl-encoded (6.4+). */
#ifndef UBLK_F_CMD_IOCTL_ENCODE
#define UBLK_F_CMD_IOCTL_ENCODE (1ULL << 6)
#endif
/* The server copies data with pread/pwrite on /dev/ublkcN (6.5+). */
#ifndef UBLK_F_USER_COPY
#define UBLK_F_USER_COPY (1ULL << 7)
#endif

#endif /* NBDATTACH_UBLK_UAPI_H */
