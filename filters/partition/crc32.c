/* blockkit: the CRC-32 GPT uses (IEEE 802.3, reflected polynomial
 * 0xEDB88320, initial and final value 0xFFFFFFFF).  Bit by bit: it runs
 * once per connection over a few kilobytes, so no table is needed.
 */
#include <config.h>

#include <stddef.h>
#include <stdint.h>

#include "table.h"

uint32_t
crc32_ieee (const void *buf, size_t len)
{
  const uint8_t *p = buf;
  uint32_t crc = 0xffffffff;
  size_t i;
  int k;

  for (i = 0; i < len; ++i) {
    crc ^= p[i];
    for (k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return crc ^ 0xffffffff;
}
