/* blockkit: the rbd plugin's shared declarations.
 *
 * The plugin serves one Ceph RBD image (or one snapshot of it) through
 * librbd.  config.c parses the keys and opens the cluster connection and
 * the image; rbd.c answers the requests.  Both halves share the single
 * `struct rbd_state` below: one cluster connection and one open image per
 * server process, used by every client connection at once (librbd image
 * handles are thread-safe and every connection sees every other's writes
 * through the same handle, which is what makes multi-conn truthful).
 */

#ifndef BLOCKKIT_RBD_PLUGIN_H
#define BLOCKKIT_RBD_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

/* What the user asked for (config.c fills it in). */
struct rbd_config {
  const char *pool;             /* pool= or from image= (default "rbd") */
  const char *nspace;           /* namespace= or from image=, or NULL */
  const char *image;            /* image name (required) */
  const char *snap;             /* snap= or image=...@SNAP, or NULL */
  const char *id;               /* id=/user=, without "client." (default admin) */
  const char *conf;             /* conf= (ceph.conf), or NULL: Ceph's search path */
  const char *keyring;          /* keyring=, or NULL: ceph.conf's */
  const char *cluster;          /* cluster= (default "ceph") */
  bool parent_extents;          /* parent-extents= (default true) */
  /* Other key=value pairs (with an underscore) for rados_conf_set. */
  unsigned nopts;
  const char **opt_keys;
  const char **opt_values;
};

/* What is open (config.c opens it in .after_fork). */
struct rbd_state {
  rados_t cluster;
  rados_ioctx_t ioctx;
  rbd_image_t image;
  uint64_t watch_handle;
  bool watching;
  uint64_t object_size;         /* for block_size and extents chunks */
  bool has_parent;              /* a clone: holes may read the parent's data */
  bool cache;                   /* rbd_cache on: .cache prefetches */
};

extern struct rbd_config cfg;
extern struct rbd_state rbd;

/* config.c */
extern int rbdp_config (const char *key, const char *value);
extern int rbdp_config_complete (void);
extern int rbdp_after_fork (void);
extern void rbdp_cleanup (void);
extern void rbdp_unload (void);
extern void rbdp_dump_plugin (void);
extern const char *rbdp_image_name (void);  /* "pool/[ns/]image[@snap]" */

#define rbdp_config_help \
  "image=POOL[/NAMESPACE]/IMAGE[@SNAP]  (required) The RBD image.\n" \
  "pool=, namespace=, snap=         Parts of image= given separately.\n" \
  "id=ID | user=ID                  Ceph client id (default: admin).\n" \
  "conf=CEPH.CONF                   Ceph configuration file.\n" \
  "keyring=FILE                     The client's keyring.\n" \
  "cluster=NAME                     Cluster name (default: ceph).\n" \
  "parent-extents=BOOL              A clone's map includes its parent's data.\n" \
  "any_ceph_option=VALUE            Passed to rados_conf_set (e.g. rbd_cache=false)."

#endif /* BLOCKKIT_RBD_PLUGIN_H */
