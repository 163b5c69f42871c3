/* nbdattach: --reattach, which cannot fail silently.
 *
 * A daemon that died leaves its device to the kernel, which fails the
 * device's I/O only after the dead-connection timeout; a new daemon
 * takes the device over with RECONFIGURE and fresh sockets.  But the
 * driver puts a socket sent that way only into a connection slot that is
 * already marked dead: otherwise it drops the socket and the netlink
 * call still succeeds (linux-nbd-driver.md, "Trap").  So this file
 * checks before and after, and fails with a message saying what to do:
 *
 *   before  the device is connected, its daemon is gone (a live one
 *           would keep serving while our sockets were dropped: that is
 *           --upgrade's job), and the kernel has not given up on it yet:
 *           a read of the device is started, which waits in the kernel
 *           for a connection, or fails at once if the dead-connection
 *           timeout has expired (requests have failed, writes may be
 *           lost: the device is left orphaned, for --detach);
 *   during  each socket sent is checked: once our copy of its kernel end
 *           is closed, a socket the kernel dropped is closed for good
 *           and its daemon end sees the hang-up at once.  A dropped one
 *           means its slot was not dead yet: it is made anew and sent
 *           again until every connection is taken, up to the
 *           dead-connection timeout;
 *   after   the kernel reports the device configured (STATUS), and the
 *           read started before completes, served by the new sockets.
 * The daemon ends are served only once the kernel has taken every
 * socket (reattach_send), before the check after (reattach_confirm): the
 * driver queues requests in a socket until its reader starts.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"

/* How long a daemon that is still there may take to finish dying (a
 * kill -9 just sent, a systemd restart racing it).
 */
#define OLD_DAEMON_GRACE_MS 3000
/* A device the kernel gave up on fails a read at once; one still
 * waiting for a daemon holds it: this tells the two apart.
 */
#define PROBE_FIRST_MS 1000
/* For the read to be served once the sockets are in. */
#define CONFIRM_MS 30000
/* Between sends of dropped sockets. */
#define RETRY_MS 100
/* -C allows 1 to 64. */
#define MAX_CONNECTIONS 64

static uint64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * UINT64_C (1000) + ts.tv_nsec / 1000000;
}

static void
sleep_ms (int ms)
{
  poll (NULL, 0, ms);
}

/* A number from the device's state file (written by its old daemon),
 * or DEFLT.
 */
static uint64_t
state_number (int index, const char *key, uint64_t deflt)
{
  char *s = read_state (index, key);
  uint64_t v = deflt;

  if (s && *s)
    v = strtoull (s, NULL, 10);
  free (s);
  return v;
}

/* " (pid N, COMM)" for messages. */
static void
describe_process (pid_t pid, char *buf, size_t len)
{
  char path[64], comm[64] = "";
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/comm", (int) pid);
  fp = fopen (path, "re");
  if (fp) {
    if (fgets (comm, sizeof comm, fp))
      comm[strcspn (comm, "\n")] = '\0';
    fclose (fp);
  }
  if (*comm)
    snprintf (buf, len, "pid %d, %s", (int) pid, comm);
  else
    snprintf (buf, len, "pid %d", (int) pid);
}

/* Waits up to the grace period for the device's daemon to be gone.
 * Returns 0, or -1 with the message.
 */
static int
old_daemon_gone (int index, char *why, size_t len)
{
  uint64_t end = now_ms () + OLD_DAEMON_GRACE_MS;
  bool alive;
  pid_t pid;
  char who[96];

  for (;;) {
    pid = device_daemon (index, &alive);
    if (!alive)
      return 0;
    if (now_ms () >= end)
      break;
    sleep_ms (50);
  }
  describe_process (pid, who, sizeof who);
  snprintf (why, len, "/dev/nbd%d is still served by its daemon (%s): "
            "--reattach only replaces a daemon that has died (the kernel "
            "would drop the new sockets while the old ones live).  To "
            "replace a running daemon use --upgrade /dev/nbd%d; to stop "
            "it, --detach /dev/nbd%d", index, who, index, index);
  return -1;
}

static void
status_found (int index, bool connected, void *opaque)
{
  int *want = opaque;

  if (index == want[0])
    want[1] = connected;
}

/* Sends the sockets of the slots not taken yet, in one RECONFIGURE, and
 * sorts them: a dropped one is made anew.  Returns the number taken, or
 * -1 (WHY).
 */
static int
send_round (struct attach_params *p, int *kernel_fds, int *daemon_fds,
            bool *taken, char *why, size_t len)
{
  struct attach_params round = *p;
  int fds[MAX_CONNECTIONS], slots[MAX_CONNECTIONS];
  int i, n = 0, got = 0;

  for (i = 0; i < p->nr_fds; ++i)
    if (!taken[i]) {
      slots[n] = i;
      fds[n++] = kernel_fds[i];
    }
  round.fds = fds;
  round.nr_fds = n;
  if (nl_nbd_reconfigure (&round) == -1) {
    snprintf (why, len, "/dev/nbd%d: the kernel refused the reattach: "
              "%s%s", p->index, strerror (errno),
              errno == EINVAL ? " (is it bound through netlink, and "
              "given the same --name?)" : "");
    return -1;
  }
  for (i = 0; i < n; ++i) {
    int s = slots[i];
    struct pollfd pfd = { .fd = daemon_fds[s], .events = POLLRDHUP };

    /* The kernel holds its own reference to a socket it took. */
    close (kernel_fds[s]);
    kernel_fds[s] = -1;
    if (poll (&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP))) {
      debug ("reattach: the kernel dropped the socket for connection %d",
             s);
      close (daemon_fds[s]);
      daemon_fds[s] = -1;
      if (connection_socketpair (&kernel_fds[s], &daemon_fds[s]) == -1) {
        snprintf (why, len, "socketpair: %s", strerror (errno));
        return -1;
      }
      continue;
    }
    taken[s] = true;
    ++got;
  }
  return got;
}

int
reattach_send (struct attach_params *p, int *kernel_fds, int *daemon_fds,
               struct io_probe *probe, char *why, size_t len)
{
  int index = p->index, i, total = 0;
  uint64_t dead, deadline;
  uint64_t want = state_number (index, "connections", p->nr_fds);
  bool taken[MAX_CONNECTIONS];
  char msg[256], dev[32];
  int r;

  probe->fd = -1;
  snprintf (dev, sizeof dev, "/dev/nbd%d", index);

  if (p->nr_fds < 1 || p->nr_fds > MAX_CONNECTIONS) {
    snprintf (why, len, "reattach: %d connections", p->nr_fds);
    return -1;
  }
  if (!device_connected (index)) {
    snprintf (why, len, "/dev/nbd%d is not connected: there is nothing "
              "to reattach to (attach it without --reattach)", index);
    return -1;
  }
  if (want != (uint64_t) p->nr_fds) {
    snprintf (why, len, "/dev/nbd%d has %" PRIu64 " connection(s), not "
              "%d: reattach with -C %" PRIu64, index, want, p->nr_fds,
              want);
    return -1;
  }
  if (old_daemon_gone (index, why, len) == -1)
    return -1;

  /* The device's own timeout, which its old daemon recorded; the one
   * given now replaces it with the RECONFIGURE.  With 0 the kernel fails
   * requests at once, so a read now would make it give up: no probe
   * before.
   */
  dead = state_number (index, "dead_timeout", p->dead_conn_timeout);
  if (dead > 0) {
    if (io_probe_start (probe, dev, why, len) == -1)
      return -1;
    r = io_probe_wait (probe, PROBE_FIRST_MS, msg, sizeof msg);
    if (r == -1) {
      snprintf (why, len, "/dev/nbd%d: the kernel has given up on it: "
                "its daemon died and requests failed after the "
                "dead-connection timeout (%" PRIu64 " s), so writes may "
                "have been lost (%s).  It stays orphaned (see --list): "
                "unmount it, --detach /dev/nbd%d, check its filesystem and "
                "attach it again", index, dead, msg, index);
      return -1;
    }
    if (r == 0) {
      snprintf (why, len, "/dev/nbd%d: a read succeeded although its "
                "daemon is gone: another process serves it; nothing was "
                "changed", index);
      return -1;
    }
    debug ("reattach: a read of /dev/nbd%d waits for a connection", index);
  }

  /* The old connections are marked dead as soon as the kernel sees the
   * daemon's ends close, normally long before this; sockets dropped
   * meanwhile are sent again.
   */
  for (i = 0; i < p->nr_fds; ++i)
    taken[i] = false;
  deadline = now_ms () + (dead > 2 ? dead : 2) * 1000;
  for (;;) {
    r = send_round (p, kernel_fds, daemon_fds, taken, why, len);
    if (r == -1)
      goto fail;
    total += r;
    if (total == p->nr_fds)
      break;
    if (now_ms () >= deadline) {
      snprintf (why, len, "/dev/nbd%d: the kernel took %d of %d new "
                "connection(s) and dropped the rest for %" PRIu64 " s: "
                "old connections are still live although the daemon is "
                "gone (does a process it started hold its sockets?)",
                index, total, p->nr_fds, dead > 2 ? dead : 2);
      goto fail;
    }
    sleep_ms (RETRY_MS);
  }
  debug ("reattach: /dev/nbd%d: %d connection(s) taken", index, total);
  return 0;

 fail:
  if (probe->fd >= 0)
    io_probe_abandon (probe);
  return -1;
}

int
reattach_confirm (int index, struct io_probe *probe, char *why, size_t len)
{
  int status[2] = { index, 0 };
  char msg[256], dev[32];

  if (nl_nbd_status (status_found, status) == -1 || !status[1]) {
    snprintf (why, len, "/dev/nbd%d: after the reattach the kernel "
              "reports it not configured", index);
    goto fail;
  }
  snprintf (dev, sizeof dev, "/dev/nbd%d", index);
  if (probe->fd == -1 && io_probe_start (probe, dev, why, len) == -1)
    return -1;
  if (io_probe_wait (probe, CONFIRM_MS, msg, sizeof msg) != 0) {
    snprintf (why, len, "/dev/nbd%d: the kernel took the new connections "
              "but %s", index, msg);
    goto fail;
  }
  debug ("reattach: /dev/nbd%d: a read was served", index);
  return 0;

 fail:
  if (probe->fd >= 0)
    io_probe_abandon (probe);
  return -1;
}
