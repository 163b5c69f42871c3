/* A call log shared by the test plugin and test filters that record the
 * callbacks they receive (test-layers-plugin.c, test-order-filter.c,
 * test-ctx-*-filter.c, test-fallback-filters.c).
 *
 * Every layer appends lines "STAMP LAYER EVENT..." to one file, where
 * STAMP is CLOCK_MONOTONIC in nanoseconds.  The file's path comes from
 * the orderlog=PATH key, which the plugin claims and which each filter
 * sees on its way down (config chaining) and passes on.  Callbacks that
 * happen before a layer has seen the key (.load, early .config) are kept
 * in memory and written when it does, so those lines reach the file out
 * of order: sorting on STAMP (which the test does) restores the order in
 * which the callbacks really ran.  Lines written after that are in file
 * order and stamp order at once.
 *
 * Each .so links its own copy of test-layer-log.c, built with
 * -fvisibility=hidden so that one layer never calls another's copy (the
 * server loads layers with RTLD_GLOBAL).
 */
#ifndef TEST_LAYER_LOG_H
#define TEST_LAYER_LOG_H

/* The short name that starts this layer's lines ("a", "plugin", ...). */
extern void layer_log_name (const char *layer);

/* Called with every config key: opens the log when KEY is "orderlog".
 * Returns -1 (with nbdkit_error) if the file cannot be opened.
 */
extern int layer_log_config (const char *key, const char *value);

/* Appends one line; thread-safe, one write(2) per line. */
extern void layer_log (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Closes the file (from .unload, after its last line). */
extern void layer_log_close (void);

#endif /* TEST_LAYER_LOG_H */
