/* nbdattach: telling systemd the device is live (Type=notify).
 * The protocol is one datagram of "KEY=VALUE" lines to $NOTIFY_SOCKET;
 * implemented here so that nbdattach needs no libsystemd.
 */
#include <config.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbdattach.h"

void
notify_systemd (const char *state)
{
  const char *path = getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  socklen_t len;
  int fd;

  if (path == NULL || *path == '\0' || strlen (path) >= sizeof addr.sun_path)
    return;
  memcpy (addr.sun_path, path, strlen (path));
  /* "@name" is an abstract socket: the name starts with a NUL byte. */
  if (addr.sun_path[0] == '@')
    addr.sun_path[0] = '\0';
  len = offsetof (struct sockaddr_un, sun_path) + strlen (path);

  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return;
  sendto (fd, state, strlen (state), MSG_NOSIGNAL,
          (struct sockaddr *) &addr, len);
  close (fd);
}
