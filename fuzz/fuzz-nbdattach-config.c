/* libFuzzer target for nbdattach's configuration file parser
 * (nbdattach/config-parse.c): any bytes as the contents of a
 * NAME.conf.  The parser must never crash, leak, read out of bounds or
 * take more than linear time, and must either accept the text or reject
 * it with a message.  Its messages go to /dev/null here, not to
 * stderr, so that libFuzzer's own reports stay readable.
 *
 * The parser uses only the C library, so the target is built from two
 * files (see the seed corpus in fuzz/corpus/nbdattach-config/):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Inbdattach \
 *     fuzz/fuzz-nbdattach-config.c nbdattach/config-parse.c \
 *     -o fuzz-nbdattach-config
 *   ./fuzz-nbdattach-config fuzz/corpus/nbdattach-config
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbdattach.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct device_config cfg;
  size_t i;

  if (config_error_fp == NULL) {
    config_error_fp = fopen ("/dev/null", "we");
    if (config_error_fp == NULL)
      abort ();
  }

  if (config_parse ((const char *) data, size, "fuzz.conf", &cfg) == 0) {
    /* What the parser promises about a file it accepted. */
    if (cfg.plugin == NULL || cfg.plugin[0] == '\0')
      abort ();
    for (i = 0; i < cfg.n_options; ++i) {
      char *eq = strchr (cfg.options[i], '=');
      if (eq == NULL)
        abort ();
      *eq = '\0';
      if (!is_own_option (cfg.options[i]) ||
          check_option ("fuzz", cfg.options[i], eq + 1, NULL) == -1)
        abort ();
    }
    for (i = 0; i < cfg.n_params; ++i)
      if (strchr (cfg.params[i], '=') == NULL || cfg.param_lines[i] < 1)
        abort ();
    if (cfg.filters && cfg.filters[cfg.n_filters] != NULL)
      abort ();
  }
  device_config_free (&cfg);
  return 0;
}
