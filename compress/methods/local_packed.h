// Packed local records (capability kCapPackedRecords): the local quantizer's block records at
// field widths of the frame's own, for a receiver that declared it. Shared by the CPU and CUDA
// backends (SQZ_HD).
//
// A 3-byte record spends 4 bits on the octave, 9 on the step's mantissa and 11 on z, while a
// frame's records use a few octaves, and z (where zero sits in the block's range) spreads over a
// few hundred values: a trained payload's records at local 1e-2 carry 17-19 bits of information
// in their 24. A packed frame also keeps fewer bits of precision where the bound leaves room
// (local::record_precision): the step's low mantissa bits and z's eighths then are zero, and
// packing drops them. Each record becomes three fields of fixed widths for the frame:
//   octave - oct_min          in oct_bits    (15, a special record, is an octave like the others)
//   mantissa >> mant_shift    in 9 - mant_shift bits; a special record's kind (1..3)
//   (z - z_min) >> z_shift    in z_bits; 0 for a special record
// so that any record is found at k * record_bits without reading the ones before it: a GPU
// decoder's threads each read their own. The quant section is then
//   E0, W, rlog, kRecordsPacked, the packed head (kPackedHeadBytes), the records' bits (LSB
//   first, the last byte's unused bits zero), the side entries (8 bytes each, as before).
// A decoder expands each record into the 24-bit record it stands for and checks it as any other
// (local::parse), so packing changes how records are stored, never what they mean.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/methods/local.h"
#include "squeeze/hd.h"

namespace squeeze::local {

// Byte 3 of the quant section (reserved as 0 before kCapPackedRecords).
constexpr uint8_t kRecordsFixed = 0;   // 3-byte records
constexpr uint8_t kRecordsPacked = 1;  // packed records
// oct_min, oct_bits, mant_shift, z_shift, z_min (u16), z_bits.
constexpr uint32_t kPackedHeadBytes = 7;
// A value no record expands to: octave 15 with kind 0 (local::parse rejects it), what a decoder
// sees for a packed record whose fields name no record.
constexpr uint32_t kInvalidRecord = kSpecialOctave;

struct PackedLayout {
  uint32_t oct_min = 0, oct_bits = 0;
  uint32_t mant_shift = 0;
  uint32_t z_shift = 0, z_min = 0, z_bits = 0;
  uint32_t record_bits = 0;  // oct_bits + (9 - mant_shift) + z_bits
};

// The extremes of a frame's records, literal or not (references' records too: the CPU encoder
// then reads them in one pass over contiguous records), folded record by record in any order and
// split (the CUDA encoder folds per thread and merges).
struct RecordRange {
  uint32_t oct_min = kSpecialOctave, oct_max = 0;
  uint32_t z_min = kMaxZ, z_max = 0;
};
// A special record's z bits are 0: they leave z_max as it is, and z_min is kept from them by a
// select rather than a branch.
SQZ_HD void add_record(RecordRange* r, uint32_t record) {
  const uint32_t oct = record & 15u;
  r->oct_min = oct < r->oct_min ? oct : r->oct_min;
  r->oct_max = oct > r->oct_max ? oct : r->oct_max;
  const uint32_t z = record >> 13;
  const uint32_t z_low = is_quant_record(record) ? z : kMaxZ;
  r->z_min = z_low < r->z_min ? z_low : r->z_min;
  r->z_max = z > r->z_max ? z : r->z_max;
}
// The range of records [0, n) (the CPU encoder's: a frame's every record, contiguous).
SQZ_HD RecordRange range_of(const uint32_t* records, uint64_t n) {
  RecordRange r;
  for (uint64_t i = 0; i < n; ++i) add_record(&r, records[i]);
  return r;
}

SQZ_HD RecordRange merge(const RecordRange& a, const RecordRange& b) {
  RecordRange r;
  r.oct_min = a.oct_min < b.oct_min ? a.oct_min : b.oct_min;
  r.oct_max = a.oct_max > b.oct_max ? a.oct_max : b.oct_max;
  r.z_min = a.z_min < b.z_min ? a.z_min : b.z_min;
  r.z_max = a.z_max > b.z_max ? a.z_max : b.z_max;
  return r;
}
// A range as one 64-bit word and back (the CUDA encoder's per-thread partials): four 16-bit
// fields.
SQZ_HD uint64_t range_word(const RecordRange& r) {
  return (uint64_t)r.oct_min | (uint64_t)r.oct_max << 16 | (uint64_t)r.z_min << 32 |
         (uint64_t)r.z_max << 48;
}
SQZ_HD RecordRange range_of_word(uint64_t w) {
  RecordRange r;
  r.oct_min = (uint32_t)(w & 0xffffu);
  r.oct_max = (uint32_t)((w >> 16) & 0xffffu);
  r.z_min = (uint32_t)((w >> 32) & 0xffffu);
  r.z_max = (uint32_t)(w >> 48);
  return r;
}

SQZ_HD uint32_t width_of(uint32_t max_value) {
  uint32_t b = 0;
  while (b < 32 && (max_value >> b) != 0) ++b;
  return b;
}

SQZ_HD uint32_t packed_record_bits(const PackedLayout& l) {
  return l.oct_bits + (kMantBits - l.mant_shift) + l.z_bits;
}

// The layout of records with range r, made at precision prec (their mantissas and z values are
// multiples of it). With no quant record z takes no bits.
SQZ_HD PackedLayout packed_layout(const RecordRange& r, RecordPrecision prec) {
  PackedLayout l;
  l.mant_shift = prec.mant_shift;
  l.z_shift = prec.z_shift;
  if (r.oct_min <= r.oct_max) {
    l.oct_min = r.oct_min;
    l.oct_bits = width_of(r.oct_max - r.oct_min);
  }
  if (r.z_min <= r.z_max) {
    l.z_min = r.z_min;
    l.z_bits = width_of((r.z_max - r.z_min) >> prec.z_shift);
  }
  l.record_bits = packed_record_bits(l);
  return l;
}

// The bytes n packed records take after the quant section's 4-byte head (the packed head and
// the records), before the side entries.
SQZ_HD uint64_t packed_bytes(const PackedLayout& l, uint64_t n) {
  return kPackedHeadBytes + (n * l.record_bits + 7) / 8;
}
SQZ_HD uint64_t fixed_bytes(uint64_t n) {
  return n * kRecordBytes;
}

// Whether a frame's n literal records go packed (layout l), for a receiver that reads them: when
// they come out smaller than 3-byte records (a frame of very few records keeps those). Both
// encoders' rule.
SQZ_HD bool use_packed(const PackedLayout& l, uint64_t n) {
  return packed_bytes(l, n) < fixed_bytes(n);
}

SQZ_HD void write_packed_head(const PackedLayout& l, uint8_t* p) {
  p[0] = (uint8_t)l.oct_min;
  p[1] = (uint8_t)l.oct_bits;
  p[2] = (uint8_t)l.mant_shift;
  p[3] = (uint8_t)l.z_shift;
  p[4] = (uint8_t)l.z_min;
  p[5] = (uint8_t)(l.z_min >> 8);
  p[6] = (uint8_t)l.z_bits;
}

// Parses and checks the packed head (kPackedHeadBytes at p): every field within its range, z_min
// on its grid, a record no wider than 24 bits.
SQZ_HD bool read_packed_head(const uint8_t* p, PackedLayout* l) {
  l->oct_min = p[0];
  l->oct_bits = p[1];
  l->mant_shift = p[2];
  l->z_shift = p[3];
  l->z_min = (uint32_t)p[4] | (uint32_t)p[5] << 8;
  l->z_bits = p[6];
  if (l->oct_min > kSpecialOctave || l->oct_bits > 4 || l->mant_shift > kMaxMantShift ||
      l->z_shift > kMaxZShift || l->z_min > kMaxZ || (l->z_min & ((1u << l->z_shift) - 1u)) != 0 ||
      l->z_bits > 11)
    return false;
  l->record_bits = packed_record_bits(*l);
  return true;
}

// The fields of a record in layout l, as packed. The encoder's records fit (packed_layout of
// their range and precision); a record that does not is a bug the tests look for.
SQZ_HD uint32_t packed_fields(const PackedLayout& l, uint32_t record) {
  const uint32_t oct = record & 15u;
  const uint32_t mant_bits = kMantBits - l.mant_shift;
  uint32_t mant, zf;
  if (is_quant_record(record)) {
    mant = ((record >> 4) & ((1u << kMantBits) - 1u)) >> l.mant_shift;
    zf = ((record >> 13) - l.z_min) >> l.z_shift;
  } else {
    mant = (record >> 4) & 3u;
    zf = 0;
  }
  return (oct - l.oct_min) | mant << l.oct_bits | zf << (l.oct_bits + mant_bits);
}

// Whether a record is exactly what layout l can hold (the encoder's own check of its records).
SQZ_HD bool fits_layout(const PackedLayout& l, uint32_t record) {
  const uint32_t oct = record & 15u;
  if (oct < l.oct_min || oct - l.oct_min >= (1u << l.oct_bits)) return false;
  if (!is_quant_record(record)) return (record >> 6) == 0;
  const uint32_t mant = (record >> 4) & ((1u << kMantBits) - 1u);
  const uint32_t z = record >> 13;
  return (mant & ((1u << l.mant_shift) - 1u)) == 0 && z >= l.z_min &&
         ((z - l.z_min) & ((1u << l.z_shift) - 1u)) == 0 &&
         ((z - l.z_min) >> l.z_shift) < (1u << l.z_bits);
}

// The record that packed fields f stand for, or kInvalidRecord: an octave past 15, a special
// record with z bits or a kind above 3, a z past 2047.
SQZ_HD uint32_t record_of_fields(const PackedLayout& l, uint32_t f) {
  const uint32_t mant_bits = kMantBits - l.mant_shift;
  const uint32_t oct = l.oct_min + (f & ((1u << l.oct_bits) - 1u));
  const uint32_t mant = (f >> l.oct_bits) & ((1u << mant_bits) - 1u);
  const uint32_t zf = f >> (l.oct_bits + mant_bits);
  if (oct > kSpecialOctave) return kInvalidRecord;
  if (oct == kSpecialOctave) return zf == 0 && mant <= 3u ? oct | mant << 4 : kInvalidRecord;
  const uint32_t z = l.z_min + (zf << l.z_shift);
  if (z > kMaxZ) return kInvalidRecord;
  return oct | (mant << l.mant_shift) << 4 | z << 13;
}

// Record k of the packed records at p (bytes: the records' length, at least
// (k + 1) * record_bits bits): the 24-bit record, or kInvalidRecord.
SQZ_HD uint32_t packed_record(const uint8_t* p, uint64_t bytes, const PackedLayout& l, uint64_t k) {
  const uint64_t bit = k * l.record_bits;
  const uint64_t first = bit >> 3;
  uint64_t window = 0;
  if (first + 8 <= bytes) {
    window = block::load_le64(p + first);
  } else {
    for (uint64_t i = first; i < bytes; ++i) window |= (uint64_t)p[i] << (8 * (i - first));
  }
  // record_bits <= 24 and the bit offset < 8: the record lies in the window's low 32 bits.
  const uint32_t f = (uint32_t)(window >> (bit & 7)) & ((1u << l.record_bits) - 1u);
  return record_of_fields(l, f);
}

// Whether the bits past n records of layout l in bytes are zero (the one encoding of a record
// list: nothing hides after the last record).
SQZ_HD bool packed_tail_zero(const uint8_t* p, uint64_t bytes, const PackedLayout& l, uint64_t n) {
  const uint64_t used = n * l.record_bits;
  if ((used + 7) / 8 != bytes) return false;
  return (used & 7) == 0 || (p[bytes - 1] >> (used & 7)) == 0;
}

// Writes the bytes of packed records (record_bits each, record k at bit k * record_bits) whose
// first bit lies in records [k0, k1): bytes [ceil(k0 B / 8), ceil(k1 B / 8)) of records, the
// last byte's unused bits zero. next_fields() gives the fields (packed_fields) of records k0,
// k0 + 1, ... in turn, up to the record that holds the last byte's last bit (records n and on do
// not exist). Each byte is stored once, whole, so that writers of disjoint [k0, k1) (the CUDA
// encoder's threads, each its share of the records) never touch the same byte; one writer of
// [0, n) writes them all. (OR-ing each record into the bytes it shares with its neighbours cost
// the CPU encoder 7% of its time: each store waited on the one before.)
template <class NextFields>
SQZ_HD void write_packed_bytes(uint8_t* records, uint32_t record_bits, uint64_t k0, uint64_t k1,
                               uint64_t n, NextFields&& next_fields) {
  uint64_t j = (k0 * record_bits + 7) / 8;
  const uint64_t j_end = (k1 * record_bits + 7) / 8;
  // The bits of records k0, ... that the byte before j holds (its writer's): skipped.
  uint64_t skip = 8 * j - k0 * record_bits;
  uint64_t k = k0, acc = 0;
  uint32_t have = 0;  // bits in acc, from bit 8 j on (at most 31 + 24)
  while (j < j_end) {
    if (have < 32 && k < n) {
      const uint64_t f = next_fields();
      ++k;
      if (skip >= record_bits) {
        skip -= record_bits;
        continue;
      }
      acc |= (f >> skip) << have;
      have += record_bits - (uint32_t)skip;
      skip = 0;
      continue;
    }
    if (have >= 32 && j + 4 <= j_end) {  // four whole bytes at once
      block::store_le32(records + j, (uint32_t)acc);
      j += 4;
      acc >>= 32;
      have -= 32;
      continue;
    }
    records[j++] = (uint8_t)acc;
    acc >>= 8;
    have = have >= 8 ? have - 8 : 0;
  }
}

// Writes records of layout l in order, each at k * record_bits, through a 64-bit accumulator:
// every byte is stored once, 32 bits at a time; finish() writes the last bits, the unused ones
// of the last byte zero. The bytes of write_packed_bytes over [0, n), in one pass with the
// caller's own (the CPU encoder writes the side entries beside it: write_packed_bytes' separate
// pass made it 2-3% slower). The tests compare the two byte for byte.
struct PackedWriter {
  uint8_t* out;
  uint64_t acc = 0;
  uint32_t n = 0;  // bits in acc
  SQZ_HD explicit PackedWriter(uint8_t* records) : out(records) {}
  SQZ_HD void put(const PackedLayout& l, uint32_t record) {
    put_fields(l, packed_fields(l, record));
  }
  // The fields f of one record as they are (a test writes fields that name no record).
  SQZ_HD void put_fields(const PackedLayout& l, uint32_t f) {
    acc |= (uint64_t)f << n;
    n += l.record_bits;
    if (n >= 32) {
      block::store_le32(out, (uint32_t)acc);
      out += 4;
      acc >>= 32;
      n -= 32;
    }
  }
  SQZ_HD void finish() {
    for (; n > 0; n = n > 8 ? n - 8 : 0) {
      *out++ = (uint8_t)acc;
      acc >>= 8;
    }
  }
};

}  // namespace squeeze::local
