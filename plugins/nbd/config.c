/* blockkit: the nbd plugin's configuration.
 *
 * Parses the keys that say where the other NBD server is (uri=,
 * socket=, hostname= and port=, vsock=, socket-fd=, command= with
 * arg=), which export, how to use TLS towards it, and how many
 * connections to make; checks at .config_complete that they make one
 * consistent answer, so that a mistake is reported when the server
 * starts rather than when the first client arrives.  The keys and their
 * meaning are those of the established nbd plugin, plus connections=,
 * timeout= and connect-timeout=.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "nbd-plugin.h"

struct nbd_settings cfg = {
  .socket_fd = -1,
  .export = "",
  .tls = -1,
  .tls_verify = -1,
  .connections = 1,
  .connect_timeout = 30,
};

/* How many ways of reaching the server were given: exactly one is
 * allowed, and the first key is remembered for the error message.
 */
static unsigned n_addresses;
static const char *first_address_key;
static bool have_port;

static int
address_key (const char *key)
{
  if (n_addresses++ == 0)
    first_address_key = key;
  else {
    nbdkit_error ("nbd: %s= and %s= both say where the server is; "
                  "give only one of uri=, socket=, hostname=, vsock=, "
                  "socket-fd=, command=", first_address_key, key);
    return -1;
  }
  return 0;
}

/* A bounded unsigned value: connections=, retry=, timeout=. */
static int
parse_count (const char *key, const char *value, unsigned max,
             unsigned *out)
{
  unsigned v;

  if (nbdkit_parse_unsigned (key, value, &v) == -1)
    return -1;
  if (v > max) {
    nbdkit_error ("nbd: %s=%s is too large (at most %u)", key, value, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int
add_command_word (const char *word)
{
  char **p = realloc (cfg.command, (cfg.n_command + 2) * sizeof *p);

  if (p == NULL) {
    nbdkit_error ("nbd: realloc: %m");
    return -1;
  }
  cfg.command = p;
  /* The value lives until unload (the plugin API promises that). */
  cfg.command[cfg.n_command++] = (char *) word;
  cfg.command[cfg.n_command] = NULL;
  return 0;
}

int
nbdplug_config (const char *key, const char *value)
{
  int r;

  if (strcmp (key, "uri") == 0) {
    if (address_key (key) == -1)
      return -1;
    cfg.uri = value;
  }
  else if (strcmp (key, "socket") == 0) {
    if (address_key (key) == -1)
      return -1;
    /* The server may chdir / when it becomes a daemon. */
    cfg.socket = nbdkit_absolute_path (value);
    if (cfg.socket == NULL)
      return -1;
  }
  else if (strcmp (key, "hostname") == 0) {
    if (address_key (key) == -1)
      return -1;
    cfg.hostname = value;
  }
  else if (strcmp (key, "vsock") == 0) {
    if (address_key (key) == -1)
      return -1;
    if (nbdkit_parse_uint32_t ("vsock", value, &cfg.vsock_cid) == -1)
      return -1;
    cfg.have_vsock = true;
  }
  else if (strcmp (key, "socket-fd") == 0) {
    if (address_key (key) == -1)
      return -1;
    if (nbdkit_parse_int ("socket-fd", value, &cfg.socket_fd) == -1)
      return -1;
    if (cfg.socket_fd < 0) {
      nbdkit_error ("nbd: socket-fd=%s must not be negative", value);
      return -1;
    }
  }
  else if (strcmp (key, "command") == 0) {
    if (address_key (key) == -1)
      return -1;
    return add_command_word (value);
  }
  else if (strcmp (key, "arg") == 0) {
    if (cfg.n_command == 0) {
      nbdkit_error ("nbd: arg=%s must come after command=", value);
      return -1;
    }
    return add_command_word (value);
  }
  else if (strcmp (key, "port") == 0) {
    cfg.port = value;
    have_port = true;
  }
  else if (strcmp (key, "export") == 0) {
    cfg.export = value;
    cfg.have_export = true;
  }
  else if (strcmp (key, "dynamic-export") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    cfg.dynamic_export = r;
  }
  else if (strcmp (key, "tls") == 0) {
    if (strcasecmp (value, "require") == 0 ||
        strcasecmp (value, "required") == 0 ||
        strcasecmp (value, "force") == 0)
      cfg.tls = LIBNBD_TLS_REQUIRE;
    else {
      r = nbdkit_parse_bool (value);
      if (r == -1) {
        nbdkit_error ("nbd: tls=%s: expected off, on or require", value);
        return -1;
      }
      cfg.tls = r ? LIBNBD_TLS_ALLOW : LIBNBD_TLS_DISABLE;
    }
  }
  else if (strcmp (key, "tls-certificates") == 0) {
    cfg.tls_certificates = nbdkit_absolute_path (value);
    if (cfg.tls_certificates == NULL)
      return -1;
  }
  else if (strcmp (key, "tls-verify") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    cfg.tls_verify = r;
  }
  else if (strcmp (key, "tls-username") == 0)
    cfg.tls_username = value;
  else if (strcmp (key, "tls-psk") == 0) {
    cfg.tls_psk = nbdkit_absolute_path (value);
    if (cfg.tls_psk == NULL)
      return -1;
  }
  else if (strcmp (key, "shared") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    cfg.shared = r;
    cfg.have_shared = true;
  }
  else if (strcmp (key, "connections") == 0) {
    if (parse_count (key, value, 64, &cfg.connections) == -1)
      return -1;
    if (cfg.connections == 0) {
      nbdkit_error ("nbd: connections=0: at least one is needed");
      return -1;
    }
  }
  else if (strcmp (key, "retry") == 0)
    return parse_count (key, value, 86400, &cfg.retry);
  else if (strcmp (key, "timeout") == 0)
    return parse_count (key, value, 86400, &cfg.timeout);
  else if (strcmp (key, "connect-timeout") == 0)
    return parse_count (key, value, 86400, &cfg.connect_timeout);
  else {
    nbdkit_error ("nbd: unknown parameter '%s=%s' (see 'blockkit nbd "
                  "--help')", key, value);
    return -1;
  }
  return 0;
}

/* The URI schemes libnbd connects to: the scheme decides the transport
 * and whether TLS is required.
 */
static int
check_uri (void)
{
  static const char *const schemes[] = {
    "nbd://", "nbds://", "nbd+unix://", "nbds+unix://",
    "nbd+vsock://", "nbds+vsock://",
  };
  struct nbd_handle *h;
  bool secure;
  size_t i;

  for (i = 0; i < sizeof schemes / sizeof schemes[0]; ++i)
    if (strncasecmp (cfg.uri, schemes[i], strlen (schemes[i])) == 0)
      break;
  if (i == sizeof schemes / sizeof schemes[0]) {
    nbdkit_error ("nbd: uri=%s: not an NBD URI (expected nbd://, nbds://, "
                  "nbd+unix://, nbds+unix://, nbd+vsock:// or "
                  "nbds+vsock://)", cfg.uri);
    return -1;
  }
  secure = strncasecmp (cfg.uri, "nbds", 4) == 0;
  if (secure && cfg.tls == LIBNBD_TLS_DISABLE) {
    nbdkit_error ("nbd: uri=%s requires TLS, but tls=off was given",
                  cfg.uri);
    return -1;
  }

  h = nbd_create ();
  if (h == NULL) {
    nbdkit_error ("nbd: nbd_create: %s", nbd_get_error ());
    return -1;
  }
  if (!nbd_supports_uri (h)) {
    nbd_close (h);
    nbdkit_error ("nbd: uri=: this libnbd was built without URI support");
    return -1;
  }
  if (secure && !nbd_supports_tls (h)) {
    nbd_close (h);
    nbdkit_error ("nbd: uri=%s: this libnbd was built without TLS",
                  cfg.uri);
    return -1;
  }
  nbd_close (h);
  return 0;
}

int
nbdplug_config_complete (void)
{
  if (n_addresses == 0) {
    nbdkit_error ("nbd: say where the NBD server is: give uri=, socket=, "
                  "hostname=, vsock=, socket-fd= or command= "
                  "(see 'blockkit nbd --help')");
    return -1;
  }
  if (have_port && cfg.hostname == NULL && !cfg.have_vsock) {
    nbdkit_error ("nbd: port= goes with hostname= or vsock=");
    return -1;
  }
  if (cfg.port == NULL)
    cfg.port = "10809";

  if (cfg.uri) {
    if (cfg.have_export) {
      nbdkit_error ("nbd: export= cannot be used with uri= (the export "
                    "name is the URI's path)");
      return -1;
    }
    if (check_uri () == -1)
      return -1;
  }

  /* Any TLS detail given without tls= means "try TLS" (tls=on), as
   * the established plugin does.
   */
  if (cfg.tls == -1) {
    if (cfg.tls_certificates || cfg.tls_verify != -1 ||
        cfg.tls_username || cfg.tls_psk)
      cfg.tls = LIBNBD_TLS_ALLOW;
  }
  if (cfg.tls > 0) {
    struct nbd_handle *h = nbd_create ();
    bool ok = h && nbd_supports_tls (h);
    nbd_close (h);
    if (!ok) {
      nbdkit_error ("nbd: tls= needs a libnbd built with TLS support");
      return -1;
    }
  }
  if (cfg.tls_certificates && cfg.tls_psk) {
    nbdkit_error ("nbd: give tls-certificates= or tls-psk=, not both");
    return -1;
  }
  /* libnbd checks a server certificate only against a host name. */
  if (cfg.tls > 0 && !cfg.tls_psk && cfg.tls_verify != 0 &&
      (cfg.socket || (cfg.uri && strstr (cfg.uri, "+unix:"))))
    nbdkit_debug ("nbd: TLS over a Unix socket: libnbd does not verify "
                  "the server's certificate there (no host name); use TCP "
                  "or tls-psk= if that matters");

  if (cfg.dynamic_export) {
    if (cfg.have_export) {
      nbdkit_error ("nbd: export= and dynamic-export=true contradict "
                    "each other (the client names the export)");
      return -1;
    }
    if (cfg.shared || cfg.command || cfg.socket_fd >= 0) {
      nbdkit_error ("nbd: dynamic-export=true needs a connection per "
                    "client: not with shared=true, command= or socket-fd=");
      return -1;
    }
  }

  /* A command or an inherited socket can only be connected once, so
   * every client has to share it.
   */
  if (cfg.command || cfg.socket_fd >= 0) {
    if (cfg.have_shared && !cfg.shared) {
      nbdkit_error ("nbd: %s= implies shared=true",
                    cfg.command ? "command" : "socket-fd");
      return -1;
    }
    cfg.shared = true;
    if (cfg.connections > 1) {
      nbdkit_error ("nbd: %s= gives exactly one connection "
                    "(connections=%u)",
                    cfg.command ? "command" : "socket-fd", cfg.connections);
      return -1;
    }
  }
  return 0;
}

/* A short description of the server for messages: the first thing a
 * user wants to know when a connection fails is which server it was.
 */
const char *
nbdplug_describe_server (void)
{
  static char buf[512];

  if (cfg.uri)
    return cfg.uri;
  if (cfg.socket)
    snprintf (buf, sizeof buf, "socket %s", cfg.socket);
  else if (cfg.hostname)
    snprintf (buf, sizeof buf, "%s port %s", cfg.hostname, cfg.port);
  else if (cfg.have_vsock)
    snprintf (buf, sizeof buf, "vsock %u port %s", cfg.vsock_cid, cfg.port);
  else if (cfg.socket_fd >= 0)
    snprintf (buf, sizeof buf, "socket-fd %d", cfg.socket_fd);
  else if (cfg.command)
    snprintf (buf, sizeof buf, "command %s", cfg.command[0]);
  else
    return "(no server)";
  return buf;
}

void
nbdplug_dump_plugin (void)
{
  struct nbd_handle *h = nbd_create ();

  if (h) {
    printf ("libnbd_version=%s\n", nbd_get_version (h));
    printf ("libnbd_tls=%d\n", nbd_supports_tls (h));
    printf ("libnbd_uri=%d\n", nbd_supports_uri (h));
  }
  printf ("libnbd_vsock=1\n");
  printf ("libnbd_dynamic_list=1\n");
  printf ("nbd_connections_max=64\n");
  nbd_close (h);
}

void
nbdplug_unload (void)
{
  free (cfg.command);
  cfg.command = NULL;
  free ((char *) cfg.socket);
  free ((char *) cfg.tls_certificates);
  free ((char *) cfg.tls_psk);
}
