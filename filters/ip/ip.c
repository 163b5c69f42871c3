/* blockkit: the ip filter.
 *
 * Admits or refuses each client in .preconnect, before the handshake,
 * by its address (TCP) or its credentials (Unix domain socket):
 *
 *   allow=RULE[,RULE...]   deny=RULE[,RULE...]   (both repeatable)
 *
 * The order: a client matching any allow rule is admitted; otherwise a
 * client matching any deny rule is refused; otherwise it is admitted.
 * So "allow=127.0.0.1 deny=all" admits only localhost.  The rules are in
 * rules.c.
 *
 * Rules on the TLS identity (dn:, psk:) can only be decided once TLS is
 * negotiated, which is after .preconnect: when there are any, the whole
 * decision moves to .open, so that the allow-then-deny order still holds
 * over all the rules together.
 */
#include <config.h>

#include <string.h>
#include <sys/socket.h>

#include <nbdkit-filter.h>

#include "rules.h"

static struct rules allow_rules, deny_rules;

static void
ip_unload (void)
{
  rules_free (&allow_rules);
  rules_free (&deny_rules);
}

static int
ip_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  if (strcmp (key, "allow") == 0)
    return rules_parse (&allow_rules, key, value);
  if (strcmp (key, "deny") == 0)
    return rules_parse (&deny_rules, key, value);
  return next (nxdata, key, value);
}

#define ip_config_help \
  "allow=<RULE>[,...]   Admit clients matching a rule (checked first).\n" \
  "deny=<RULE>[,...]    Refuse clients matching a rule.\n" \
  "RULE: ADDR, ADDR/PREFIX (IPv4 or IPv6), all, allipv4, allipv6,\n" \
  "      allunix, allvsock (or any...), pid:N, uid:N, gid:N,\n" \
  "      vsock-cid:N, vsock-port:N, dn:DN (client certificate, the rest\n" \
  "      of the value), psk:USER (TLS PSK user)."

/* Returns 0 if the current client is admitted, -1 (with the error) if
 * not.
 */
static int
check_client (bool with_tls)
{
  struct peer peer;
  char desc[512];
  int r = 0;

  if (allow_rules.n == 0 && deny_rules.n == 0)
    return 0;
  peer_identify (&peer, with_tls);
  if (!rules_match (&allow_rules, &peer) &&
      rules_match (&deny_rules, &peer)) {
    peer_describe (&peer, desc, sizeof desc);
    /* nbdkit's words first: scripts look for them. */
    nbdkit_error ("client not permitted to connect because of source "
                  "address restriction (ip: client %s refused by deny "
                  "rules)", desc);
    r = -1;
  }
  peer_free (&peer);
  return r;
}

static bool
tls_identity_rules (void)
{
  return allow_rules.tls_identity || deny_rules.tls_identity;
}

static int
ip_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
               int readonly)
{
  if (!tls_identity_rules () && check_client (false) == -1)
    return -1;
  return next (nxdata, readonly);
}

static int handle_token;

static void *
ip_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  if (tls_identity_rules () && check_client (true) == -1)
    return NULL;
  if (next (context, readonly, exportname) == -1)
    return NULL;
  return &handle_token;
}

static struct nbdkit_filter filter = {
  .name = "ip",
  .longname = "blockkit ip filter",
  .unload = ip_unload,
  .config = ip_config,
  .config_help = ip_config_help,
  .preconnect = ip_preconnect,
  .open = ip_open,
};

NBDKIT_REGISTER_FILTER (filter)
