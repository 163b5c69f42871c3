/* nbdattach: internal interfaces. */
#ifndef NBDATTACH_H
#define NBDATTACH_H

#include <stdbool.h>
#include <stdint.h>
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
extern int list_devices (void);
extern int load_nbd_module (void);

/* config.c: /etc/blockkit/devices/NAME.conf */
#define CONFIG_DIR SYSCONFDIR "/blockkit/devices"
struct device_config {
  char *path;
  char *plugin;
  char **filters; size_t n_filters;
  char **options; size_t n_options;    /* "key=value" of nbdattach's own */
  char **params; size_t n_params;      /* "key=value" for the chain */
};
extern char *config_path (const char *name);
extern void read_config (const char *name, struct device_config *cfg);

/* notify.c: systemd's sd_notify protocol, without libsystemd. */
extern void notify_systemd (const char *state);

/* Settings shared by the files. */
extern bool verbose_option;

#endif /* NBDATTACH_H */
