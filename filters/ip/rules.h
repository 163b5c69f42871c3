/* blockkit ip filter: allow/deny rules and the client they are matched
 * against.
 */
#ifndef BLOCKKIT_IP_RULES_H
#define BLOCKKIT_IP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

enum rule_type {
  RULE_ALL, RULE_ANYIPV4, RULE_ANYIPV6, RULE_ANYUNIX, RULE_ANYVSOCK,
  RULE_IPV4, RULE_IPV6, RULE_PID, RULE_UID, RULE_GID,
  RULE_VSOCK_CID, RULE_VSOCK_PORT,
  RULE_DN, RULE_PSK,            /* TLS identity: decided at .open */
};

struct rule {
  enum rule_type type;
  union {
    struct in_addr ipv4;
    struct in6_addr ipv6;
    int64_t id;                 /* pid, uid, gid, vsock cid or port */
  } u;
  unsigned prefix;              /* bits that must match, for addresses */
  char *name;                   /* dn: and psk: rules */
};

struct rules {
  struct rule *v;
  size_t n;
  bool tls_identity;            /* has a dn: or psk: rule */
};

/* What is known about the client. */
enum peer_kind { PEER_UNKNOWN, PEER_IPV4, PEER_IPV6, PEER_UNIX, PEER_VSOCK };
struct peer {
  enum peer_kind kind;
  struct in_addr ipv4;          /* also for IPv4-mapped IPv6 peers */
  struct in6_addr ipv6;
  int64_t pid, uid, gid;        /* Unix sockets; -1 if unknown */
  int64_t cid, port;            /* vsock */
  char *dn, *psk_user;          /* TLS client identity ("" if none) */
};

/* Adds the comma-separated rules in VALUE; errors name KEY=VALUE. */
extern int rules_parse (struct rules *rules, const char *key,
                        const char *value);
extern void rules_free (struct rules *rules);
extern bool rules_match (const struct rules *rules, const struct peer *p);

/* Fills P for the client of the current connection; with TLS, also its
 * identity (only known after the handshake, so from .open on).
 */
extern void peer_identify (struct peer *p, bool with_tls);
extern void peer_free (struct peer *p);
extern void peer_describe (const struct peer *p, char *buf, size_t len);

#endif /* BLOCKKIT_IP_RULES_H */
