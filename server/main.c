/* blockkit: the NBD server's entry point.
 *
 * Parses the command line, loads and configures the chain, sets up the
 * listening sockets, and hands each client to handle_single_connection.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "options.h"
#include "sockets.h"
#include "tls.h"

/* Settings (see options.h; the chain's own are in chain-load.c). */
const char *unixsocket;
const char *port;
const char *ipaddr;
const char *pidfile;
const char *run;
bool foreground;
bool listen_stdin;

bool print_uri_option;
bool swap_option;
bool vsock_option;
const char *selinux_label_option;

static char *tls_dir_alloc, *tls_psk_alloc;
static char *tmpdir;            /* for -U - */
static char *unixsocket_alloc;
static char *pidfile_alloc;

enum {
  DUMP_CONFIG_OPTION = 256,
  DUMP_PLUGIN_OPTION,
  EXIT_WITH_PARENT_OPTION,
  FILTER_OPTION,
  LOG_OPTION,
  NO_MC_OPTION,
  NO_SR_OPTION,
  KEEPALIVE_OPTION,
  TIMEOUT_OPTION,
  LONG_OPTIONS_OPTION,
  MASK_HANDSHAKE_OPTION,
  NO_META_CONTEXTS_OPTION,
  PRINT_URI_OPTION,
  SELINUX_LABEL_OPTION,
  SHORT_OPTIONS_OPTION,
  SWAP_OPTION,
  VSOCK_OPTION,
  TLS_OPTION,
  TLS_CERTIFICATES_OPTION,
  TLS_PSK_OPTION,
  TLS_VERIFY_PEER_OPTION,
  RUN_OPTION,
};

static const char short_options[] = "46D:e:fg:hi:nop:P:rst:u:U:vV";
static const struct option long_options[] = {
  { "ipv4-only", no_argument, NULL, '4' },
  { "ipv6-only", no_argument, NULL, '6' },
  { "debug", required_argument, NULL, 'D' },
  { "dump-config", no_argument, NULL, DUMP_CONFIG_OPTION },
  { "dump-plugin", no_argument, NULL, DUMP_PLUGIN_OPTION },
  { "exit-with-parent", no_argument, NULL, EXIT_WITH_PARENT_OPTION },
  { "export", required_argument, NULL, 'e' },
  { "export-name", required_argument, NULL, 'e' },
  { "exportname", required_argument, NULL, 'e' },
  { "filter", required_argument, NULL, FILTER_OPTION },
  { "foreground", no_argument, NULL, 'f' },
  { "no-fork", no_argument, NULL, 'f' },
  { "group", required_argument, NULL, 'g' },
  { "help", no_argument, NULL, 'h' },
  { "ip-addr", required_argument, NULL, 'i' },
  { "keepalive", no_argument, NULL, KEEPALIVE_OPTION },
  { "long-options", no_argument, NULL, LONG_OPTIONS_OPTION },
  { "mask-handshake", required_argument, NULL, MASK_HANDSHAKE_OPTION },
  { "no-meta-contexts", no_argument, NULL, NO_META_CONTEXTS_OPTION },
  { "print-uri", no_argument, NULL, PRINT_URI_OPTION },
  { "selinux-label", required_argument, NULL, SELINUX_LABEL_OPTION },
  { "short-options", no_argument, NULL, SHORT_OPTIONS_OPTION },
  { "swap", no_argument, NULL, SWAP_OPTION },
  { "vsock", no_argument, NULL, VSOCK_OPTION },
  { "ipaddr", required_argument, NULL, 'i' },
  { "log", required_argument, NULL, LOG_OPTION },
  { "newstyle", no_argument, NULL, 'n' },
  { "new-style", no_argument, NULL, 'n' },
  { "no-mc", no_argument, NULL, NO_MC_OPTION },
  { "no-sr", no_argument, NULL, NO_SR_OPTION },
  { "oldstyle", no_argument, NULL, 'o' },
  { "old-style", no_argument, NULL, 'o' },
  { "pid-file", required_argument, NULL, 'P' },
  { "pidfile", required_argument, NULL, 'P' },
  { "port", required_argument, NULL, 'p' },
  { "read-only", no_argument, NULL, 'r' },
  { "readonly", no_argument, NULL, 'r' },
  { "run", required_argument, NULL, RUN_OPTION },
  { "single", no_argument, NULL, 's' },
  { "stdin", no_argument, NULL, 's' },
  { "threads", required_argument, NULL, 't' },
  { "timeout", required_argument, NULL, TIMEOUT_OPTION },
  { "tls", required_argument, NULL, TLS_OPTION },
  { "tls-certificates", required_argument, NULL, TLS_CERTIFICATES_OPTION },
  { "tls-psk", required_argument, NULL, TLS_PSK_OPTION },
  { "tls-verify-peer", no_argument, NULL, TLS_VERIFY_PEER_OPTION },
  { "unix", required_argument, NULL, 'U' },
  { "user", required_argument, NULL, 'u' },
  { "verbose", no_argument, NULL, 'v' },
  { "version", no_argument, NULL, 'V' },
  { NULL, 0, NULL, 0 },
};

/* --short-options and --long-options: one option per line, for shell
 * completion scripts, as the established server prints them.
 */
static void
print_short_options (void)
{
  const char *p;

  for (p = short_options; *p; ++p)
    if (*p != ':')
      printf ("-%c\n", *p);
}

static void
print_long_options (void)
{
  const struct option *o;

  for (o = long_options; o->name; ++o)
    printf ("--%s\n", o->name);
}

static void
bad_usage (const char *fmt, ...) NBDKIT_ATTRIBUTE_FORMAT_PRINTF (1, 2);

static void
bad_usage (const char *fmt, ...)
{
  va_list args;

  fprintf (stderr, "%s: ", program_name);
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fprintf (stderr, "\nTry '%s --help' for more information.\n",
           program_name);
  exit (EXIT_FAILURE);
}

static void
change_user (const char *user, const char *group)
{
  gid_t gid = getgid ();
  uid_t uid = getuid ();

  if (group) {
    struct group *gr = getgrnam (group);
    if (gr == NULL) {
      char *end;
      long g = strtol (group, &end, 10);
      if (*end || end == group)
        bad_usage ("-g %s: no such group", group);
      gid = g;
    }
    else
      gid = gr->gr_gid;
    if (setgid (gid) == -1 || setgroups (1, &gid) == -1) {
      perror ("setgid");
      exit (EXIT_FAILURE);
    }
  }
  if (user) {
    struct passwd *pw = getpwnam (user);
    if (pw == NULL) {
      char *end;
      long u = strtol (user, &end, 10);
      if (*end || end == user)
        bad_usage ("-u %s: no such user", user);
      uid = u;
    }
    else {
      uid = pw->pw_uid;
      if (!group && (setgid (pw->pw_gid) == -1 ||
                     initgroups (pw->pw_name, pw->pw_gid) == -1)) {
        perror ("setgid");
        exit (EXIT_FAILURE);
      }
    }
    if (setuid (uid) == -1) {
      perror ("setuid");
      exit (EXIT_FAILURE);
    }
  }
}

static void
make_private_socket (void)
{
  char template[] = "/tmp/blockkitXXXXXX";

  if (mkdtemp (template) == NULL) {
    perror ("mkdtemp");
    exit (EXIT_FAILURE);
  }
  tmpdir = strdup (template);
  free (unixsocket_alloc);      /* an earlier -U */
  if (tmpdir == NULL ||
      asprintf (&unixsocket_alloc, "%s/socket", tmpdir) == -1) {
    perror ("strdup");
    exit (EXIT_FAILURE);
  }
  unixsocket = unixsocket_alloc;
}

static void
remove_private_files (void)
{
  if (unixsocket)
    unlink (unixsocket);
  if (tmpdir)
    rmdir (tmpdir);
}

/* A daemon changes to / (daemonize), and unlinks the socket when it
 * exits: a relative -U or -P given by the user must still name the file
 * in the directory the user was in, so each is made absolute here,
 * before anything uses it.
 */
static const char *
absolute_or_exit (const char *path, char **alloc)
{
  free (*alloc);
  *alloc = nbdkit_absolute_path (path);
  if (*alloc == NULL)
    exit (EXIT_FAILURE);
  return *alloc;
}

/* True if systemd (or nbdinfo, qemu...) handed us listening sockets. */
static bool
socket_activation_requested (void)
{
  const char *s = getenv ("LISTEN_PID");

  return s && strtol (s, NULL, 10) == getpid () && getenv ("LISTEN_FDS");
}

static void
set_up_signals (void)
{
  struct sigaction sa = { .sa_handler = handle_quit };

  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGQUIT, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
}

int
main (int argc, char *argv[])
{
  bool help = false, version = false, dumpconfig = false, dumpplugin = false;
  bool exit_with_parent = false;
  const char *user = NULL, *group = NULL;
  size_t activated = 0;
  char **filters = NULL;
  size_t n_filters = 0;
  int c, client_in = -1, client_out = -1;

  open_std_fds ();
  set_up_quit_pipe ();

  while ((c = getopt_long (argc, argv, short_options, long_options,
                           NULL)) != -1) {
    switch (c) {
    case '4':
      tcpip_family = AF_INET;
      break;
    case '6':
      tcpip_family = AF_INET6;
      break;
    case 'D':
      add_debug_flag (optarg);
      break;
    case 'e':
      if (strlen (optarg) > NBDKIT_EXPORT_NAME_MAX)
        bad_usage ("-e: export name longer than %d bytes",
                   NBDKIT_EXPORT_NAME_MAX);
      exportname_option = optarg;
      break;
    case 'f':
      foreground = true;
      break;
    case 'g':
      group = optarg;
      break;
    case 'h':
      help = true;
      break;
    case 'i':
      ipaddr = optarg;
      break;
    case 'n':
      oldstyle_option = false;
      break;
    case 'o':
      oldstyle_option = true;
      break;
    case 'p':
      port = optarg;
      break;
    case 'P':
      pidfile = absolute_or_exit (optarg, &pidfile_alloc);
      break;
    case 'r':
      readonly_option = true;
      break;
    case 's':
      listen_stdin = true;
      break;
    case 't':
      if (nbdkit_parse_unsigned ("threads", optarg, &threads_option) == -1)
        exit (EXIT_FAILURE);
      if (threads_option < 1 || threads_option > 1024)
        bad_usage ("-t: threads must be between 1 and 1024");
      break;
    case 'u':
      user = optarg;
      break;
    case 'U':
      if (strcmp (optarg, "-") == 0)
        unixsocket = optarg;
      else
        unixsocket = absolute_or_exit (optarg, &unixsocket_alloc);
      break;
    case 'v':
      verbose = true;
      break;
    case 'V':
      version = true;
      break;
    case DUMP_CONFIG_OPTION:
      dumpconfig = true;
      break;
    case DUMP_PLUGIN_OPTION:
      dumpplugin = true;
      break;
    case EXIT_WITH_PARENT_OPTION:
      exit_with_parent = true;
      break;
    case FILTER_OPTION: {
      char **p = realloc (filters, (n_filters + 1) * sizeof *p);
      if (p == NULL) {
        perror ("realloc");
        exit (EXIT_FAILURE);
      }
      filters = p;
      filters[n_filters++] = optarg;
      break;
    }
    case LOG_OPTION:
      if (strcmp (optarg, "syslog") == 0)
        log_to_syslog = true;
      else if (strcmp (optarg, "stderr") == 0)
        log_to_syslog = false;
      else if (strcmp (optarg, "null") == 0)
        log_to_null = true;
      else
        bad_usage ("--log must be stderr, syslog or null, not \"%s\"",
                   optarg);
      break;
    case LONG_OPTIONS_OPTION:
      print_long_options ();
      exit (EXIT_SUCCESS);
    case SHORT_OPTIONS_OPTION:
      print_short_options ();
      exit (EXIT_SUCCESS);
    case MASK_HANDSHAKE_OPTION:
      if (nbdkit_parse_unsigned ("--mask-handshake", optarg,
                                 &mask_handshake_option) == -1)
        exit (EXIT_FAILURE);
      break;
    case NO_META_CONTEXTS_OPTION:
      no_meta_contexts_option = true;
      break;
    case PRINT_URI_OPTION:
      print_uri_option = true;
      break;
    case SELINUX_LABEL_OPTION:
      selinux_label_option = optarg;
      break;
    case SWAP_OPTION:
      swap_option = true;
      break;
    case VSOCK_OPTION:
      vsock_option = true;
      break;
    case TLS_OPTION:
      if (strcmp (optarg, "off") == 0 || strcmp (optarg, "no") == 0)
        tls_mode = TLS_OFF;
      else if (strcmp (optarg, "on") == 0 || strcmp (optarg, "yes") == 0)
        tls_mode = TLS_ON;
      else if (strcmp (optarg, "require") == 0 ||
               strcmp (optarg, "required") == 0 ||
               strcmp (optarg, "force") == 0)
        tls_mode = TLS_REQUIRE;
      else
        bad_usage ("--tls must be off, on or require, not \"%s\"", optarg);
      break;
    case TLS_CERTIFICATES_OPTION:
      tls_certificates_dir = absolute_or_exit (optarg, &tls_dir_alloc);
      break;
    case TLS_PSK_OPTION:
      tls_psk_file = absolute_or_exit (optarg, &tls_psk_alloc);
      break;
    case TLS_VERIFY_PEER_OPTION:
      tls_verify_peer = true;
      break;
    case NO_MC_OPTION:
      no_mc_option = true;
      break;
    case NO_SR_OPTION:
      no_sr_option = true;
      break;
    case KEEPALIVE_OPTION:
      keepalive_option = true;
      break;
    case TIMEOUT_OPTION: {
      /* Whole seconds, 0 = no limit; bounded so the deadline cannot
       * overflow.
       */
      char *end;
      unsigned long t;

      errno = 0;
      t = strtoul (optarg, &end, 10);
      if (errno || end == optarg || *end || optarg[0] == '-' || t > 86400)
        bad_usage ("--timeout must be a number of seconds from 0 to 86400, "
                   "not \"%s\"", optarg);
      timeout_option = t;
      break;
    }
    case RUN_OPTION:
      run = optarg;
      foreground = true;
      break;
    default:
      /* getopt has already said what was wrong. */
      fprintf (stderr, "Try '%s --help' for more information.\n",
               program_name);
      exit (EXIT_FAILURE);
    }
  }

  if (dumpconfig) {
    dump_config ();
    exit (EXIT_SUCCESS);
  }
  if (optind >= argc) {
    if (help) {
      usage ();
      exit (EXIT_SUCCESS);
    }
    if (version) {
      display_version ();
      exit (EXIT_SUCCESS);
    }
    bad_usage ("no plugin given");
  }

  /* Where to listen: at most one of these. */
  if ((unixsocket != NULL) + (port != NULL || ipaddr != NULL) +
      listen_stdin > 1)
    bad_usage ("-U, -p/-i and -s are mutually exclusive");
  if (listen_stdin && run)
    bad_usage ("-s and --run cannot be used together");
  if (listen_stdin && socket_activation_requested ())
    bad_usage ("-s cannot be used with socket activation");
  if (listen_stdin && dumpplugin)
    bad_usage ("--dump-plugin and -s cannot be used together");
  if (vsock_option && (unixsocket || listen_stdin || ipaddr))
    bad_usage ("--vsock listens on an AF_VSOCK port (-p): it cannot be "
               "used with -U, -s or -i");
  if (selinux_label_option)
    check_selinux_label ();
  if (oldstyle_option && tls_mode != TLS_OFF)
    bad_usage ("--oldstyle has no TLS: it cannot be used with --tls=%s",
               tls_mode == TLS_ON ? "on" : "require");
  /* The whole process, plugins included, stays in RAM: a server whose
   * device is swap must never wait for swap itself.
   */
  if (swap_option && mlockall (MCL_CURRENT | MCL_FUTURE) == -1) {
    fprintf (stderr, "%s: --swap: mlockall: %s (run as root or raise "
             "the locked-memory limit, ulimit -l)\n",
             program_name, strerror (errno));
    exit (EXIT_FAILURE);
  }

  /* With -s, stdin and stdout carry the protocol from the start, so a
   * plugin must not read or write them even while it is configured (sh's
   * "script=-", a password "-").
   */
  stdio_in_use = listen_stdin;

  top = chain_load (argv[optind], filters, n_filters);
  free (filters);

  if (help) {
    top->usage (top);
    exit (EXIT_SUCCESS);
  }
  if (version) {
    struct backend *b;
    display_version ();
    for_each_backend (b) {
      const char *v = b->version (b);
      printf ("%s %s\n", b->name, v ? v : "");
    }
    exit (EXIT_SUCCESS);
  }
  if (dumpplugin) {
    /* The parameters are given to .config first (not .config_complete),
     * as nbdkit does: a script plugin needs its script= to dump what the
     * script provides, and a bad value is reported.
     */
    chain_config_params (argc - optind - 1, argv + optind + 1);
    top->dump_fields (top);
    /* Unloaded as at a normal exit: a plugin's .unload may clean up
     * (Debian's sh plugin removes its $tmpdir there).
     */
    fflush (stdout);
    top->free (top);
    exit (EXIT_SUCCESS);
  }

  chain_configure (argc - optind - 1, argv + optind + 1);
  /* Configuration is over: from now on stdin and stdout belong to the
   * client (-s) or to nobody (see redirect_stdio).
   */
  if (!listen_stdin)
    redirect_stdio ();
  else
    take_stdio_for_client (&client_in, &client_out);
  stdio_in_use = true;
  check_unused_debug_flags ();
  lock_init_thread_model ();

  if (top->get_ready (top) == -1)
    exit (EXIT_FAILURE);
  /* Before dropping privileges (-u): key files are often root's only. */
  tls_load ();

  set_up_signals ();
  if (exit_with_parent)
    prctl (PR_SET_PDEATHSIG, SIGTERM);

  if (listen_stdin) {
    /* The client owns stdin and stdout; messages go to stderr. */
    stdio_in_use = true;
    change_user (user, group);
    write_pidfile ();
    if (top->after_fork (top) == -1)
      exit (EXIT_FAILURE);
    handle_single_connection (client_in, client_out);
  }
  else {
    activated = get_socket_activation ();
    if (!activated) {
      if (run && !unixsocket && !port && !ipaddr)
        unixsocket = "-";
      if (unixsocket && strcmp (unixsocket, "-") == 0)
        make_private_socket ();
      if (!unixsocket && !port)
        port = "10809";
      if (vsock_option)
        bind_vsock_socket (port);
      else if (unixsocket)
        bind_unix_socket (unixsocket);
      else
        bind_tcpip_socket (ipaddr, port);
    }
    else
      foreground = true;
    if (print_uri_option)
      print_uri ();
    change_user (user, group);

    if (!foreground)
      daemonize ();
    write_pidfile ();
    if (top->after_fork (top) == -1)
      exit (EXIT_FAILURE);
    daemon_ready ();
    run_command ();
    start_run_waiter ();
    /* A connection still inside the plugin at exit keeps it loaded. */
    if (!accept_incoming_connections ())
      goto out_files;
  }

  top->cleanup (top);
  top->free (top);
  top = NULL;
  free_interns ();
  tls_unload ();
 out_files:
  /* The pidfile is left in place, as nbdkit does: whoever asked for it
   * may still read it after the server has gone.
   */
  remove_private_files ();
  free (pidfile_alloc);
  free (tls_dir_alloc);
  free (tls_psk_alloc);
  free (unixsocket_alloc);
  free (tmpdir);
  return run ? run_exit_status : EXIT_SUCCESS;
}
