/* blockkit ip filter: parsing and matching rules.
 *
 *   all, any              any client
 *   allipv4, anyipv4      any IPv4 client (IPv4-mapped IPv6 addresses
 *                         count as IPv4)
 *   allipv6, anyipv6      any IPv6 client (not IPv4-mapped)
 *   allunix, anyunix      any Unix domain socket client
 *   allvsock, anyvsock    any AF_VSOCK client
 *   A.B.C.D[/N]           IPv4 address or network
 *   X:Y::Z[/N]            IPv6 address or network (brackets allowed: [::1])
 *   pid:N, uid:N, gid:N   Unix domain socket client whose process, user or
 *                         group id (SO_PEERCRED, taken when it connected)
 *                         is N
 *   vsock-cid:N, vsock-port:N   AF_VSOCK client with this CID or port
 *
 * The words are nbdkit-ip-filter(1)'s, so command lines written for it
 * work unchanged.
 */
#include <config.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#include <nbdkit-filter.h>

#include "cleanup.h"
#include "rules.h"

static int
parse_one (struct rule *r, const char *key, const char *word)
{
  char addr[INET6_ADDRSTRLEN + 2];
  const char *slash;
  size_t len, i;
  unsigned max;
  static const struct { const char *prefix; enum rule_type type; } ids[] = {
    { "pid:", RULE_PID }, { "uid:", RULE_UID }, { "gid:", RULE_GID },
    { "vsock-cid:", RULE_VSOCK_CID }, { "vsock-port:", RULE_VSOCK_PORT },
  };

  memset (r, 0, sizeof *r);
  /* dn:DISTINGUISHED-NAME (RFC 4514, as nbdkit_peer_tls_dn gives it)
   * and psk:USER.  A DN contains commas, so a dn: rule is the rest of
   * the value (see rules_parse).
   */
  if (strncmp (word, "dn:", 3) == 0 || strncmp (word, "psk:", 4) == 0) {
    bool dn = word[0] == 'd';
    const char *name = word + (dn ? 3 : 4);

    if (*name == '\0')
      goto bad;
    r->type = dn ? RULE_DN : RULE_PSK;
    r->name = strdup (name);
    if (r->name == NULL) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
    return 0;
  }
  if (strcmp (word, "all") == 0 || strcmp (word, "any") == 0) {
    r->type = RULE_ALL;
    return 0;
  }
  if (strcmp (word, "anyipv4") == 0 || strcmp (word, "allipv4") == 0) {
    r->type = RULE_ANYIPV4;
    return 0;
  }
  if (strcmp (word, "anyipv6") == 0 || strcmp (word, "allipv6") == 0) {
    r->type = RULE_ANYIPV6;
    return 0;
  }
  if (strcmp (word, "anyunix") == 0 || strcmp (word, "allunix") == 0) {
    r->type = RULE_ANYUNIX;
    return 0;
  }
  if (strcmp (word, "anyvsock") == 0 || strcmp (word, "allvsock") == 0) {
    r->type = RULE_ANYVSOCK;
    return 0;
  }
  for (i = 0; i < sizeof ids / sizeof ids[0]; ++i) {
    size_t n = strlen (ids[i].prefix);

    if (strncmp (word, ids[i].prefix, n) == 0) {
      r->type = ids[i].type;
      if (nbdkit_parse_int64_t (key, word + n, &r->u.id) == -1 ||
          r->u.id < 0)
        goto bad;
      return 0;
    }
  }

  slash = strchr (word, '/');
  len = slash ? (size_t) (slash - word) : strlen (word);
  if (len >= 2 && word[0] == '[' && word[len - 1] == ']') {
    word++;
    len -= 2;
  }
  if (len == 0 || len >= sizeof addr)
    goto bad;
  memcpy (addr, word, len);
  addr[len] = '\0';
  if (inet_pton (AF_INET, addr, &r->u.ipv4) == 1) {
    r->type = RULE_IPV4;
    max = 32;
  }
  else if (inet_pton (AF_INET6, addr, &r->u.ipv6) == 1) {
    r->type = RULE_IPV6;
    max = 128;
  }
  else
    goto bad;
  r->prefix = max;
  if (slash) {
    if (nbdkit_parse_unsigned (key, slash + 1, &r->prefix) == -1 ||
        r->prefix > max)
      goto bad;
  }
  return 0;

 bad:
  nbdkit_error ("%s: \"%s\" is not a rule (expected an IPv4 or IPv6 "
                "address with optional /PREFIX, all, allipv4, allipv6, "
                "allunix, allvsock, pid:N, uid:N, gid:N, vsock-cid:N, "
                "vsock-port:N, dn:DN or psk:USER)", key, word);
  return -1;
}

int
rules_parse (struct rules *rules, const char *key, const char *value)
{
  CLEANUP_FREE char *copy = strdup (value);
  char *word, *saveptr = NULL;
  struct rule *v;

  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  for (word = strtok_r (copy, ",", &saveptr); word;
       word = strtok_r (NULL, ",", &saveptr)) {
    /* A DN has commas of its own: dn: takes the rest of the value. */
    if (strncmp (word, "dn:", 3) == 0 && saveptr && *saveptr) {
      word[strlen (word)] = ',';
      saveptr = NULL;
    }
    v = realloc (rules->v, (rules->n + 1) * sizeof *v);
    if (v == NULL) {
      nbdkit_error ("realloc: %m");
      return -1;
    }
    rules->v = v;
    if (parse_one (&v[rules->n], key, word) == -1)
      return -1;
    if (v[rules->n].type == RULE_DN || v[rules->n].type == RULE_PSK)
      rules->tls_identity = true;
    rules->n++;
    if (saveptr == NULL)
      break;
  }
  return 0;
}

void
rules_free (struct rules *rules)
{
  size_t i;

  for (i = 0; i < rules->n; ++i)
    free (rules->v[i].name);
  free (rules->v);
  rules->v = NULL;
  rules->n = 0;
}

/* Do the first BITS bits of A and B agree? */
static bool
prefix_match (const uint8_t *a, const uint8_t *b, unsigned bits)
{
  unsigned whole = bits / 8, rest = bits % 8;

  if (memcmp (a, b, whole) != 0)
    return false;
  if (rest == 0)
    return true;
  return ((a[whole] ^ b[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

static bool
rule_match (const struct rule *r, const struct peer *p)
{
  switch (r->type) {
  case RULE_ALL:
    return true;
  case RULE_ANYIPV4:
    return p->kind == PEER_IPV4;
  case RULE_ANYIPV6:
    return p->kind == PEER_IPV6;
  case RULE_ANYUNIX:
    return p->kind == PEER_UNIX;
  case RULE_ANYVSOCK:
    return p->kind == PEER_VSOCK;
  case RULE_IPV4:
    return p->kind == PEER_IPV4 &&
      prefix_match ((const uint8_t *) &r->u.ipv4,
                    (const uint8_t *) &p->ipv4, r->prefix);
  case RULE_IPV6:
    return p->kind == PEER_IPV6 &&
      prefix_match (r->u.ipv6.s6_addr, p->ipv6.s6_addr, r->prefix);
  case RULE_PID:
    return p->kind == PEER_UNIX && p->pid == r->u.id;
  case RULE_UID:
    return p->kind == PEER_UNIX && p->uid == r->u.id;
  case RULE_GID:
    return p->kind == PEER_UNIX && p->gid == r->u.id;
  case RULE_VSOCK_CID:
    return p->kind == PEER_VSOCK && p->cid == r->u.id;
  case RULE_VSOCK_PORT:
    return p->kind == PEER_VSOCK && p->port == r->u.id;
  case RULE_DN:
    return p->dn && *p->dn && strcmp (p->dn, r->name) == 0;
  case RULE_PSK:
    return p->psk_user && *p->psk_user && strcmp (p->psk_user, r->name) == 0;
  }
  return false;
}

bool
rules_match (const struct rules *rules, const struct peer *p)
{
  size_t i;

  for (i = 0; i < rules->n; ++i)
    if (rule_match (&rules->v[i], p))
      return true;
  return false;
}

void
peer_free (struct peer *p)
{
  free (p->dn);
  free (p->psk_user);
  p->dn = p->psk_user = NULL;
}

void
peer_identify (struct peer *p, bool with_tls)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;

  memset (p, 0, sizeof *p);
  if (with_tls && nbdkit_is_tls () == 1) {
    p->dn = nbdkit_peer_tls_dn ();
    p->psk_user = nbdkit_peer_tls_username ();
  }
  p->kind = PEER_UNKNOWN;
  p->pid = p->uid = p->gid = p->cid = p->port = -1;
  /* No peer (e.g. -s): only "all" can match. */
  if (nbdkit_peer_name ((struct sockaddr *) &ss, &len) == -1)
    return;
  switch (ss.ss_family) {
  case AF_INET:
    p->kind = PEER_IPV4;
    p->ipv4 = ((struct sockaddr_in *) &ss)->sin_addr;
    break;
  case AF_INET6:
    p->ipv6 = ((struct sockaddr_in6 *) &ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED (&p->ipv6)) {
      p->kind = PEER_IPV4;
      memcpy (&p->ipv4, &p->ipv6.s6_addr[12], 4);
    }
    else
      p->kind = PEER_IPV6;
    break;
  case AF_UNIX:
    p->kind = PEER_UNIX;
    p->pid = nbdkit_peer_pid ();
    p->uid = nbdkit_peer_uid ();
    p->gid = nbdkit_peer_gid ();
    break;
  case AF_VSOCK:
    p->kind = PEER_VSOCK;
    p->cid = ((struct sockaddr_vm *) &ss)->svm_cid;
    p->port = ((struct sockaddr_vm *) &ss)->svm_port;
    break;
  default:
    break;
  }
}

void
peer_describe (const struct peer *p, char *buf, size_t len)
{
  char a[INET6_ADDRSTRLEN];

  switch (p->kind) {
  case PEER_IPV4:
    inet_ntop (AF_INET, &p->ipv4, a, sizeof a);
    snprintf (buf, len, "%s", a);
    break;
  case PEER_IPV6:
    inet_ntop (AF_INET6, &p->ipv6, a, sizeof a);
    snprintf (buf, len, "%s", a);
    break;
  case PEER_UNIX:
    snprintf (buf, len, "unix pid=%lld uid=%lld gid=%lld",
              (long long) p->pid, (long long) p->uid, (long long) p->gid);
    break;
  case PEER_VSOCK:
    snprintf (buf, len, "vsock cid=%lld port=%lld",
              (long long) p->cid, (long long) p->port);
    break;
  default:
    snprintf (buf, len, "(unknown address)");
  }
  if (p->dn && *p->dn) {
    size_t n = strlen (buf);
    snprintf (buf + n, len - n, " dn=\"%s\"", p->dn);
  }
  if (p->psk_user && *p->psk_user) {
    size_t n = strlen (buf);
    snprintf (buf + n, len - n, " psk=\"%s\"", p->psk_user);
  }
}
