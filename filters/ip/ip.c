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
  "      vsock-cid:N, vsock-port:N."

static int
ip_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
               int readonly)
{
  struct peer peer;
  char desc[128];

  if (allow_rules.n > 0 || deny_rules.n > 0) {
    peer_identify (&peer);
    if (!rules_match (&allow_rules, &peer) &&
        rules_match (&deny_rules, &peer)) {
      peer_describe (&peer, desc, sizeof desc);
      /* nbdkit's words first: scripts look for them. */
      nbdkit_error ("client not permitted to connect because of source "
                    "address restriction (ip: client %s refused by deny "
                    "rules)", desc);
      return -1;
    }
  }
  return next (nxdata, readonly);
}

static struct nbdkit_filter filter = {
  .name = "ip",
  .longname = "blockkit ip filter",
  .unload = ip_unload,
  .config = ip_config,
  .config_help = ip_config_help,
  .preconnect = ip_preconnect,
};

NBDKIT_REGISTER_FILTER (filter)
