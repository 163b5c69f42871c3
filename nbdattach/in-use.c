/* nbdattach: whether a disk (nbdN, ublkbN) or one of its partitions is
 * in use: mounted, a swap area, or held by another driver (device mapper,
 * md).  --resize refuses to shrink such a device without --force, and
 * --detach of a ublk device does not wait for its deletion, which the
 * driver holds back until the last user lets go.
 */
#include <config.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "nbdattach.h"

/* "major:minor" of the disk or partition in sysfs DIR. */
static int
read_devnum (const char *dir, char *buf, size_t len)
{
  char path[300];
  FILE *fp;

  snprintf (path, sizeof path, "%s/dev", dir);
  fp = fopen (path, "re");
  if (fp == NULL)
    return -1;
  if (fgets (buf, len, fp) == NULL) {
    fclose (fp);
    return -1;
  }
  fclose (fp);
  buf[strcspn (buf, "\n")] = '\0';
  return 0;
}

/* Whether the block device in sysfs DIR (/sys/block/NAME or a partition
 * of it) is mounted, a swap area, or held by another driver (device
 * mapper, md): WHY says which.  Looked up in /proc and sysfs: the daemon
 * must never open its own device.
 */
static bool
one_in_use (const char *dir, const char *name, char *why, size_t len)
{
  char devnum[32], path[300], line[4096];
  bool used = false;
  FILE *fp;
  DIR *d;
  struct dirent *e;

  if (read_devnum (dir, devnum, sizeof devnum) == -1)
    return false;
  fp = fopen ("/proc/self/mountinfo", "re");
  while (fp && !used && fgets (line, sizeof line, fp)) {
    char mnt_devnum[32], mountpoint[1024];
    /* ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... */
    if (sscanf (line, "%*d %*d %31s %*s %1023s", mnt_devnum, mountpoint) == 2
        && strcmp (mnt_devnum, devnum) == 0) {
      snprintf (why, len, "/dev/%.64s is mounted on %.300s", name, mountpoint);
      used = true;
    }
  }
  if (fp)
    fclose (fp);
  fp = fopen ("/proc/swaps", "re");
  while (fp && !used && fgets (line, sizeof line, fp)) {
    char dev[300];
    snprintf (dev, sizeof dev, "/dev/%s ", name);
    if (strncmp (line, dev, strlen (dev)) == 0) {
      snprintf (why, len, "/dev/%s is a swap area in use", name);
      used = true;
    }
  }
  if (fp)
    fclose (fp);
  snprintf (path, sizeof path, "%s/holders", dir);
  d = opendir (path);
  while (d && !used && (e = readdir (d)) != NULL)
    if (e->d_name[0] != '.') {
      snprintf (why, len, "/dev/%s is held by %s", name, e->d_name);
      used = true;
    }
  if (d)
    closedir (d);
  return used;
}

bool
disk_in_use (const char *name, char *why, size_t len)
{
  char dir[64], sub[330];
  bool used;
  DIR *d;
  struct dirent *e;

  snprintf (dir, sizeof dir, "/sys/block/%.32s", name);
  used = one_in_use (dir, name, why, len);
  d = opendir (dir);
  while (d && !used && (e = readdir (d)) != NULL)
    if (strncmp (e->d_name, name, strlen (name)) == 0 &&
        e->d_name[strlen (name)] == 'p') {
      snprintf (sub, sizeof sub, "%s/%s", dir, e->d_name);
      used = one_in_use (sub, e->d_name, why, len);
    }
  if (d)
    closedir (d);
  return used;
}
