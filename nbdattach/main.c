/* nbdattach: serve a plugin chain as /dev/nbdN through the kernel's own
 * nbd driver.
 *
 *   nbdattach [OPTIONS] [--filter=F]... PLUGIN [KEY=VALUE]...
 *   nbdattach --list | --detach DEV|NAME | --check DEV|NAME
 *
 * The chain is the same as blockkit's (same plugins, filters and keys)
 * and each kernel connection is served by the same transmission code as
 * a network client.  See nbdattach(8).  This file parses the options and
 * runs the modes; the attaching daemon itself is in attach.c.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "nbd-protocol.h"
#include "nbdattach.h"
#include "ublk.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

bool verbose_option;

int device_index = -1;              /* -d */
int connections = 1;                /* -C */
uint64_t block_size = 512;          /* -b */
uint64_t timeout;                   /* --timeout */
uint64_t dead_timeout = 60;         /* --dead-timeout */
const char *backend_name;           /* -n */
bool foreground;                    /* -f */
const char *pidfile;                /* -P */
static bool swap_mode;              /* --swap */
bool use_ioctl;                     /* --ioctl */
bool use_ublk;                      /* --transport=ublk */
const char *reattach_target;        /* --reattach */
static bool no_retry;               /* --no-retry */


enum {
  CHECK_OPTION = 256,
  CHECK_CONFIG_OPTION,
  CONFIG_OPTION,
  DEAD_TIMEOUT_OPTION,
  DETACH_OPTION,
  FILTER_OPTION,
  FORCE_OPTION,
  IOCTL_OPTION,
  LIST_OPTION,
  NO_RETRY_OPTION,
  REATTACH_OPTION,
  RESIZE_OPTION,
  SWAP_OPTION,
  TIMEOUT_OPTION,
  TRANSPORT_OPTION,
  UPGRADE_OPTION,
};

static const char short_options[] = "b:C:d:D:e:fhn:P:rvV";
static const struct option long_options[] = {
  { "block-size", required_argument, NULL, 'b' },
  { "check", required_argument, NULL, CHECK_OPTION },
  { "check-config", required_argument, NULL, CHECK_CONFIG_OPTION },
  { "config", required_argument, NULL, CONFIG_OPTION },
  { "connections", required_argument, NULL, 'C' },
  { "dead-timeout", required_argument, NULL, DEAD_TIMEOUT_OPTION },
  { "debug", required_argument, NULL, 'D' },
  { "detach", required_argument, NULL, DETACH_OPTION },
  { "device", required_argument, NULL, 'd' },
  { "exportname", required_argument, NULL, 'e' },
  { "filter", required_argument, NULL, FILTER_OPTION },
  { "force", no_argument, NULL, FORCE_OPTION },
  { "foreground", no_argument, NULL, 'f' },
  { "help", no_argument, NULL, 'h' },
  { "ioctl", no_argument, NULL, IOCTL_OPTION },
  { "list", no_argument, NULL, LIST_OPTION },
  { "name", required_argument, NULL, 'n' },
  { "no-retry", no_argument, NULL, NO_RETRY_OPTION },
  { "pidfile", required_argument, NULL, 'P' },
  { "readonly", no_argument, NULL, 'r' },
  { "read-only", no_argument, NULL, 'r' },
  { "reattach", required_argument, NULL, REATTACH_OPTION },
  { "resize", required_argument, NULL, RESIZE_OPTION },
  { "swap", no_argument, NULL, SWAP_OPTION },
  { "timeout", required_argument, NULL, TIMEOUT_OPTION },
  { "transport", required_argument, NULL, TRANSPORT_OPTION },
  { "upgrade", required_argument, NULL, UPGRADE_OPTION },
  { "verbose", no_argument, NULL, 'v' },
  { "version", no_argument, NULL, 'V' },
  { NULL, 0, NULL, 0 },
};

static void
usage (void)
{
  printf (
"nbdattach - serve a blockkit plugin chain as a Linux block device\n"
"\n"
"Usage:\n"
"  nbdattach [OPTIONS] [--filter=FILTER]... PLUGIN [KEY=VALUE]...\n"
"  nbdattach [OPTIONS] nbd://HOST/EXPORT | nbd+unix:///EXPORT?socket=PATH\n"
"            (a URI picks the nbd plugin, given it as uri=)\n"
"  nbdattach --reattach DEVICE|NAME [OPTIONS] PLUGIN [KEY=VALUE]...\n"
"  nbdattach --config NAME [OPTIONS]  (from " CONFIG_DIR "/NAME.conf)\n"
"  nbdattach --check-config NAME [OPTIONS]  (print it as a command line)\n"
"  nbdattach --list\n"
"  nbdattach --detach DEVICE|NAME\n"
"  nbdattach --check DEVICE|NAME\n"
"  nbdattach --resize DEVICE|NAME [SIZE] [--force]\n"
"  nbdattach --upgrade DEVICE|NAME\n"
"\n"
"Options:\n"
"      --filter FILTER   stack a filter (repeatable; the first is nearest\n"
"                        the kernel)\n"
"      --transport T     nbd (default) or ublk (/dev/ublkbN, Linux 6.0+)\n"
"  -d, --device DEV      /dev/nbdN, /dev/ublkbN or N (default: the kernel\n"
"                        chooses)\n"
"  -C, --connections N   connections (default 1; more needs multi-conn)\n"
"  -b, --block-size N    logical block size, 512..4096 (default 512)\n"
"  -r, --readonly        a read-only device\n"
"      --timeout SECS    request timeout (default 0: never)\n"
"      --dead-timeout SECS  how long the kernel waits for --reattach\n"
"                        after the daemon dies (default 60)\n"
"  -n, --name NAME       backend name (/sys/block/nbdN/backend, --list)\n"
"  -e, --exportname NAME export name passed to the chain\n"
"  -f, --foreground      stay in the foreground\n"
"  -P, --pidfile FILE    write the daemon's pid\n"
"      --swap            lock memory and avoid the OOM killer (for swap)\n"
"      --ioctl           use the old ioctl interface instead of netlink\n"
"      --no-retry        no automatic retry filter for remote plugins\n"
"      --resize DEV [SIZE]  the device takes the chain's new size (SIZE:\n"
"                        only if the chain has that size)\n"
"      --force           with --resize: shrink even a device in use\n"
"      --upgrade DEV     hand the device to the nbdattach binary now\n"
"                        installed, without a dead connection\n"
"  -v, --verbose         debug messages\n"
"  -D, --debug NAME.FLAG=N  plugin debug flag\n"
"  -h, --help; -V, --version\n"
"\n"
"nbdattach prints the device it attached (e.g. /dev/nbd0).  SIGTERM or\n"
"--detach disconnects cleanly, flushing the chain.  See nbdattach(8).\n");
}

void
die (const char *fmt, ...)
{
  va_list args;

  fprintf (stderr, "nbdattach: ");
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fprintf (stderr, "\n");
  exit (EXIT_FAILURE);
}

/* nbdattach's own options, by getopt code and by the long name that the
 * configuration files use: the command line and the files go through
 * the same check_option (config-parse.c).
 */
static const struct { int c; const char *key; } own_options[] = {
  { 'b', "block-size" }, { 'C', "connections" }, { 'd', "device" },
  { 'e', "exportname" }, { 'n', "name" }, { 'r', "readonly" },
  { SWAP_OPTION, "swap" }, { TIMEOUT_OPTION, "timeout" },
  { DEAD_TIMEOUT_OPTION, "dead-timeout" },
  { TRANSPORT_OPTION, "transport" },
};

/* Sets one of them, or exits after check_option's message.  VALUE (from
 * argv or a device_config) lives as long as the process.
 */
static void
set_option (const char *where, const char *key, const char *value)
{
  uint64_t v;

  if (check_option (where, key, value, &v) == -1)
    exit (EXIT_FAILURE);
  if (strcmp (key, "block-size") == 0) block_size = v;
  else if (strcmp (key, "connections") == 0) connections = v;
  else if (strcmp (key, "transport") == 0) use_ublk = v;
  else if (strcmp (key, "device") == 0) device_index = v;
  else if (strcmp (key, "exportname") == 0) exportname_option = value;
  else if (strcmp (key, "name") == 0) backend_name = value;
  else if (strcmp (key, "readonly") == 0) readonly_option = v;
  else if (strcmp (key, "swap") == 0) swap_mode = v;
  else if (strcmp (key, "timeout") == 0) timeout = v;
  else if (strcmp (key, "dead-timeout") == 0) dead_timeout = v;
}

/* From getopt: false if C is not one of them. */
static bool
own_option (int c, const char *arg)
{
  char where[32];
  size_t i;

  for (i = 0; i < sizeof own_options / sizeof own_options[0]; ++i)
    if (own_options[i].c == c) {
      snprintf (where, sizeof where, "--%s", own_options[i].key);
      set_option (where, own_options[i].key,
                  c == 'r' || c == SWAP_OPTION ? "1" : arg);
      return true;
    }
  return false;
}

/* --check-config: the settings as one command line. */
static void
print_command_line (const struct device_config *cfg)
{
  size_t i;

  printf ("nbdattach -C %d -b %" PRIu64 " --timeout %" PRIu64
          " --dead-timeout %" PRIu64, connections, block_size, timeout,
          dead_timeout);
  if (device_index >= 0)
    printf (" -d %d", device_index);
  if (readonly_option)
    printf (" -r");
  if (swap_mode)
    printf (" --swap");
  if (use_ublk)
    printf (" --transport=ublk");
  if (backend_name) {
    printf (" -n ");
    print_shell_word (backend_name);
  }
  if (exportname_option) {
    printf (" -e ");
    print_shell_word (exportname_option);
  }
  for (i = 0; i < cfg->n_filters; ++i) {
    printf (" --filter ");
    print_shell_word (cfg->filters[i]);
  }
  putchar (' ');
  print_shell_word (cfg->plugin);
  for (i = 0; i < cfg->n_params; ++i) {
    putchar (' ');
    print_shell_word (cfg->params[i]);
  }
  putchar ('\n');
}

/* A device bound to NAME whose daemon is gone: a restart (systemd's
 * Restart=on-failure) must reattach to it rather than make a new one.
 */
static const char *
dead_device_named (const char *name)
{
  static char dev[32];
  int index = find_device (name);

  if (index < 0 || !device_orphaned (index, NULL))
    return NULL;                /* none, or alive: not ours to take over */
  snprintf (dev, sizeof dev, "/dev/nbd%d", index);
  return dev;
}

/* Root, and a kernel that has the driver (loading it if need be). */
static void
check_kernel (void)
{
  int r;

  if (geteuid () != 0)
    die ("attaching a device needs root (CAP_SYS_ADMIN)");
  if (use_ublk)
    return;                     /* ublk-attach.c says what is missing */
  if (use_ioctl)
    return;
  r = nl_nbd_available ();
  if (r == 0) {
    debug ("nbd netlink family missing: loading the nbd module");
    if (load_nbd_module () == -1)
      die ("this kernel has no nbd support (loading the nbd module "
           "failed: %s)", strerror (errno));
    r = nl_nbd_available ();
  }
  if (r != 1)
    die ("this kernel has no nbd support (no \"nbd\" generic netlink "
         "family; kernels before 4.12 need --ioctl)");
}

/* ---- the detach / check / list commands ---- */

int
resolve_or_die (const char *arg)
{
  int index = find_device (arg);

  if (index < 0)
    die ("%s: no such device, and no connected device with that name", arg);
  return index;
}

static int
do_detach (const char *arg)
{
  int index;
  bool orphan;

  if (ublk_owns (arg))
    return ublk_detach (arg);
  if (geteuid () != 0)
    die ("detaching a device needs root (CAP_SYS_ADMIN)");
  index = resolve_or_die (arg);
  if (!device_connected (index))
    die ("/dev/nbd%d is not connected", index);
  orphan = device_orphaned (index, NULL);
  if (nl_nbd_disconnect (index) == -1 && ioctl_detach (index) == -1)
    die ("/dev/nbd%d: disconnect failed: %s", index, strerror (errno));
  /* An orphan's daemon is not there to remove its state file. */
  if (orphan)
    remove_state (index);
  return EXIT_SUCCESS;
}

/* --resize DEV [SIZE] [--force], through the daemon's control socket. */
static int
do_resize (const char *dev, const char *size_arg, bool force)
{
  char line[128];
  int64_t size = 0;

  if (size_arg) {
    size = nbdkit_parse_size (size_arg);
    if (size <= 0)
      die ("--resize %s %s: not a size (a number of bytes, or with a "
           "suffix: 10G)", dev, size_arg);
  }
  snprintf (line, sizeof line, "resize %" PRIi64 " %d\n", size, force);
  return control_command (dev, line);
}

static int
do_check (const char *arg)
{
  int index = find_device (arg);
  char why[256];

  if (ublk_owns (arg))
    return ublk_check (arg);
  if (index < 0 || !device_connected (index))
    return 1;
  /* No I/O on an orphan: it would start the kernel's countdown. */
  if (device_orphaned (index, NULL)) {
    fprintf (stderr, "nbdattach: /dev/nbd%d is orphaned: its daemon "
             "is gone (--reattach or --detach it)\n", index);
    return 2;
  }
  /* Connected is not enough: its data must be readable. */
  if (device_io_probe (index, CHECK_IO_TIMEOUT_MS, why, sizeof why) == -1) {
    fprintf (stderr, "nbdattach: %s\n", why);
    return 2;
  }
  return EXIT_SUCCESS;
}

int
main (int argc, char *argv[])
{
  const char *detach = NULL, *check = NULL, *config = NULL;
  const char *resize = NULL, *upgrade = NULL;
  bool force = false;
  struct device_config cfg;
  bool list = false, check_config = false;
  char **filters = NULL;
  size_t n_filters = 0;
  const char *plugin_arg;
  int c, r;

  program_name = "nbdattach";
  upgrade_init (argv);
  /* Before any thread exists, so that every thread inherits it: the
   * kernel may wait on this process to free memory, so its own
   * allocations must not wait on the kernel (Linux 5.6+).
   */
  if (prctl (PR_SET_IO_FLUSHER, 1, 0, 0, 0) == -1)
    debug ("PR_SET_IO_FLUSHER: %m (needs Linux 5.6 and CAP_SYS_RESOURCE)");

  set_up_quit_pipe ();

  while ((c = getopt_long (argc, argv, short_options, long_options,
                           NULL)) != -1) {
    switch (c) {
    case 'D':
      add_debug_flag (optarg);
      break;
    case 'f':
      foreground = true;
      break;
    case 'h':
      usage ();
      exit (EXIT_SUCCESS);
    case 'P':
      /* Absolute: the daemon writes it after its chdir("/"). */
      pidfile = absolute_path (optarg);
      if (pidfile == NULL)
        die ("--pidfile: %s", strerror (errno));
      break;
    case 'v':
      verbose = verbose_option = true;
      break;
    case 'V':
      printf ("nbdattach %s\n", PACKAGE_VERSION);
      exit (EXIT_SUCCESS);
    case CHECK_OPTION:
      check = optarg;
      break;
    case CHECK_CONFIG_OPTION:
      check_config = true;
      /* fallthrough */
    case CONFIG_OPTION:
      config = optarg;
      break;
    case DETACH_OPTION:
      detach = optarg;
      break;
    case FILTER_OPTION: {
      char **p = realloc (filters, (n_filters + 1) * sizeof *p);
      if (p == NULL)
        die ("out of memory");
      filters = p;
      filters[n_filters++] = optarg;
      break;
    }
    case FORCE_OPTION:
      force = true;
      break;
    case IOCTL_OPTION:
      use_ioctl = true;
      break;
    case LIST_OPTION:
      list = true;
      break;
    case NO_RETRY_OPTION:
      no_retry = true;
      break;
    case REATTACH_OPTION:
      reattach_target = optarg;
      break;
    case RESIZE_OPTION:
      resize = optarg;
      break;
    case UPGRADE_OPTION:
      upgrade = optarg;
      break;
    default:
      if (own_option (c, optarg))
        break;
      fprintf (stderr, "Try 'nbdattach --help' for more information.\n");
      exit (EXIT_FAILURE);
    }
  }

  if (list)
    return list_devices ();
  if (detach)
    return do_detach (detach);
  if (check)
    return do_check (check);
  if (resize && ublk_owns (resize))
    die ("--resize %s: not for ublk devices (6.12's ublk driver cannot "
         "change a started device's size; newer kernels have "
         "UBLK_U_CMD_UPDATE_SIZE)", resize);
  if (upgrade && ublk_owns (upgrade))
    die ("--upgrade %s: a ublk device is upgraded by recovery: kill its "
         "daemon with -9, then start the new one with --reattach (the "
         "driver ties each queue to the task that serves it; see "
         "nbdattach(8), TRANSPORTS)", upgrade);
  if (resize) {
    if (optind + 1 < argc)
      die ("--resize %s: one size at most (\"%s\")", resize, argv[optind + 1]);
    return do_resize (resize, optind < argc ? argv[optind] : NULL, force);
  }
  if (force)
    die ("--force goes with --resize");
  if (upgrade) {
    if (optind < argc)
      die ("--upgrade %s: the new daemon takes the old one's options, not "
           "\"%s\"", upgrade, argv[optind]);
    return control_command (upgrade, "upgrade\n");
  }

  if (config) {
    size_t i;
    /* The file's settings; options on the command line win, so read the
     * command line again on top of them.
     */
    read_config (config, &cfg);
    for (i = 0; i < cfg.n_options; ++i) {
      char *eq = strchr (cfg.options[i], '=');
      *eq = '\0';              /* checked by the parser already */
      set_option (cfg.path, cfg.options[i], eq + 1);
    }
    if (backend_name == NULL && !strchr (config, '/'))
      set_option ("--config", "name", config);
    optind = 1;
    while ((c = getopt_long (argc, argv, short_options, long_options,
                             NULL)) != -1)
      own_option (c, optarg);
    if (optind < argc)
      die ("--config %s: give the plugin in the file, not on the command "
           "line (\"%s\")", config, argv[optind]);
    filters = cfg.filters;
    n_filters = cfg.n_filters;
    if (reattach_target == NULL && geteuid () == 0 && !check_config &&
        !upgrading)
      reattach_target = use_ublk ? ublk_dead_device_named (backend_name)
        : dead_device_named (backend_name);
    if (reattach_target)
      fprintf (stderr, "nbdattach: %s: its daemon is gone, reattaching\n",
               reattach_target);
    filters = filters_with_auto_retry (cfg.plugin, filters, &n_filters,
                                       no_retry);
    if (filters == NULL)
      die ("out of memory");
    top = chain_load (cfg.plugin, filters, n_filters);
    free (filters);
    config_configure_chain (&cfg);
    if (check_config) {
      print_command_line (&cfg);
      exit (EXIT_SUCCESS);
    }
    plugin_arg = cfg.plugin;
  }
  else {
    if (optind >= argc)
      die ("no plugin given (try 'nbdattach --help')");
    plugin_arg = argv[optind];
  }
  /* A ublk device can only be reattached over ublk, whatever was said. */
  if (reattach_target && !use_ublk && ublk_owns (reattach_target))
    use_ublk = true;
  if (use_ioctl && use_ublk)
    die ("--ioctl is for the nbd transport, not --transport=ublk");
  if (use_ioctl && connections > 1)
    die ("--ioctl supports only one connection");
  if (use_ioctl && reattach_target)
    die ("--reattach needs the netlink interface (not --ioctl)");

  if (config == NULL) {
    char **all = filters_with_auto_retry (argv[optind], filters, &n_filters,
                                          no_retry);
    if (all == NULL)
      die ("out of memory");
    top = chain_load (argv[optind], all, n_filters);
    free (all);
    free (filters);
    chain_configure (argc - optind - 1, argv + optind + 1);
  }
  check_unused_debug_flags ();
  lock_init_thread_model ();
  if (top->get_ready (top) == -1)
    exit (EXIT_FAILURE);
  if (backend_name == NULL)
    backend_name = top->plugin_name (top);

  check_kernel ();

  if (swap_mode) {
    FILE *fp;
    if (mlockall (MCL_CURRENT | MCL_FUTURE) == -1)
      die ("--swap: mlockall: %s", strerror (errno));
    fp = fopen ("/proc/self/oom_score_adj", "we");
    if (fp == NULL || fprintf (fp, "-1000\n") < 0 || fclose (fp) != 0)
      die ("--swap: cannot set oom_score_adj: %s", strerror (errno));
  }

  r = attach (plugin_arg);

  top->cleanup (top);
  top->free (top);
  top = NULL;
  free_interns ();
  return r;
}
