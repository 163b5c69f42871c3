/* blockkit: the TLS rules of the option phase (NBD_OPT_STARTTLS).
 *
 * With --tls=require, nothing is revealed before TLS: every option but
 * STARTTLS and ABORT is answered NBD_REP_ERR_TLS_REQD, so a plaintext
 * client learns neither the exports nor their sizes, and
 * NBD_OPT_EXPORT_NAME (which cannot be answered with an error) ends the
 * connection.  With --tls=on TLS is the client's choice.
 *
 * After a successful STARTTLS everything negotiated in the clear is
 * forgotten: structured replies, meta contexts, the default export's
 * name, any export opened for NBD_OPT_INFO.  An attacker in the middle
 * could have injected those options, and the spec says the state is
 * reset; the established server once kept it (CVE-2021-3716).
 */
#include <config.h>

#include <stdlib.h>

#include "internal.h"
#include "conn-io.h"
#include "nbd-protocol.h"
#include "tls.h"

bool
tls_option_refused (struct connection *conn, uint32_t option)
{
  return tls_mode == TLS_REQUIRE && conn->tls == NULL &&
    option != NBD_OPT_STARTTLS && option != NBD_OPT_ABORT;
}

/* Returns 0 to go on negotiating (over TLS now, or still in the clear
 * after an error reply), -1 to end the connection.
 */
int
opt_starttls (struct connection *conn, uint32_t optlen)
{
  if (optlen != 0)
    return send_option_error (conn, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
                              "NBD_OPT_STARTTLS takes no payload");
  if (tls_mode == TLS_OFF)
    return send_option_error (conn, NBD_OPT_STARTTLS, NBD_REP_ERR_UNSUP,
                              "TLS is not enabled on this server (--tls)");
  if (conn->tls)
    return send_option_error (conn, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
                              "TLS is already negotiated");
  if (send_option_reply (conn, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0) == -1)
    return -1;
  /* The TLS handshake must end by the connection's deadline too. */
  if (tls_start (conn, conn_deadline_left_ms (conn)) == -1)
    return -1;

  conn->structured_replies = false;
  conn->meta_base_allocation = false;
  free (conn->exportname);
  conn->exportname = NULL;
  free (conn->default_export);
  conn->default_export = NULL;
  protocol_close_export (conn);
  debug ("TLS negotiated: options negotiated before it are forgotten");
  return 0;
}
