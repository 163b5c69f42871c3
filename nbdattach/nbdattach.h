/* nbdattach: internal interfaces. */
#ifndef NBDATTACH_H
#define NBDATTACH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* What CONNECT / RECONFIGURE tell the kernel. */
struct attach_params {
  int index;                    /* -1: let the kernel choose */
  uint64_t size;
  uint64_t block_size;
  uint64_t server_flags;        /* NBD_FLAG_* */
  uint64_t timeout;             /* seconds, 0 = none */
  uint64_t dead_conn_timeout;   /* seconds */
  const char *backend_id;       /* NULL: none */
  const int *fds;               /* kernel ends of the socketpairs */
  int nr_fds;
  bool with_size;               /* RECONFIGURE: resize to size too */
};

/* netlink.c: the nbd generic netlink family. */
extern int nl_nbd_available (void);   /* 1 yes, 0 no family, -1 error */
extern int nl_nbd_connect (const struct attach_params *p, int *index_out);
extern int nl_nbd_reconfigure (const struct attach_params *p);
extern int nl_nbd_disconnect (int index);
/* Calls FN for each device the driver knows; CONNECTED is its state. */
extern int nl_nbd_status (void (*fn) (int index, bool connected, void *opaque),
                          void *opaque);
/* Watches LINK_DEAD events in a thread that logs them. */
extern void nl_nbd_watch_link_dead (void);

/* ioctl.c: the pre-4.12 interface (one connection). */
extern int ioctl_attach (const struct attach_params *p, int *index_out);
extern int ioctl_wait (void);
extern int ioctl_detach (int index);

/* device.c: sysfs, names and the state directory. */
#define STATE_DIR "/run/nbdattach"
extern int parse_device (const char *arg);     /* "/dev/nbd3", "nbd3", "3" */
extern int find_device (const char *dev_or_name); /* also backend names */
extern bool device_connected (int index);
extern pid_t device_pid (int index);
extern uint64_t device_size (int index);
extern char *device_backend (int index);        /* malloc'd, "" if none */
extern int first_free_device (void);
extern void write_state (int index, const char *plugin, const char *name);
extern void remove_state (int index);
extern char *read_state (int index, const char *key);
/* The process serving device INDEX (-1: none known), *ALIVE whether it
 * still runs; orphaned: connected, but that process is gone.
 */
extern pid_t device_daemon (int index, bool *alive);
extern bool device_orphaned (int index, pid_t *pid);
extern int list_devices (void);
extern int load_nbd_module (void);
extern int load_kernel_module (const char *name);
extern int *numbered_entries (const char *dir, const char *prefix,
                              size_t *n);
/* The same state files for any device, by its name in /dev ("ublkb0"). */
extern void write_state_file (const char *dev, const char *plugin,
                              const char *name, const char *extra);
extern void remove_state_file (const char *dev);
extern void write_state_text (const char *file, const char *text);
extern char *read_state_file (const char *dev, const char *key);

/* config-parse.c: the configuration file format, on text in memory
 * (never exits, so that a fuzz target can call it in a loop), and the
 * one check of nbdattach's own options for the files and the command
 * line alike.  Messages go to config_error_fp (NULL: stderr).
 */
#define CONFIG_MAX_LINE (64 * 1024)
#define CONFIG_MAX_SIZE (16 * 1024 * 1024)
struct device_config {
  char *path;                          /* the file, for messages */
  char *plugin;
  char **filters; size_t n_filters;    /* NULL-terminated lists */
  char **options; size_t n_options;    /* "key=value" of nbdattach's own */
  char **params; size_t n_params;      /* "key=value" for the chain */
  int *param_lines;                    /* the line each param came from */
  size_t cap_filters, cap_options, cap_params, cap_lines;
};
extern FILE *config_error_fp;
/* Parses LEN bytes of TEXT (FILENAME names it in messages) into CFG.
 * Returns 0, or -1 after printing the error, with CFG freed.
 */
extern int config_parse (const char *text, size_t len, const char *filename,
                         struct device_config *cfg);
extern void device_config_free (struct device_config *cfg);
extern bool is_own_option (const char *key);
/* Text for a message, safe on a terminal: at most MAX bytes of S, bytes
 * that are not printable ASCII as \xNN, then "..." if cut; in double
 * quotes if QUOTE.  BUF needs 4 * MAX + 6 bytes: 60 bytes of a value,
 * 256 of a path.
 */
#define CONFIG_SHOW_MAX 60
#define CONFIG_SHOW_BUF (4 * CONFIG_SHOW_MAX + 6)
#define CONFIG_PATH_SHOW_MAX 256
#define CONFIG_PATH_SHOW_BUF (4 * CONFIG_PATH_SHOW_MAX + 6)
extern char *config_escape (char *buf, const char *s, size_t len, size_t max,
                            bool quote);
/* KEY is an option's long name ("block-size"); WHERE starts the message
 * ("file:line", "--block-size").  Returns 0 with the value in *NUM (a
 * number, 0/1 for a boolean, the index for a device; NUM may be NULL),
 * or -1 after printing why VALUE is wrong.
 */
extern int check_option (const char *where, const char *key,
                         const char *value, uint64_t *num);

/* config.c: /etc/blockkit/devices/NAME.conf, read and given to the chain */
#define CONFIG_DIR SYSCONFDIR "/blockkit/devices"
extern char *config_path (const char *name);
extern void read_config (const char *name, struct device_config *cfg);
extern void config_configure_chain (const struct device_config *cfg);
extern char *absolute_path (const char *path);
extern void print_shell_word (const char *s);

/* notify.c: systemd's sd_notify protocol, without libsystemd. */
extern void notify_systemd (const char *state);

/* Settings shared by the files: the options (main.c) that the attaching
 * daemon (attach.c) works with.
 */
extern bool verbose_option;
extern int device_index;             /* -d, -1: the kernel chooses */
extern int connections;              /* -C */
extern uint64_t block_size;          /* -b */
extern uint64_t timeout;             /* --timeout */
extern uint64_t dead_timeout;        /* --dead-timeout */
extern const char *backend_name;     /* -n */
extern bool foreground;              /* -f */
extern const char *pidfile;          /* -P */
extern bool use_ioctl;               /* --ioctl */
extern bool use_ublk;                /* --transport=ublk (ublk-*.c) */
extern const char *reattach_target;  /* --reattach */

/* main.c: a message and exit(1); a device or backend name to an index,
 * or die.
 */
extern void die (const char *fmt, ...)
  __attribute__ ((noreturn, format (printf, 1, 2)));
extern int resolve_or_die (const char *arg);

/* attach.c: the attaching daemon; returns the exit status. */
extern int attach (const char *plugin_name);
/* A socketpair for one kernel connection: 0, or -1 with errno. */
extern int connection_socketpair (int *kernel_fd, int *daemon_fd);
extern void report (int status, const char *msg);
extern void fail (const char *fmt, ...)
  __attribute__ ((noreturn, format (printf, 1, 2)));
extern uint64_t chain_server_flags (uint64_t eflags);

struct export_info;

/* The device a running daemon serves, for --resize and --upgrade. */
struct served_device {
  int index;
  char name[32];                /* "/dev/nbdN" */
  uint64_t size;                /* as the kernel knows it */
  uint64_t flags;               /* NBD_FLAG_* given to the kernel */
  int *fds;                     /* the daemon ends of the sockets */
  int nr_fds;
};
extern struct served_device served;

/* serve.c: the threads serving the daemon ends of the sockets. */
extern int serve_start (void);
extern bool serve_all_done (void);
extern int serve_pause (void);
extern void serve_resume (void);
extern bool serve_failed (void);

/* control.c: the daemon's control socket (STATE_DIR/nbdN.ctl) and the
 * commands that use it.
 */
extern int control_listen (int index);
/* As device_upgrade: 1 or -1, the daemon must exit; 0 otherwise. */
extern int control_handle (int listen_fd);
extern void control_remove (int index);
extern int control_command (const char *dev, const char *line);

/* resize.c: the daemon's side of --resize and of nbdkit_size_changed. */
extern int size_changed_fd (void);
extern void size_changed_event (void);
extern int device_resize (uint64_t want, bool force, char *msg, size_t len);

/* in-use.c: whether disk NAME ("nbd3", "ublkb0") or one of its
 * partitions is mounted, a swap area or held by another driver; WHY says
 * which.  Read from /proc and sysfs: the device is never opened.
 */
extern bool disk_in_use (const char *name, char *why, size_t len);

/* upgrade.c: --upgrade.  The old daemon's side, device_upgrade, returns
 * 1 once the new binary serves the device (the old one exits without
 * disconnecting), 0 after a rollback (it serves on), -1 if the device
 * was left for --reattach (it exits and fails); MSG says which.  The new
 * binary's side: upgrade_init first in main, upgrade_take_over in attach.
 */
extern char **saved_argv;
extern const char *start_cwd;
extern int report_fd;
extern int device_upgrade (int listen_fd, char *msg, size_t len);
extern bool upgrading;
extern void upgrade_init (char **argv);
extern void upgrade_take_over (const struct export_info *info);
extern int upgrade_listen_fd;

/* remote.c: the retry filter for remote plugins by default. */
extern bool plugin_is_remote (const char *plugin);
extern char **filters_with_auto_retry (const char *plugin, char **filters,
                                       size_t *n, bool no_retry);

/* probe.c: a read of the device's first 4 KiB in a child process.  WHY
 * (LEN bytes) gets the reason for anything but success.
 */
struct io_probe { char dev[64]; int fd; pid_t pid; };
extern int io_probe_start (struct io_probe *pr, const char *dev, char *why,
                           size_t len);
/* 0: the read worked; -1: it failed; 1: still running after TIMEOUT_MS
 * (wait again, or abandon it).
 */
extern int io_probe_wait (struct io_probe *pr, int timeout_ms, char *why,
                          size_t len);
extern void io_probe_abandon (struct io_probe *pr);
/* Start and wait: 0, or -1 (a stalled read is abandoned); by index
 * (/dev/nbdN) or path (any block device: ublk).
 */
extern int device_io_probe (int index, int timeout_ms, char *why,
                            size_t len);
extern int device_path_io_probe (const char *dev, int timeout_ms, char *why,
                                 size_t len);

/* reattach.c: --reattach, checked before, during and after (see there).
 * reattach_send gives device P->index P's settings and sockets with
 * RECONFIGURE until the kernel has taken one per connection.
 * KERNEL_FDS and DAEMON_FDS are the ends of P->nr_fds socketpairs, not
 * served yet; a pair whose socket the kernel dropped is replaced in both;
 * every KERNEL_FDS entry ends closed (-1).  *PROBE is a read of the
 * device that reattach_confirm, called once the daemon ends are served,
 * waits for.  Both return 0, or -1 with the message in WHY (LEN bytes),
 * saying what to do.
 */
extern int reattach_send (struct attach_params *p, int *kernel_fds,
                          int *daemon_fds, struct io_probe *probe,
                          char *why, size_t len);
extern int reattach_confirm (int index, struct io_probe *probe, char *why,
                             size_t len);
/* How long --check waits for a read of the device. */
#define CHECK_IO_TIMEOUT_MS 5000

#endif /* NBDATTACH_H */
