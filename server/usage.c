/* blockkit: --help, --version and --dump-config. */
#include <config.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>

#include "internal.h"
#include "options.h"

void
usage (void)
{
  printf (
"blockkit - serve any data source as a Network Block Device\n"
"\n"
"Usage:\n"
"  blockkit [OPTIONS] PLUGIN [KEY=VALUE ...]\n"
"  blockkit PLUGIN --help        show the keys a plugin takes\n"
"\n"
"Where to listen (default: TCP port 10809 on all addresses):\n"
"  -U, --unix SOCKET     listen on a Unix socket (\"-\" = private temporary)\n"
"  -p, --port PORT       listen on a TCP port\n"
"  -i, --ipaddr ADDR     listen on this address only\n"
"  -4, --ipv4-only       TCP on IPv4 only;  -6, --ipv6-only: IPv6 only\n"
"      --vsock           listen on AF_VSOCK port -p instead of TCP\n"
"      --selinux-label LABEL  SELinux label of the listening socket\n"
"  -s, --single          serve one client on stdin/stdout\n"
"      (with LISTEN_FDS/LISTEN_PID set: systemd socket activation)\n"
"      --timeout SECS    drop a client that has not finished the handshake\n"
"                        within SECS seconds (default %u, 0 = never)\n"
"      --keepalive       enable TCP keepalive on client connections\n"
"      --print-uri       print the URI clients should use, once listening\n"
"\n"
"TLS:\n"
"      --tls=off|on|require  offer TLS (NBD_OPT_STARTTLS); require: refuse\n"
"                        every client that does not use it\n"
"      --tls-certificates DIR  ca-cert.pem, server-cert.pem, server-key.pem\n"
"                        (default ~/.pki/blockkit, " SYSCONFDIR "/pki/blockkit)\n"
"      --tls-verify-peer  clients must present a certificate from the CA\n"
"      --tls-psk FILE    pre-shared keys (username:hexkey lines, psktool)\n"
"\n"
"What to serve:\n"
"      --filter FILTER   stack a filter (repeatable; the first is nearest\n"
"                        the client)\n"
"  -e, --exportname NAME export name for --run's $uri and oldstyle\n"
"  -r, --readonly        refuse all writes\n"
"  -t, --threads N       worker threads per connection (default %u)\n"
"      --no-sr           do not offer structured replies\n"
"      --no-mc           never advertise multi-conn\n"
"      --no-meta-contexts  offer no meta contexts (no block status)\n"
"      --mask-handshake MASK  offer only these global handshake flags\n"
"  -o, --oldstyle        use the oldstyle handshake\n"
"  -n, --newstyle        use the fixed newstyle handshake (default)\n"
"\n"
"How to run:\n"
"  -f, --foreground      do not go into the background\n"
"  -P, --pidfile FILE    write the server's pid to FILE\n"
"      --run CMD         run CMD with $uri etc. set; exit when it exits\n"
"      --exit-with-parent  exit when the parent process exits\n"
"  -u, --user USER       change to USER after listening\n"
"  -g, --group GROUP     change to GROUP after listening\n"
"      --log=stderr|syslog|null  where messages go\n"
"      --swap            lock the server in RAM (mlockall): for swap devices\n"
"  -v, --verbose         debug messages, and a trace of every layer's calls\n"
"  -D, --debug NAME.FLAG=N  set a plugin debug flag (nbdkit.backend.\n"
"                        controlpath=0 / datapath=0: less tracing)\n"
"\n"
"Information:\n"
"  -h, --help            this text\n"
"  -V, --version         version\n"
"      --dump-config     build configuration, as KEY=VALUE\n"
"      --dump-plugin     details of PLUGIN, as KEY=VALUE\n"
"      --short-options, --long-options  the options, one a line\n"
"\n"
"PLUGIN is a short name (memory, file, null, pattern, data, ...) looked\n"
"up in %s, or a path to a plugin .so file.\n"
"See blockkit(1) and blockkit-PLUGIN-plugin(1).\n",
          DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_THREADS, PLUGINDIR);
}

void
display_version (void)
{
  printf ("blockkit %s\n", PACKAGE_VERSION);
}

/* The established server's release whose command line and plugin API
 * blockkit provides.  Scripts test version_major/version_minor in
 * --dump-config to see whether a feature is there, so those two keys
 * give this release, not blockkit's own number (which "version" keeps).
 */
#define COMPAT_VERSION_MAJOR 1
#define COMPAT_VERSION_MINOR 32

/* host_os as the established server spells it (autoconf's host_os). */
#if defined (__linux__) && defined (__GLIBC__)
#define HOST_OS "linux-gnu"
#elif defined (__linux__)
#define HOST_OS "linux"
#else
#define HOST_OS "unknown"
#endif

void
dump_config (void)
{
  struct utsname u;
  char *self = realpath ("/proc/self/exe", NULL);

  /* binary: the program that is running, wherever it was started from
   * (the build tree's wrapper runs server/blockkit); installed, it is
   * in sbindir, not bindir.
   */
  printf ("%s=%s\n", "binary", self ? self : SBINDIR "/blockkit");
  free (self);
  printf ("%s=%s\n", "bindir", BINDIR);
  printf ("%s=%s\n", "sbindir", SBINDIR);
  printf ("%s=%s\n", "sysconfdir", SYSCONFDIR);
  printf ("%s=%s\n", "libdir", LIBDIR);
  printf ("%s=%s\n", "plugindir", PLUGINDIR);
  printf ("%s=%s\n", "filterdir", FILTERDIR);
  printf ("%s=%s\n", "version", PACKAGE_VERSION);
  printf ("%s=%s\n", "name", "blockkit");
  printf ("%s=%d\n", "version_major", COMPAT_VERSION_MAJOR);
  printf ("%s=%d\n", "version_minor", COMPAT_VERSION_MINOR);
  printf ("%s=%d.%d\n", "nbdkit_compatible", COMPAT_VERSION_MAJOR,
          COMPAT_VERSION_MINOR);
  printf ("%s=%d\n", "blockkit_version_major", NBDKIT_VERSION_MAJOR);
  printf ("%s=%d\n", "blockkit_version_minor", NBDKIT_VERSION_MINOR);
  printf ("%s=%d\n", "blockkit_version_micro", NBDKIT_VERSION_MICRO);
  printf ("%s=%d\n", "api_version", 2);
  printf ("%s=%u\n", "max_request_size", MAX_REQUEST_SIZE);
  printf ("%s=%u\n", "default_threads", DEFAULT_THREADS);
  printf ("%s=%s\n", "tls", "yes");
  printf ("%s=%s\n", "root_tls_certificates_dir", SYSCONFDIR "/pki/blockkit");
  if (uname (&u) == 0)
    printf ("%s=%s\n", "host_cpu", u.machine);
  printf ("%s=%s\n", "host_os", HOST_OS);
}
