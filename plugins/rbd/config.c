/* blockkit: the rbd plugin's keys, and its one connection to the cluster.
 *
 * The keys are checked as far as they can be without the network when the
 * server starts (.config_complete: a throwaway librados handle reads conf=
 * and takes every option, so a typo is reported naming its key before the
 * server even listens).  The real connection and the image are opened in
 * .after_fork, after the server has daemonized: librados runs threads of
 * its own, which would not survive the fork.  Every way that can fail is
 * turned into one error that names the key to look at; nothing can hang,
 * because the mount, monitor and OSD timeouts are bounded unless the user
 * or ceph.conf say otherwise.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <dlfcn.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "rbd-plugin.h"

struct rbd_config cfg = { .parent_extents = true };
struct rbd_state rbd;

/* "pool/[ns/]image[@snap]", formatted once in .config_complete: it is
 * then used from any thread, librbd's included, without allocating. */
static char image_name[1024];

/* Librados waits forever by default for a monitor op or an OSD op, and 300 s
 * to mount.  A server must give its clients an error instead of a hang (the
 * retry filter can then act on it), so unless ceph.conf, $CEPH_ARGS or a
 * key sets them, these apply.
 */
static const struct { const char *key, *value; } default_timeouts[] = {
  { "client_mount_timeout", "15" },
  { "rados_mon_op_timeout", "15" },
  { "rados_osd_op_timeout", "30" },
};

/* image=POOL[/NAMESPACE]/IMAGE[@SNAP]: each part must be non-empty. */
static int
parse_image (const char *value)
{
  char *copy = strdup (value);
  char *at, *parts[3] = { NULL, NULL, NULL };
  unsigned n = 0;
  char *p, *save = NULL;

  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  at = strchr (copy, '@');
  if (at) {
    *at = '\0';
    if (at[1] == '\0') {
      nbdkit_error ("image=%s: the snapshot name after '@' is empty", value);
      goto err;
    }
    cfg.snap = nbdkit_strdup_intern (at + 1);
  }
  /* Count slashes first: strtok_r would silently merge "a//b". */
  for (p = copy; *p; ++p)
    n += *p == '/';
  if (n > 2 || copy[0] == '/' || (*copy && p[-1] == '/') ||
      strstr (copy, "//") || *copy == '\0') {
    nbdkit_error ("image=%s: expected POOL/IMAGE, POOL/NAMESPACE/IMAGE "
                  "or IMAGE, each optionally followed by @SNAP", value);
    goto err;
  }
  n = 0;
  for (p = strtok_r (copy, "/", &save); p && n < 3;
       p = strtok_r (NULL, "/", &save))
    parts[n++] = p;
  if (n == 1)
    cfg.image = nbdkit_strdup_intern (parts[0]);
  else {
    cfg.pool = nbdkit_strdup_intern (parts[0]);
    if (n == 3)
      cfg.nspace = nbdkit_strdup_intern (parts[1]);
    cfg.image = nbdkit_strdup_intern (parts[n - 1]);
  }
  free (copy);
  return 0;
 err:
  free (copy);
  return -1;
}

int
rbdp_config (const char *key, const char *value)
{
  if (strcmp (key, "image") == 0)
    return parse_image (value);
  if (strcmp (key, "pool") == 0)
    cfg.pool = value;
  else if (strcmp (key, "namespace") == 0)
    cfg.nspace = value;
  else if (strcmp (key, "snap") == 0)
    cfg.snap = value;
  else if (strcmp (key, "id") == 0 || strcmp (key, "user") == 0) {
    /* Accept "client.admin" as well as "admin", as the rbd tool does. */
    if (strncmp (value, "client.", 7) == 0)
      value += 7;
    if (*value == '\0') {
      nbdkit_error ("%s: the client id is empty", key);
      return -1;
    }
    cfg.id = value;
  }
  else if (strcmp (key, "conf") == 0) {
    char *abs;
    if (access (value, R_OK) == -1) {
      nbdkit_error ("conf=%s: %m", value);
      return -1;
    }
    abs = nbdkit_realpath (value);
    if (abs == NULL)
      return -1;
    cfg.conf = nbdkit_strdup_intern (abs);
    free (abs);
  }
  else if (strcmp (key, "keyring") == 0) {
    char *abs;
    if (access (value, R_OK) == -1) {
      nbdkit_error ("keyring=%s: %m", value);
      return -1;
    }
    abs = nbdkit_realpath (value);
    if (abs == NULL)
      return -1;
    cfg.keyring = nbdkit_strdup_intern (abs);
    free (abs);
  }
  else if (strcmp (key, "cluster") == 0)
    cfg.cluster = value;
  else if (strcmp (key, "parent-extents") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    cfg.parent_extents = r;
  }
  else if (strchr (key, '_')) {
    /* A Ceph option: checked in .config_complete, set before connecting. */
    const char **k = realloc (cfg.opt_keys, (cfg.nopts + 1) * sizeof *k);
    if (k == NULL) {
      nbdkit_error ("realloc: %m");
      return -1;
    }
    cfg.opt_keys = k;
    const char **v = realloc (cfg.opt_values, (cfg.nopts + 1) * sizeof *v);
    if (v == NULL) {
      nbdkit_error ("realloc: %m");
      return -1;
    }
    cfg.opt_values = v;
    cfg.opt_keys[cfg.nopts] = key;
    cfg.opt_values[cfg.nopts] = value;
    cfg.nopts++;
  }
  else {
    nbdkit_error ("unknown parameter '%s' (Ceph options are spelt with "
                  "underscores, e.g. rbd_cache=false)", key);
    return -1;
  }
  return 0;
}

/* Make a librados handle (not connected) with everything the user said
 * applied, in Ceph's own order of precedence: our timeouts only where
 * Ceph's default is still in force after ceph.conf and $CEPH_ARGS, then
 * the keys given on the command line, which win.
 */
static int
make_handle (rados_t *out)
{
  char name[256];
  char before[3][64];
  unsigned i;
  int r;

  snprintf (name, sizeof name, "client.%s", cfg.id ? cfg.id : "admin");
  r = rados_create2 (out, cfg.cluster ? cfg.cluster : "ceph", name, 0);
  if (r < 0) {
    nbdkit_error ("rbd: rados_create2 (cluster=%s, id=%s): %s",
                  cfg.cluster ? cfg.cluster : "ceph", name, strerror (-r));
    return -1;
  }
  for (i = 0; i < 3; ++i)
    if (rados_conf_get (*out, default_timeouts[i].key, before[i],
                        sizeof before[i]) < 0)
      before[i][0] = '\0';

  r = rados_conf_read_file (*out, cfg.conf);
  if (r < 0 && cfg.conf) {
    nbdkit_error ("conf=%s: cannot be read or parsed: %s",
                  cfg.conf, strerror (-r));
    goto err;
  }
  /* Without conf=, Ceph's search path ($CEPH_CONF, /etc/ceph/ceph.conf)
   * may find nothing: connecting will then say what is missing. */
  r = rados_conf_parse_env (*out, NULL);
  if (r < 0) {
    nbdkit_error ("rbd: $CEPH_ARGS cannot be parsed: %s", strerror (-r));
    goto err;
  }

  for (i = 0; i < 3; ++i) {
    char now[64];
    if (rados_conf_get (*out, default_timeouts[i].key, now, sizeof now) == 0 &&
        strcmp (now, before[i]) == 0)
      rados_conf_set (*out, default_timeouts[i].key, default_timeouts[i].value);
  }

  if (cfg.keyring) {
    r = rados_conf_set (*out, "keyring", cfg.keyring);
    if (r < 0) {
      nbdkit_error ("keyring=%s: %s", cfg.keyring, strerror (-r));
      goto err;
    }
  }
  for (i = 0; i < cfg.nopts; ++i) {
    r = rados_conf_set (*out, cfg.opt_keys[i], cfg.opt_values[i]);
    if (r == -ENOENT) {
      nbdkit_error ("%s: not a Ceph option (nor a key of this plugin)",
                    cfg.opt_keys[i]);
      goto err;
    }
    if (r < 0) {
      nbdkit_error ("%s=%s: Ceph does not take this value: %s",
                    cfg.opt_keys[i], cfg.opt_values[i], strerror (-r));
      goto err;
    }
  }
  return 0;

 err:
  rados_shutdown (*out);
  return -1;
}

int
rbdp_config_complete (void)
{
  rados_t check;

  if (cfg.image == NULL) {
    nbdkit_error ("image=POOL/IMAGE is required");
    return -1;
  }
  if (cfg.pool == NULL)
    cfg.pool = "rbd";
  if (strchr (cfg.image, '@') || strchr (cfg.image, '/')) {
    nbdkit_error ("image=%s: use image=POOL/IMAGE@SNAP, or pool= and snap= "
                  "alongside a bare image name", cfg.image);
    return -1;
  }

  snprintf (image_name, sizeof image_name, "%s/%s%s%s%s%s", cfg.pool,
            cfg.nspace ? cfg.nspace : "", cfg.nspace ? "/" : "", cfg.image,
            cfg.snap ? "@" : "", cfg.snap ? cfg.snap : "");

  /* Every key that can be checked offline is checked now. */
  if (make_handle (&check) == -1)
    return -1;
  rados_shutdown (check);
  return 0;
}

const char *
rbdp_image_name (void)
{
  return image_name;
}

/* Why rados_connect failed, in words that point at the key to fix. */
static void
connect_error (int r)
{
  char mon[256] = "", timeout[64] = "";

  rados_conf_get (rbd.cluster, "mon_host", mon, sizeof mon);
  rados_conf_get (rbd.cluster, "client_mount_timeout", timeout, sizeof timeout);
  switch (-r) {
  case ETIMEDOUT:
    nbdkit_error ("rbd: no monitor of the cluster answered within "
                  "client_mount_timeout=%s s (mon_host=%s, conf=%s)",
                  timeout, *mon ? mon : "(none)",
                  cfg.conf ? cfg.conf : "(Ceph's default)");
    break;
  case EACCES: case EPERM:
    nbdkit_error ("rbd: the cluster refused client.%s: authentication "
                  "failed (check id= and keyring=%s)",
                  cfg.id ? cfg.id : "admin",
                  cfg.keyring ? cfg.keyring : "(from ceph.conf)");
    break;
  case ENOENT:
    nbdkit_error ("rbd: cannot connect as client.%s: no key for it was "
                  "found or no monitor is configured (check id=, keyring=%s "
                  "and conf=%s)", cfg.id ? cfg.id : "admin",
                  cfg.keyring ? cfg.keyring : "(from ceph.conf)",
                  cfg.conf ? cfg.conf : "(Ceph's default)");
    break;
  default:
    nbdkit_error ("rbd: cannot connect to the cluster (mon_host=%s, "
                  "conf=%s): %s", *mon ? mon : "(none)",
                  cfg.conf ? cfg.conf : "(Ceph's default)", strerror (-r));
  }
}

/* librbd calls this, in one of its own threads, when the image header
 * changes (resize, snapshots, features) by any client.  librbd refreshes
 * the handle itself before its next call, so rbd_get_size in a new
 * connection's .get_size sees the new size.  Nothing here calls back into
 * librbd (that could wait on the very thread running this), so whether
 * the size is what changed is not known here: nbdkit_size_changed only
 * asks, without blocking, for the size to be read again later.  Under
 * nbdattach that makes the device follow `rbd resize` (a change the
 * size leaves alone costs one size query); the network server ignores it.
 */
static void
header_changed (void *arg)
{
  static _Atomic unsigned changes;

  (void) arg;
  nbdkit_debug ("rbd: %s changed (notification %u)", rbdp_image_name (),
                ++changes);
  nbdkit_size_changed ();
}

/* Open the image, saying which part of image= is wrong if it fails. */
static int
open_image (void)
{
  int r = rbd_open (rbd.ioctx, cfg.image, &rbd.image, cfg.snap);
  rbd_image_t head;

  if (r == 0)
    return 0;
  if (r == -ENOENT && cfg.snap &&
      rbd_open_read_only (rbd.ioctx, cfg.image, &head, NULL) == 0) {
    rbd_close (head);
    nbdkit_error ("snap=%s: image %s/%s%s%s has no such snapshot",
                  cfg.snap, cfg.pool, cfg.nspace ? cfg.nspace : "",
                  cfg.nspace ? "/" : "", cfg.image);
  }
  else if (r == -ENOENT)
    nbdkit_error ("image=%s: no such image in pool %s%s%s", cfg.image,
                  cfg.pool, cfg.nspace ? " namespace " : "",
                  cfg.nspace ? cfg.nspace : "");
  else if (r == -EPERM || r == -EACCES)
    nbdkit_error ("image=%s: client.%s may not open it (its caps on pool "
                  "%s): %s", rbdp_image_name (), cfg.id ? cfg.id : "admin",
                  cfg.pool, strerror (-r));
  else
    nbdkit_error ("image=%s: rbd_open: %s", rbdp_image_name (),
                  strerror (-r));
  return -1;
}

int
rbdp_after_fork (void)
{
  rbd_image_info_t info;
  char val[32];
  uint64_t features = 0;
  int r;

  if (make_handle (&rbd.cluster) == -1)
    return -1;
  r = rados_connect (rbd.cluster);
  if (r < 0) {
    connect_error (r);
    goto err_shutdown;
  }

  r = rados_ioctx_create (rbd.cluster, cfg.pool, &rbd.ioctx);
  if (r < 0) {
    if (r == -ENOENT)
      nbdkit_error ("pool=%s: no such pool in the cluster", cfg.pool);
    else
      nbdkit_error ("pool=%s: %s", cfg.pool, strerror (-r));
    goto err_shutdown;
  }
  if (cfg.nspace)
    rados_ioctx_set_namespace (rbd.ioctx, cfg.nspace);

  if (open_image () == -1)
    goto err_ioctx;

  r = rbd_stat (rbd.image, &info, sizeof info);
  if (r < 0) {
    nbdkit_error ("image=%s: rbd_stat: %s", rbdp_image_name (), strerror (-r));
    goto err_image;
  }
  rbd.object_size = info.obj_size;
  rbd_get_features (rbd.image, &features);
  /* A clone?  (rbd_image_info_t's parent fields are no longer filled in.) */
  {
    rbd_linked_image_spec_t pimage;
    rbd_snap_spec_t psnap;
    if (rbd_get_parent (rbd.image, &pimage, &psnap) == 0) {
      rbd.has_parent = true;
      nbdkit_debug ("rbd: a clone of %s/%s@%s", pimage.pool_name,
                    pimage.image_name, psnap.name);
      rbd_linked_image_spec_cleanup (&pimage);
      rbd_snap_spec_cleanup (&psnap);
    }
  }
  rbd.cache = rados_conf_get (rbd.cluster, "rbd_cache", val, sizeof val) == 0 &&
              strcmp (val, "true") == 0;

  /* A watch needs write access to the header; without it sizes are read
   * afresh only when librbd refreshes for another reason, which is not
   * worth failing for. */
  r = rbd_update_watch (rbd.image, &rbd.watch_handle, header_changed, NULL);
  if (r == 0)
    rbd.watching = true;
  else
    nbdkit_debug ("rbd: rbd_update_watch: %s (a resize by another client "
                  "may go unseen)", strerror (-r));

  nbdkit_debug ("rbd: opened %s: %" PRIu64 " bytes, objects of %" PRIu64
                ", features 0x%" PRIx64 "%s%s", rbdp_image_name (),
                (uint64_t) info.size, rbd.object_size, features,
                rbd.has_parent ? ", a clone" : "",
                rbd.cache ? ", rbd_cache on" : "");
  return 0;

 err_image:
  rbd_close (rbd.image);
  rbd.image = NULL;
 err_ioctx:
  rados_ioctx_destroy (rbd.ioctx);
  rbd.ioctx = NULL;
 err_shutdown:
  rados_shutdown (rbd.cluster);
  rbd.cluster = NULL;
  return -1;
}

/* Waits for C at most SECONDS; false if it has not completed by then (the
 * completion is then left to librbd: releasing it could free memory that
 * librbd's threads still use). */
static bool
wait_bounded (rbd_completion_t c, unsigned seconds)
{
  unsigned i;

  for (i = 0; i < seconds * 100; ++i) {
    if (rbd_aio_is_complete (c))
      return true;
    /* (Not nbdkit_nanosleep: it returns at once when the server quits.) */
    nanosleep (&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
  }
  return rbd_aio_is_complete (c);
}

/* The time the server may spend on each of flushing and closing the
 * image when it exits (stop_server in the tests allows 10 s in all). */
#define CLOSE_SECONDS 4

void
rbdp_cleanup (void)
{
  rbd_completion_t c;

  if (rbd.watching)
    rbd_update_unwatch (rbd.image, rbd.watch_handle);
  rbd.watching = false;
  if (rbd.image) {
    /* Anything librbd's cache still holds goes to the cluster, and the
     * image's lock and watch are given back.  With the cluster gone,
     * librbd can wait for it for ever (unregistering a watch is not
     * bounded by rados_osd_op_timeout), and a server must still exit:
     * after CLOSE_SECONDS the handles are abandoned to the exit. */
    if (rbd_aio_create_completion (NULL, NULL, &c) == 0) {
      if (rbd_aio_flush (rbd.image, c) < 0)
        rbd_aio_release (c);
      else if (wait_bounded (c, CLOSE_SECONDS))
        rbd_aio_release (c);
      else
        goto abandon;
    }
    if (rbd_aio_create_completion (NULL, NULL, &c) == 0) {
      if (rbd_aio_close (rbd.image, c) < 0) {
        rbd_aio_release (c);
        goto abandon;
      }
      if (!wait_bounded (c, CLOSE_SECONDS))
        goto abandon;
      rbd_aio_release (c);
    }
  }
  if (rbd.ioctx)
    rados_ioctx_destroy (rbd.ioctx);
  if (rbd.cluster)
    rados_shutdown (rbd.cluster);
  rbd.image = NULL;
  rbd.ioctx = NULL;
  rbd.cluster = NULL;
  return;

 abandon:
  nbdkit_error ("rbd: %s: the cluster did not answer within %d s while "
                "closing the image: exiting without closing it (its "
                "exclusive lock, if any, is released when the cluster sees "
                "this client gone)", rbdp_image_name (), CLOSE_SECONDS);
  /* librbd's threads still run: the libraries must stay mapped when the
   * server unloads this plugin on its way out. */
  dlopen ("librbd.so.1", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  dlopen ("librados.so.2", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

void
rbdp_unload (void)
{
  free (cfg.opt_keys);
  free (cfg.opt_values);
}

void
rbdp_dump_plugin (void)
{
  int maj, min, extra;

  rbd_version (&maj, &min, &extra);
  printf ("librbd_version=%d.%d.%d\n", maj, min, extra);
  rados_version (&maj, &min, &extra);
  printf ("librados_version=%d.%d.%d\n", maj, min, extra);
#ifdef LIBRBD_SUPPORTS_WRITE_ZEROES
  printf ("rbd_write_zeroes=yes\n");
#else
  printf ("rbd_write_zeroes=no\n");
#endif
}
