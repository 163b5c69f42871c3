/* nbdattach: talking to the Linux nbd driver over generic netlink
 * (shared/reference/linux-nbd-driver.md has the facts this relies on).
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <linux/nbd-netlink.h>

#include "nbdattach.h"

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"

/* An open generic netlink socket and the nbd family's id. */
static struct nl_sock *
open_nbd_socket (int *family)
{
  struct nl_sock *sock = nl_socket_alloc ();

  if (sock == NULL) {
    nbdkit_error ("netlink: out of memory");
    return NULL;
  }
  if (genl_connect (sock) < 0) {
    nbdkit_error ("netlink: cannot open a generic netlink socket");
    nl_socket_free (sock);
    return NULL;
  }
  *family = genl_ctrl_resolve (sock, NBD_GENL_FAMILY_NAME);
  if (*family < 0) {
    nl_socket_free (sock);
    errno = ENOENT;
    return NULL;
  }
  return sock;
}

int
nl_nbd_available (void)
{
  int family;
  struct nl_sock *sock = open_nbd_socket (&family);

  if (sock == NULL)
    return errno == ENOENT ? 0 : -1;
  nl_socket_free (sock);
  return 1;
}

/* Reads NBD_ATTR_INDEX out of a CONNECT reply. */
static int
connect_reply (struct nl_msg *msg, void *arg)
{
  struct genlmsghdr *gnlh = nlmsg_data (nlmsg_hdr (msg));
  struct nlattr *attrs[NBD_ATTR_MAX + 1];
  int *index = arg;

  if (nla_parse (attrs, NBD_ATTR_MAX, genlmsg_attrdata (gnlh, 0),
                 genlmsg_attrlen (gnlh, 0), NULL) < 0)
    return NL_SKIP;
  if (attrs[NBD_ATTR_INDEX])
    *index = nla_get_u32 (attrs[NBD_ATTR_INDEX]);
  return NL_OK;
}

/* Builds CONNECT or RECONFIGURE. */
static struct nl_msg *
build_message (int family, int cmd, const struct attach_params *p)
{
  struct nl_msg *msg = nlmsg_alloc ();
  struct nlattr *socks;
  int i;

  if (msg == NULL)
    return NULL;
  if (genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, cmd, 0)
      == NULL)
    goto fail;
  if (p->index >= 0)
    NLA_PUT_U32 (msg, NBD_ATTR_INDEX, p->index);
  if (cmd == NBD_CMD_CONNECT || p->with_size) {
    NLA_PUT_U64 (msg, NBD_ATTR_SIZE_BYTES, p->size);
    NLA_PUT_U64 (msg, NBD_ATTR_BLOCK_SIZE_BYTES, p->block_size);
    NLA_PUT_U64 (msg, NBD_ATTR_SERVER_FLAGS, p->server_flags);
  }
  NLA_PUT_U64 (msg, NBD_ATTR_TIMEOUT, p->timeout);
  NLA_PUT_U64 (msg, NBD_ATTR_DEAD_CONN_TIMEOUT, p->dead_conn_timeout);
  /* Old kernels ignore attributes they do not know: always safe. */
  if (p->backend_id)
    NLA_PUT_STRING (msg, NBD_ATTR_BACKEND_IDENTIFIER, p->backend_id);

  if (p->nr_fds == 0)           /* a RECONFIGURE for the size alone */
    return msg;
  socks = nla_nest_start (msg, NBD_ATTR_SOCKETS);
  if (socks == NULL)
    goto fail;
  for (i = 0; i < p->nr_fds; ++i) {
    struct nlattr *item = nla_nest_start (msg, NBD_SOCK_ITEM);
    if (item == NULL)
      goto fail;
    NLA_PUT_U32 (msg, NBD_SOCK_FD, p->fds[i]);
    nla_nest_end (msg, item);
  }
  nla_nest_end (msg, socks);
  return msg;

 nla_put_failure:
 fail:
  nlmsg_free (msg);
  return NULL;
}

/* Sends MSG and waits for the kernel's answer.  Returns 0, or -1 with
 * errno set from the kernel's error.
 */
static int
send_and_wait (struct nl_sock *sock, struct nl_msg *msg)
{
  int r = nl_send_sync (sock, msg);   /* frees msg */

  if (r < 0) {
    /* libnl folds kernel errnos into its own codes: map back the ones
     * a user needs to tell apart.
     */
    switch (-r) {
    case NLE_BUSY: errno = EBUSY; break;
    case NLE_INVAL: errno = EINVAL; break;
    case NLE_PERM: errno = EPERM; break;
    case NLE_NOMEM: errno = ENOMEM; break;
    case NLE_OBJ_NOTFOUND: errno = ENOENT; break;
    case NLE_NODEV: errno = ENODEV; break;
    default: errno = EIO;
    }
    return -1;
  }
  return 0;
}

int
nl_nbd_connect (const struct attach_params *p, int *index_out)
{
  int family, r, index = -1;
  struct nl_sock *sock = open_nbd_socket (&family);
  struct nl_msg *msg;

  if (sock == NULL)
    return -1;
  msg = build_message (family, NBD_CMD_CONNECT, p);
  if (msg == NULL) {
    nl_socket_free (sock);
    errno = ENOMEM;
    return -1;
  }
  nl_socket_modify_cb (sock, NL_CB_VALID, NL_CB_CUSTOM, connect_reply,
                       &index);
  r = send_and_wait (sock, msg);
  nl_socket_free (sock);
  if (r == -1)
    return -1;
  *index_out = index >= 0 ? index : p->index;
  return 0;
}

int
nl_nbd_reconfigure (const struct attach_params *p)
{
  int family, r;
  struct nl_sock *sock = open_nbd_socket (&family);
  struct nl_msg *msg;

  if (sock == NULL)
    return -1;
  msg = build_message (family, NBD_CMD_RECONFIGURE, p);
  if (msg == NULL) {
    nl_socket_free (sock);
    errno = ENOMEM;
    return -1;
  }
  r = send_and_wait (sock, msg);
  nl_socket_free (sock);
  return r;
}

int
nl_nbd_disconnect (int index)
{
  int family, r;
  struct nl_sock *sock = open_nbd_socket (&family);
  struct nl_msg *msg;

  if (sock == NULL)
    return -1;
  msg = nlmsg_alloc ();
  if (msg == NULL ||
      genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0,
                   NBD_CMD_DISCONNECT, 0) == NULL ||
      nla_put_u32 (msg, NBD_ATTR_INDEX, index) < 0) {
    nlmsg_free (msg);
    nl_socket_free (sock);
    errno = ENOMEM;
    return -1;
  }
  r = send_and_wait (sock, msg);
  nl_socket_free (sock);
  return r;
}

struct status_walk {
  void (*fn) (int index, bool connected, void *opaque);
  void *opaque;
};

static int
status_reply (struct nl_msg *msg, void *arg)
{
  struct status_walk *w = arg;
  struct genlmsghdr *gnlh = nlmsg_data (nlmsg_hdr (msg));
  struct nlattr *attrs[NBD_ATTR_MAX + 1];
  struct nlattr *item;
  int rem;

  if (nla_parse (attrs, NBD_ATTR_MAX, genlmsg_attrdata (gnlh, 0),
                 genlmsg_attrlen (gnlh, 0), NULL) < 0 ||
      attrs[NBD_ATTR_DEVICE_LIST] == NULL)
    return NL_SKIP;
  nla_for_each_nested (item, attrs[NBD_ATTR_DEVICE_LIST], rem) {
    struct nlattr *dev[NBD_DEVICE_ATTR_MAX + 1];

    if (nla_type (item) != NBD_DEVICE_ITEM ||
        nla_parse_nested (dev, NBD_DEVICE_ATTR_MAX, item, NULL) < 0 ||
        dev[NBD_DEVICE_INDEX] == NULL)
      continue;
    w->fn (nla_get_u32 (dev[NBD_DEVICE_INDEX]),
           dev[NBD_DEVICE_CONNECTED] &&
           nla_get_u8 (dev[NBD_DEVICE_CONNECTED]), w->opaque);
  }
  return NL_OK;
}

int
nl_nbd_status (void (*fn) (int index, bool connected, void *opaque),
               void *opaque)
{
  struct status_walk w = { fn, opaque };
  int family, r;
  struct nl_sock *sock = open_nbd_socket (&family);
  struct nl_msg *msg;

  if (sock == NULL)
    return -1;
  msg = nlmsg_alloc ();
  if (msg == NULL ||
      genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0,
                   NBD_CMD_STATUS, 0) == NULL) {
    nlmsg_free (msg);
    nl_socket_free (sock);
    errno = ENOMEM;
    return -1;
  }
  nl_socket_modify_cb (sock, NL_CB_VALID, NL_CB_CUSTOM, status_reply, &w);
  r = send_and_wait (sock, msg);
  nl_socket_free (sock);
  return r;
}

/* ---- LINK_DEAD events ---- */

static int
link_dead_event (struct nl_msg *msg, void *arg)
{
  struct genlmsghdr *gnlh = nlmsg_data (nlmsg_hdr (msg));
  struct nlattr *attrs[NBD_ATTR_MAX + 1];

  if (gnlh->cmd != NBD_CMD_LINK_DEAD ||
      nla_parse (attrs, NBD_ATTR_MAX, genlmsg_attrdata (gnlh, 0),
                 genlmsg_attrlen (gnlh, 0), NULL) < 0)
    return NL_SKIP;
  if (attrs[NBD_ATTR_INDEX])
    nbdkit_error ("kernel reports a dead connection on /dev/nbd%u",
                  nla_get_u32 (attrs[NBD_ATTR_INDEX]));
  return NL_OK;
}

static void *
watch_thread (void *arg)
{
  struct nl_sock *sock = arg;

  for (;;) {
    if (nl_recvmsgs_default (sock) < 0)
      break;
  }
  return NULL;
}

void
nl_nbd_watch_link_dead (void)
{
  int family, group;
  struct nl_sock *sock = open_nbd_socket (&family);
  pthread_t thread;

  if (sock == NULL)
    return;
  group = genl_ctrl_resolve_grp (sock, NBD_GENL_FAMILY_NAME,
                                 NBD_GENL_MCAST_GROUP_NAME);
  if (group < 0 || nl_socket_add_membership (sock, group) < 0) {
    nl_socket_free (sock);
    return;
  }
  nl_socket_disable_seq_check (sock);
  nl_socket_modify_cb (sock, NL_CB_VALID, NL_CB_CUSTOM, link_dead_event,
                       NULL);
  if (pthread_create (&thread, NULL, watch_thread, sock) == 0)
    pthread_detach (thread);
  else
    nl_socket_free (sock);
}
