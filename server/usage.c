/* blockkit: --help, --version and --dump-config. */
#include <config.h>

#include <stdio.h>
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
"  -s, --single          serve one client on stdin/stdout\n"
"      (with LISTEN_FDS/LISTEN_PID set: systemd socket activation)\n"
"      --timeout SECS    drop a client that has not finished the handshake\n"
"                        within SECS seconds (default %u, 0 = never)\n"
"      --keepalive       enable TCP keepalive on client connections\n"
"\n"
"What to serve:\n"
"      --filter FILTER   stack a filter (repeatable; the first is nearest\n"
"                        the client)\n"
"  -e, --exportname NAME export name for --run's $uri and oldstyle\n"
"  -r, --readonly        refuse all writes\n"
"  -t, --threads N       worker threads per connection (default %u)\n"
"      --no-sr           do not offer structured replies\n"
"      --no-mc           never advertise multi-conn\n"
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
"      --log=stderr|syslog  where messages go\n"
"  -v, --verbose         debug messages\n"
"  -D, --debug NAME.FLAG=N  set a plugin debug flag\n"
"\n"
"Information:\n"
"  -h, --help            this text\n"
"  -V, --version         version\n"
"      --dump-config     build configuration, as KEY=VALUE\n"
"      --dump-plugin     details of PLUGIN, as KEY=VALUE\n"
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

void
dump_config (void)
{
  struct utsname u;

  printf ("%s=%s\n", "binary", "blockkit");
  printf ("%s=%s\n", "bindir", BINDIR);
  printf ("%s=%s\n", "libdir", LIBDIR);
  printf ("%s=%s\n", "plugindir", PLUGINDIR);
  printf ("%s=%s\n", "filterdir", FILTERDIR);
  printf ("%s=%s\n", "version", PACKAGE_VERSION);
  printf ("%s=%d\n", "version_major", NBDKIT_VERSION_MAJOR);
  printf ("%s=%d\n", "version_minor", NBDKIT_VERSION_MINOR);
  printf ("%s=%d\n", "version_micro", NBDKIT_VERSION_MICRO);
  printf ("%s=%d\n", "api_version", 2);
  printf ("%s=%u\n", "max_request_size", MAX_REQUEST_SIZE);
  printf ("%s=%u\n", "default_threads", DEFAULT_THREADS);
  printf ("%s=%s\n", "tls", "no");
  if (uname (&u) == 0) {
    printf ("%s=%s\n", "host_cpu", u.machine);
    printf ("%s=%s\n", "host_os", u.sysname);
  }
}
