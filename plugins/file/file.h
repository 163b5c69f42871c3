/* blockkit: the file plugin's shared parts (file.c, file-dir.c,
 * file-space.c): the per-connection handle and the helpers the request
 * callbacks of more than one file use.
 */
#ifndef BLOCKKIT_FILE_H
#define BLOCKKIT_FILE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

/* dir=, absolute, or NULL when serving one file (file.c). */
extern char *directory;

struct handle {
  int fd;
  bool is_block_device;
  bool can_write;               /* opened read-write */
  bool can_extents;             /* SEEK_HOLE works */
  /* What fallocate/ioctl modes work here.  These only ever go from
   * true to false, so racing threads at worst try once more.
   */
  bool can_punch_hole;
  bool can_zero_range;
  bool can_fallocate;
  bool can_zeroout;
  bool can_discard;
};

/* Report an error without losing errno (the server reads it). */
#define FILE_ERROR(fmt, ...) do {                 \
    int saved_errno_ = errno;                     \
    nbdkit_error ("file: " fmt, ##__VA_ARGS__);   \
    errno = saved_errno_;                         \
  } while (0)

/* file.c */
extern int file_do_flush (struct handle *h);
extern void file_evict (struct handle *h, uint64_t offset, uint64_t count,
                        bool dirty);

/* file-dir.c: directory mode (dir=). */
extern int file_list_exports (int readonly, int is_tls,
                              struct nbdkit_exports *exports);
extern const char *file_default_export (int readonly, int is_tls);
extern char *file_dir_export_path (void);

/* file-space.c: zeroing, trimming and mapping holes. */
extern int file_zero (void *handle, uint32_t count, uint64_t offset,
                      uint32_t flags);
extern int file_trim (void *handle, uint32_t count, uint64_t offset,
                      uint32_t flags);
extern int file_extents (void *handle, uint32_t count, uint64_t offset,
                         uint32_t flags, struct nbdkit_extents *extents);

#endif /* BLOCKKIT_FILE_H */
