// LEB128 unsigned varints (7 bits per byte, low bits first, high bit = more), the small counts
// and lengths of the dedup run list and the rANS frequency table. Readers are bounded by the end
// of their section and refuse values that do not fit the value type or the caller's bit limit;
// a non-minimal encoding of a value that fits (0x80 0x00 for 0) is accepted.
#pragma once

#include <cstdint>

#include "squeeze/hd.h"

namespace squeeze::varint {

// Bytes the encoding of v takes (1..10).
SQZ_HD uint32_t size(uint64_t v) {
  uint32_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes v at p; returns the bytes written.
SQZ_HD uint32_t put(uint8_t* p, uint64_t v) {
  uint32_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

// Reads one varint from [*p, end) into *v, advancing *p. False on a truncated encoding, one of
// more than 10 bytes, or a value that does not fit max_bits bits.
SQZ_HD bool get(const uint8_t** p, const uint8_t* end, uint64_t* v, uint32_t max_bits = 64) {
  uint64_t r = 0;
  uint32_t shift = 0;
  const uint8_t* q = *p;
  for (;;) {
    if (q >= end || shift >= 64) return false;
    const uint8_t b = *q++;
    const uint64_t bits = (uint64_t)(b & 0x7f);
    if (shift > 0 && (bits >> (64 - shift)) != 0) return false;  // past 64 bits
    r |= bits << shift;
    shift += 7;
    if ((b & 0x80) == 0) break;
  }
  if (max_bits < 64 && (r >> max_bits) != 0) return false;
  *p = q;
  *v = r;
  return true;
}

}  // namespace squeeze::varint
