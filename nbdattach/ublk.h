/* nbdattach: the ublk transport's internal interfaces (ublk-*.c).
 *
 * ublk (Linux 6.0+, CONFIG_BLK_DEV_UBLK) hands block requests to this
 * process over io_uring: no socket, no NBD framing.  The control device
 * /dev/ublk-control adds, configures, starts, stops and deletes devices;
 * each device then has a character device /dev/ublkcN through which its
 * queues fetch requests and commit results, and a block device
 * /dev/ublkbN that users see.
 */
#ifndef NBDATTACH_UBLK_H
#define NBDATTACH_UBLK_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include <liburing.h>

#include "ublk-uapi.h"

/* ---- ublk-control.c: /dev/ublk-control ---- */
struct ublk_ctrl {
  int fd;
  struct io_uring ring;         /* 128-byte SQEs, for URING_CMD */
  bool encoded;                 /* the driver takes ioctl-encoded opcodes */
  uint64_t features;            /* UBLK_F_* it supports (0: not told) */
};

/* Opens the control device, loading ublk_drv when it is missing.
 * Returns 0, or -1 with a message in WHY.
 */
extern int ublk_ctrl_open (struct ublk_ctrl *c, char *why, size_t len);
extern void ublk_ctrl_close (struct ublk_ctrl *c);
/* One command (CMD is the legacy number, UBLK_CMD_*: the encoding is
 * chosen here).  Returns the driver's result, >= 0, or -errno.
 */
extern int ublk_ctrl_cmd (struct ublk_ctrl *c, unsigned cmd, uint32_t dev_id,
                          void *buf, uint16_t len, uint64_t data0);
extern int ublk_ctrl_dev_info (struct ublk_ctrl *c, uint32_t dev_id,
                               struct ublksrv_ctrl_dev_info *info);

/* ---- ublk-queue.c: one thread and one io_uring per hardware queue ---- */
struct ublk_queue {
  /* Set by the caller. */
  uint16_t q_id;
  uint16_t depth;
  uint32_t max_io;              /* bytes per request buffer */
  int cdev_fd;                  /* /dev/ublkcN */
  bool encoded;                 /* I/O commands ioctl-encoded */
  const char *exportname;

  /* The thread's. */
  pthread_t thread;
  int result;                   /* 0 once it ended cleanly */
  volatile bool done;           /* the thread has ended */
  /* Set once every tag has its fetch submitted (or the start failed):
   * START_DEV and END_USER_RECOVERY wait for the fetches.
   */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int started;                  /* 0 not yet, 1 fetching, -1 failed */
  bool has_thread;              /* to join */
  struct ublk_queue_private *priv;
};

/* Starts the queue's thread and waits until it fetches or has failed.
 * Returns 0 or -1 (the thread logged why).
 */
extern int ublk_queue_start (struct ublk_queue *q);
extern void ublk_queue_join (struct ublk_queue *q);

/* ---- ublk-device.c: --list, --detach, --check, state of ublk devices ---- */
/* "/dev/ublkb3", "ublkb3" → 3; -1 if it is not a ublk device name. */
extern int ublk_parse_device (const char *arg);
/* The ublk device served under NAME (from the state files), or -1. */
extern int ublk_find_device (const char *dev_or_name);
extern void ublk_write_state (int dev_id, const char *plugin,
                              const char *name);
extern void ublk_remove_state (int dev_id);
extern void ublk_list_devices (void);
/* True if ARG is a ublk device, or the name of one and of no nbd one. */
extern bool ublk_owns (const char *arg);
extern int ublk_detach (const char *arg);
extern int ublk_check (const char *arg);

/* ---- ublk-attach.c: serving a chain as /dev/ublkbN ---- */
struct export_info;
/* After attach.c's common start (daemon, chain opened, checks): serves
 * until stopped.  REPORT tells the user the device or the error;
 * ATTACHED runs once the device is up (the pidfile).  Returns the exit
 * status.
 */
extern int ublk_attach (const struct export_info *export,
                        const char *plugin_name, int signal_fd,
                        void (*report) (int status, const char *msg),
                        void (*attached) (void));
/* For a restart of `nbdattach --config NAME`: "/dev/ublkbN" if NAME's
 * device waits for a daemon, else NULL.
 */
extern const char *ublk_dead_device_named (const char *name);

#endif /* NBDATTACH_UBLK_H */
