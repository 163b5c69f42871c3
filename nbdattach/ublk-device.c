/* nbdattach: ublk devices for the management commands: names, state
 * files, --list rows, --detach and --check.
 *
 * The ublk driver keeps no backend name (nbd has /sys/block/nbdN/backend),
 * so the name lives in the daemon's state file /run/nbdattach/ublkbN
 * (the same format as nbd's, plus transport=ublk), written before the
 * disk appears and removed when the device is deleted.  A daemon killed
 * with -9 leaves it behind on purpose: with user recovery the device
 * waits, and --reattach NAME finds it by that name.  The udev rule reads
 * the same file (99-blockkit.rules, blockkit-devices(7)).
 *
 * The device's state and daemon pid come from the driver
 * (GET_DEV_INFO): LIVE is served, QUIESCED waits for a daemon to recover
 * it, DEAD is added but not started (or stopped).
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nbdattach.h"
#include "ublk.h"

/* How long --detach waits for the daemon to delete the device. */
#define DETACH_WAIT_MS 30000

int
ublk_parse_device (const char *arg)
{
  const char *p = arg;
  char *end;
  long n;

  if (strncmp (p, "/dev/", 5) == 0)
    p += 5;
  if (strncmp (p, "ublkb", 5) != 0)
    return -1;
  p += 5;
  if (!isdigit ((unsigned char) *p))
    return -1;
  errno = 0;
  n = strtol (p, &end, 10);
  if (errno || *end || n < 0 || n > 0xfffff)
    return -1;
  return n;
}

static void
dev_name (int dev_id, char *buf, size_t len)
{
  snprintf (buf, len, "ublkb%d", dev_id);
}

/* The state file, and next to it ublkbN.udev for the udev rule's
 * IMPORT{file}: one line, BLOCKKIT_NAME=NAME (the property nbd disks
 * get from their backend attribute), so that udev imports nothing else.
 * Names cannot hold a newline (check_option refuses control characters).
 */
void
ublk_write_state (int dev_id, const char *plugin, const char *name)
{
  char dev[32], file[40], *text;

  dev_name (dev_id, dev, sizeof dev);
  write_state_file (dev, plugin, name, "transport=ublk\n");
  if (name == NULL || *name == '\0' ||
      asprintf (&text, "BLOCKKIT_NAME=%s\n", name) == -1)
    return;                     /* no link, as for an unnamed device */
  snprintf (file, sizeof file, "%s.udev", dev);
  write_state_text (file, text);
  free (text);
}

void
ublk_remove_state (int dev_id)
{
  char dev[32];

  dev_name (dev_id, dev, sizeof dev);
  remove_state_file (dev);
  strcat (dev, ".udev");
  remove_state_file (dev);
}

/* Device ids that exist, from their character devices /dev/ublkcN. */
static int *
all_ids (size_t *n)
{
  return numbered_entries ("/dev", "ublkc", n);
}

int
ublk_find_device (const char *dev_or_name)
{
  int id = ublk_parse_device (dev_or_name);
  size_t i, n;
  int *list;

  if (id >= 0)
    return id;
  list = all_ids (&n);
  for (i = 0; i < n; ++i) {
    char dev[32], *name;
    bool match;

    dev_name (list[i], dev, sizeof dev);
    name = read_state_file (dev, "name");
    match = name && strcmp (name, dev_or_name) == 0;
    free (name);
    if (match) {
      id = list[i];
      break;
    }
  }
  free (list);
  return id;
}

static bool
pid_alive (pid_t pid)
{
  return pid > 0 && (kill (pid, 0) == 0 || errno == EPERM);
}

static uint64_t
disk_size (int dev_id)
{
  char path[64];
  unsigned long long sectors = 0;
  FILE *fp;

  snprintf (path, sizeof path, "/sys/block/ublkb%d/size", dev_id);
  fp = fopen (path, "re");
  if (fp == NULL)
    return 0;
  if (fscanf (fp, "%llu", &sectors) != 1)
    sectors = 0;
  fclose (fp);
  return sectors * 512;
}

static const char *
state_word (const struct ublksrv_ctrl_dev_info *info)
{
  switch (info->state) {
  case UBLK_S_DEV_LIVE: return "yes";
  case UBLK_S_DEV_QUIESCED: return "waiting";   /* for --reattach */
  default: return "no";
  }
}

/* The rows of --list after nbd's (device.c prints the header).  Nothing
 * when this kernel has no ublk or we may not ask it.
 */
void
ublk_list_devices (void)
{
  struct ublk_ctrl c;
  char why[256];
  size_t i, n;
  int *list;

  if (access ("/dev/ublk-control", F_OK) == -1 ||
      ublk_ctrl_open (&c, why, sizeof why) == -1)
    return;
  list = all_ids (&n);
  for (i = 0; i < n; ++i) {
    struct ublksrv_ctrl_dev_info info;
    char dev[32], path[40], pid[16] = "-";
    char *name, *plugin;

    if (ublk_ctrl_dev_info (&c, list[i], &info) < 0)
      continue;
    dev_name (list[i], dev, sizeof dev);
    name = read_state_file (dev, "name");
    plugin = read_state_file (dev, "plugin");
    if (info.state == UBLK_S_DEV_LIVE)
      snprintf (pid, sizeof pid, "%d", (int) info.ublksrv_pid);
    snprintf (path, sizeof path, "/dev/%s", dev);
    printf ("%-6d %-12s %14llu %-9s %-20s %-8s %-12s %s\n",
            list[i], path, (unsigned long long) disk_size (list[i]),
            state_word (&info), name && *name ? name : "-", pid,
            plugin && *plugin ? plugin : "-", "ublk");
    free (name);
    free (plugin);
  }
  free (list);
  ublk_ctrl_close (&c);
}

static int
open_or_die (struct ublk_ctrl *c)
{
  char why[400];

  if (ublk_ctrl_open (c, why, sizeof why) == -1)
    die ("%s", why);
  return 0;
}

/* --detach: STOP_DEV ends the daemon's queues; the daemon then flushes
 * the chain and deletes the device.  With no daemon (killed, waiting for
 * recovery) the device is deleted here.
 *
 * STOP_DEV removes the disk at once, mounted or not (as an nbd
 * disconnect does: further I/O fails), but the driver's delete returns
 * only when the disk's last user has let go of it: under a mounted
 * filesystem the daemon waits in it until the unmount.  --detach then
 * says so and returns, rather than waiting for a delete that may never
 * come.
 */
int
ublk_detach (const char *arg)
{
  struct ublksrv_ctrl_dev_info info;
  struct ublk_ctrl c;
  int id = ublk_find_device (arg), r, ms;
  char disk[32], why[400];

  if (geteuid () != 0)
    die ("detaching a device needs root (CAP_SYS_ADMIN)");
  open_or_die (&c);
  if (id < 0 || ublk_ctrl_dev_info (&c, id, &info) < 0)
    die ("%s: no such ublk device", arg);
  if (info.state == UBLK_S_DEV_LIVE && pid_alive (info.ublksrv_pid)) {
    bool in_use;

    dev_name (id, disk, sizeof disk);
    in_use = disk_in_use (disk, why, sizeof why);
    r = ublk_ctrl_cmd (&c, UBLK_CMD_STOP_DEV, id, NULL, 0, 0);
    if (r < 0)
      die ("/dev/%s: stop failed: %s", disk, strerror (-r));
    /* Wait for the daemon to finish (it deletes the device), so that
     * the caller may reuse the name at once.
     */
    for (ms = 0; !in_use && ms < DETACH_WAIT_MS; ms += 50) {
      struct timespec ts = { 0, 50 * 1000 * 1000 };
      if (ublk_ctrl_dev_info (&c, id, &info) < 0)
        break;
      nanosleep (&ts, NULL);
    }
    if (in_use || ms >= DETACH_WAIT_MS) {
      if (!in_use)
        snprintf (why, sizeof why, "/dev/%s is still open", disk);
      fprintf (stderr, "nbdattach: %s: detached (I/O to it fails from now "
               "on); the driver deletes the device, and its daemon exits, "
               "once it is no longer used (unmount or close it)\n", why);
    }
    ublk_ctrl_close (&c);
    return EXIT_SUCCESS;
  }
  r = ublk_ctrl_cmd (&c, UBLK_CMD_STOP_DEV, id, NULL, 0, 0);
  if (r < 0)
    debug ("stop: %s", strerror (-r));
  r = ublk_ctrl_cmd (&c, UBLK_CMD_DEL_DEV, id, NULL, 0, 0);
  if (r < 0)
    die ("/dev/ublkb%d: delete failed: %s", id, strerror (-r));
  ublk_remove_state (id);
  ublk_ctrl_close (&c);
  return EXIT_SUCCESS;
}

/* --check: 0 served and readable, 1 not served, 2 served but its data
 * cannot be read (device_io_probe, as for nbd).
 */
int
ublk_check (const char *arg)
{
  struct ublksrv_ctrl_dev_info info;
  struct ublk_ctrl c;
  char why[400], path[40];
  int id = ublk_find_device (arg), r;

  if (id < 0)
    return 1;
  if (ublk_ctrl_open (&c, why, sizeof why) == -1) {
    fprintf (stderr, "nbdattach: %s\n", why);
    return 1;
  }
  r = ublk_ctrl_dev_info (&c, id, &info);
  ublk_ctrl_close (&c);
  if (r < 0 || info.state != UBLK_S_DEV_LIVE || !pid_alive (info.ublksrv_pid))
    return 1;
  snprintf (path, sizeof path, "/dev/ublkb%d", id);
  if (device_path_io_probe (path, CHECK_IO_TIMEOUT_MS, why,
                            sizeof why) == -1) {
    fprintf (stderr, "nbdattach: %s\n", why);
    return 2;
  }
  return EXIT_SUCCESS;
}

bool
ublk_owns (const char *arg)
{
  if (ublk_parse_device (arg) >= 0)
    return true;
  if (parse_device (arg) >= 0 || find_device (arg) >= 0)
    return false;
  return ublk_find_device (arg) >= 0;
}
