/* nbdattach: /dev/nbdN devices as sysfs shows them, backend names, and
 * the small state files that let --list name the plugin behind a device.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libkmod.h>

#include "nbdattach.h"
#include "ublk.h"

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"

/* "/dev/nbd3", "nbd3" or "3" → 3; -1 if it is none of these. */
int
parse_device (const char *arg)
{
  const char *p = arg;
  char *end;
  long n;

  if (strncmp (p, "/dev/", 5) == 0)
    p += 5;
  if (strncmp (p, "nbd", 3) == 0)
    p += 3;
  if (!isdigit ((unsigned char) *p))
    return -1;
  errno = 0;
  n = strtol (p, &end, 10);
  if (errno || *end || n < 0 || n > 0xfffffffe)
    return -1;
  return n;
}

/* Reads a small sysfs file into BUF without its trailing newline. */
static int
read_sysfs (int index, const char *file, char *buf, size_t len)
{
  char path[128];
  ssize_t r;
  int fd;

  snprintf (path, sizeof path, "/sys/block/nbd%d/%s", index, file);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return -1;
  r = read (fd, buf, len - 1);
  close (fd);
  if (r < 0)
    return -1;
  buf[r] = '\0';
  while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
    buf[--r] = '\0';
  return 0;
}

bool
device_connected (int index)
{
  char buf[32];

  return read_sysfs (index, "pid", buf, sizeof buf) == 0;
}

pid_t
device_pid (int index)
{
  char buf[32];

  if (read_sysfs (index, "pid", buf, sizeof buf) == -1)
    return -1;
  return atoi (buf);
}

uint64_t
device_size (int index)
{
  char buf[32];

  if (read_sysfs (index, "size", buf, sizeof buf) == -1)
    return 0;
  return strtoull (buf, NULL, 10) * 512;
}

char *
device_backend (int index)
{
  char buf[256];

  if (read_sysfs (index, "backend", buf, sizeof buf) == -1)
    buf[0] = '\0';
  return strdup (buf);
}

/* The numbers N of the entries PREFIXN in directory DIR, sorted: nbd
 * devices in /sys/block, ublk ones in /dev (ublkcN).
 */
static int
compare_ints (const void *a, const void *b)
{
  return *(const int *) a - *(const int *) b;
}

int *
numbered_entries (const char *dirname, const char *prefix, size_t *n)
{
  DIR *dir = opendir (dirname);
  size_t plen = strlen (prefix);
  struct dirent *d;
  int *list = NULL;

  *n = 0;
  if (dir == NULL)
    return NULL;
  while ((d = readdir (dir)) != NULL) {
    char *end;
    long index;
    int *p;

    if (strncmp (d->d_name, prefix, plen) != 0 ||
        !isdigit ((unsigned char) d->d_name[plen]))
      continue;
    errno = 0;
    index = strtol (d->d_name + plen, &end, 10);
    if (errno || *end || index < 0 || index > 0xfffffffe)
      continue;
    p = realloc (list, (*n + 1) * sizeof *p);
    if (p == NULL)
      break;
    list = p;
    list[(*n)++] = index;
  }
  closedir (dir);
  if (list)
    qsort (list, *n, sizeof *list, compare_ints);
  return list;
}

static int *
all_devices (size_t *n)
{
  return numbered_entries ("/sys/block", "nbd", n);
}

/* A device given as a path/index, or the device whose backend is NAME. */
int
find_device (const char *dev_or_name)
{
  int index = parse_device (dev_or_name);
  size_t i, n;
  int *list;

  if (index >= 0)
    return index;
  list = all_devices (&n);
  for (i = 0; i < n; ++i) {
    char *backend = device_backend (list[i]);
    bool match = backend && strcmp (backend, dev_or_name) == 0 &&
      device_connected (list[i]);
    free (backend);
    if (match) {
      index = list[i];
      break;
    }
  }
  free (list);
  return index;
}

/* For the ioctl path, which cannot ask the kernel to choose. */
int
first_free_device (void)
{
  size_t i, n;
  int *list = all_devices (&n);
  int index = -1;

  for (i = 0; i < n; ++i)
    if (!device_connected (list[i]) && device_size (list[i]) == 0) {
      index = list[i];
      break;
    }
  free (list);
  return index;
}

/* ---- state files: /run/nbdattach/DEV (nbdN, ublkbN) ---- */

static void
state_path (const char *dev, char *path, size_t len)
{
  snprintf (path, len, "%s/%s", STATE_DIR, dev);
}

static void
nbd_name (int index, char *dev, size_t len)
{
  snprintf (dev, len, "nbd%d", index);
}

/* Writes TEXT as the state directory's file FILE, whole or not at all. */
void
write_state_text (const char *file, const char *text)
{
  char path[128], tmp[140];
  FILE *fp;

  if (mkdir (STATE_DIR, 0755) == -1 && errno != EEXIST)
    return;                     /* --list will just know less */
  state_path (file, path, sizeof path);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fp = fopen (tmp, "we");
  if (fp == NULL)
    return;
  fputs (text, fp);
  if (fclose (fp) == 0)
    rename (tmp, path);
  else
    unlink (tmp);
}

/* EXTRA (may be NULL) is more "key=value\n" lines. */
void
write_state_file (const char *dev, const char *plugin, const char *name,
                  const char *extra)
{
  char *text;

  if (asprintf (&text, "pid=%d\nplugin=%s\nname=%s\n%s", (int) getpid (),
                plugin, name ? name : "", extra ? extra : "") == -1)
    return;
  write_state_text (dev, text);
  free (text);
}

void
remove_state_file (const char *dev)
{
  char path[128];

  state_path (dev, path, sizeof path);
  unlink (path);
}

char *
read_state_file (const char *dev, const char *key)
{
  char path[128], line[512];
  size_t klen = strlen (key);
  char *value = NULL;
  FILE *fp;

  state_path (dev, path, sizeof path);
  fp = fopen (path, "re");
  if (fp == NULL)
    return NULL;
  while (fgets (line, sizeof line, fp)) {
    if (strncmp (line, key, klen) == 0 && line[klen] == '=') {
      line[strcspn (line, "\n")] = '\0';
      value = strdup (line + klen + 1);
      break;
    }
  }
  fclose (fp);
  return value;
}

/* Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, it
 * names one process for good, so that a pid the system has given to
 * another process since is not taken for the daemon.  0 if PID is gone
 * or a zombie (whose descriptors, and so sockets, are closed already).
 */
static unsigned long long
process_start_time (pid_t pid)
{
  char path[64], buf[1024], *p;
  unsigned long long start = 0;
  ssize_t r;
  int fd, field;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return 0;
  r = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (r <= 0)
    return 0;
  buf[r] = '\0';
  /* The command name may hold spaces and parentheses: fields are
   * counted from the last ")", which ends it; field 3 is the state.
   */
  p = strrchr (buf, ')');
  if (p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
    return 0;
  for (field = 3, p += 2; field < 22 && p; ++field) {
    p = strchr (p, ' ');
    if (p)
      ++p;
  }
  if (p)
    start = strtoull (p, NULL, 10);
  return start;
}

void
write_state (int index, const char *plugin, const char *name)
{
  char dev[32], extra[256];

  nbd_name (index, dev, sizeof dev);
  /* For --reattach (reattach.c) and device_daemon. */
  snprintf (extra, sizeof extra, "start=%llu\nconnections=%d\n"
            "dead_timeout=%" PRIu64 "\nkernel_pid=%d\n",
            process_start_time (getpid ()), connections, dead_timeout,
            (int) device_pid (index));
  write_state_file (dev, plugin, name, extra);
}

void
remove_state (int index)
{
  char dev[32];

  nbd_name (index, dev, sizeof dev);
  remove_state_file (dev);
}

char *
read_state (int index, const char *key)
{
  char dev[32];

  nbd_name (index, dev, sizeof dev);
  return read_state_file (dev, key);
}

/* The process serving device INDEX: the pid in its state file (the
 * kernel's /sys/block/nbdN/pid keeps the first daemon's pid across a
 * --reattach), or sysfs's for a device some other program attached.
 * *ALIVE says whether it still runs: for a state file's pid, the same
 * process that wrote it (the start time recorded with it matches).
 * -1 if the device names no process.
 */
pid_t
device_daemon (int index, bool *alive)
{
  char *spid = read_state (index, "pid");
  char *sstart = read_state (index, "start");
  char *skernel = read_state (index, "kernel_pid");
  pid_t pid = spid ? atoi (spid) : -1;
  unsigned long long now;

  /* A state file left from an earlier connection of the device (its
   * daemon died, then something else detached and attached it) is not
   * this one's.
   */
  if (spid == NULL || (skernel && atoi (skernel) != device_pid (index))) {
    pid = device_pid (index);
    free (sstart);
    sstart = NULL;
  }
  free (skernel);
  *alive = false;
  if (pid > 0) {
    now = process_start_time (pid);
    if (sstart && strtoull (sstart, NULL, 10) != 0)
      *alive = now == strtoull (sstart, NULL, 10);
    else
      *alive = now != 0;
  }
  free (spid);
  free (sstart);
  return pid > 0 ? pid : -1;
}

/* A device the kernel still has whose daemon is gone: its requests wait
 * for a --reattach, up to the dead-connection timeout, then fail.
 */
bool
device_orphaned (int index, pid_t *pid)
{
  bool alive;
  pid_t p;

  if (!device_connected (index))
    return false;
  p = device_daemon (index, &alive);
  if (pid)
    *pid = p;
  return !alive;
}

/* --list: one line per device, with a header. */
int
list_devices (void)
{
  size_t i, n;
  int *list = all_devices (&n);

  /* TRANSPORT last, so that scripts reading the columns before it
   * keep working.
   */
  printf ("%-6s %-12s %14s %-9s %-20s %-8s %-12s %s\n",
          "INDEX", "DEVICE", "SIZE", "CONNECTED", "NAME", "PID", "PLUGIN",
          "TRANSPORT");
  for (i = 0; i < n; ++i) {
    int index = list[i];
    bool connected = device_connected (index), alive = false;
    pid_t daemon = connected ? device_daemon (index, &alive) : -1;
    char *backend = device_backend (index);
    char *plugin = connected ? read_state (index, "plugin") : NULL;
    char dev[32];
    char pid[16] = "-";

    if (alive)
      snprintf (pid, sizeof pid, "%d", (int) daemon);
    snprintf (dev, sizeof dev, "/dev/nbd%d", index);
    printf ("%-6d %-12s %14llu %-9s %-20s %-8s %-12s %s\n",
            index, dev, (unsigned long long) device_size (index),
            !connected ? "no" : alive ? "yes" : "orphan",
            backend && *backend ? backend : "-", pid,
            plugin && *plugin ? plugin : "-", "nbd");
    /* Said apart from the table, which scripts read. */
    if (connected && !alive) {
      char who[32] = "";
      if (daemon > 0)
        snprintf (who, sizeof who, " (pid %d)", (int) daemon);
      fprintf (stderr, "nbdattach: %s is orphaned: its daemon%s is gone; "
               "--reattach it (its I/O waits for that until the "
               "dead-connection timeout, then fails) or --detach it\n",
               dev, who);
    }
    free (backend);
    free (plugin);
  }
  free (list);
  ublk_list_devices ();
  return 0;
}

/* Loads a kernel module, as modprobe would (libkmod): nbd, ublk_drv. */
int
load_kernel_module (const char *name)
{
  struct kmod_ctx *ctx = kmod_new (NULL, NULL);
  struct kmod_module *mod = NULL;
  int r;

  if (ctx == NULL)
    return -1;
  /* The caller reports failure in its own words. */
  kmod_set_log_priority (ctx, 0);
  r = kmod_module_new_from_name (ctx, name, &mod);
  if (r == 0)
    r = kmod_module_probe_insert_module (mod, KMOD_PROBE_APPLY_BLACKLIST,
                                         NULL, NULL, NULL, NULL);
  if (mod)
    kmod_module_unref (mod);
  kmod_unref (ctx);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

int
load_nbd_module (void)
{
  return load_kernel_module ("nbd");
}
