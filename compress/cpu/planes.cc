#include "compress/cpu/planes.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "compress/cpu/kernels.h"
#include "compress/cpu/planes_kernels.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/methods/planes.h"

namespace squeeze::cpu {
namespace {

using planes::PlaneMode;
using planes::Transform;

// Per-thread scratch, grown once to the largest frame and reused: the plane bytes, the rANS
// words of one segment and the decoder's tables.
struct PlanesScratch {
  std::vector<uint8_t> planes;  // es planes of n bytes
  std::vector<uint8_t> section;
  std::vector<uint16_t> words;
  rans::Tables tables;
};
PlanesScratch& scratch() {
  thread_local PlanesScratch s;
  return s;
}

// An element of ES bytes as an unsigned integer (the hosts this CPU backend runs on are
// little-endian, as the frame is).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the CPU planes coder assumes LE");
template <uint32_t ES>
inline uint64_t load(const uint8_t* p) {
  if constexpr (ES == 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  } else if constexpr (ES == 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  } else if constexpr (ES == 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
  } else {
    return *p;
  }
}
template <uint32_t ES>
inline void store(uint8_t* p, uint64_t v) {
  if constexpr (ES == 8) {
    std::memcpy(p, &v, 8);
  } else if constexpr (ES == 4) {
    const uint32_t w = (uint32_t)v;
    std::memcpy(p, &w, 4);
  } else if constexpr (ES == 2) {
    const uint16_t w = (uint16_t)v;
    std::memcpy(p, &w, 2);
  } else {
    *p = (uint8_t)v;
  }
}

// The scalar split: element i through planes::forward(T), its byte p to out[p * n + i].
template <uint32_t ES, Transform T>
void split_planes(const uint8_t* src, uint64_t n, uint8_t* out) {
  uint8_t* plane[ES];
  for (uint32_t p = 0; p < ES; ++p) plane[p] = out + p * n;
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t v = load<ES>(src + i * ES);
    const uint64_t x = planes::forward(T, v, prev, ES);
    prev = v;
    for (uint32_t p = 0; p < ES; ++p) plane[p][i] = (uint8_t)(x >> (8 * p));
  }
}

template <uint32_t ES>
void split_planes_es(const uint8_t* src, uint64_t n, Transform t, uint8_t* out) {
  switch (t) {
    case Transform::kDeltaZigzag:
      return split_planes<ES, Transform::kDeltaZigzag>(src, n, out);
    case Transform::kRotl1:
      return split_planes<ES, Transform::kRotl1>(src, n, out);
    default:
      return split_planes<ES, Transform::kNone>(src, n, out);
  }
}

void split_planes_any(const uint8_t* src, uint64_t n, uint32_t es, Transform t, uint8_t* out) {
  switch (es) {
    case 8:
      return split_planes_es<8>(src, n, t, out);
    case 4:
      return split_planes_es<4>(src, n, t, out);
    case 2:
      return split_planes_es<2>(src, n, t, out);
    default:
      return split_planes_es<1>(src, n, t, out);
  }
}

// The histogram of one plane's bytes (four partial tables: runs of one byte value do not wait on
// each other's increment). A constant plane (an integer's high bytes) is found by comparing the
// plane with itself one byte on, at memcmp's speed.
void plane_histogram(const uint8_t* plane, uint64_t n, uint32_t* hist) {
  if (n > 1 && std::memcmp(plane, plane + 1, n - 1) == 0) {
    for (uint32_t k = 0; k < 256; ++k) hist[k] = 0;
    hist[plane[0]] = (uint32_t)n;
    return;
  }
  SymbolCounts counts;
  counts.add(plane, n);
  counts.merge(hist);
}

// The decoder's last step: element i from byte i of every plane, through the inverse transform.
template <uint32_t ES, Transform T>
void join_planes(const uint8_t* pl, uint64_t n, uint8_t* dst) {
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t x = 0;
    for (uint32_t p = 0; p < ES; ++p) x |= (uint64_t)pl[p * n + i] << (8 * p);
    const uint64_t v = planes::inverse(T, x, prev, ES);
    store<ES>(dst + i * ES, v);
    prev = v;
  }
}

template <uint32_t ES>
void join_planes_es(const uint8_t* pl, uint64_t n, Transform t, uint8_t* dst) {
  switch (t) {
    case Transform::kDeltaZigzag:
      return join_planes<ES, Transform::kDeltaZigzag>(pl, n, dst);
    case Transform::kRotl1:
      return join_planes<ES, Transform::kRotl1>(pl, n, dst);
    default:
      return join_planes<ES, Transform::kNone>(pl, n, dst);
  }
}

void join_planes_any(const uint8_t* pl, uint64_t n, uint32_t es, Transform t, uint8_t* dst) {
  switch (es) {
    case 8:
      return join_planes_es<8>(pl, n, t, dst);
    case 4:
      return join_planes_es<4>(pl, n, t, dst);
    case 2:
      return join_planes_es<2>(pl, n, t, dst);
    default:
      return join_planes_es<1>(pl, n, t, dst);
  }
}

// Writes plane sym[0, n) as a rANS section into out; returns its bytes.
uint64_t encode_rans_plane(const uint8_t* sym, uint64_t n, const uint32_t* hist, uint8_t* out,
                           std::vector<uint16_t>& words) {
  uint32_t freq[rans::kMaxSymbols], cum[rans::kMaxSymbols];
  const uint32_t n_sym = planes::rans_plane_table(hist, freq, cum);
  return write_rans_stream(*active_backend().rans, sym, n, freq, cum, n_sym, words, out);
}

}  // namespace

const PlanesKernels kPlanesScalar = {&split_planes_any, &join_planes_any};

size_t encode_planes(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     FrameStats* stats) {
  const uint8_t dtype = (uint8_t)params.dtype;
  const uint32_t es = (uint32_t)block::dtype_bytes(dtype);
  const uint64_t n = src_bytes / es;
  const uint64_t tail = src_bytes % es;
  if (n == 0 || n > staged::kMaxElems) return 0;
  PlanesScratch& s = scratch();

  // The transform: floats rotate their sign out of the exponent byte; integers keep the values
  // or code their differences, whichever the plane estimates say is smaller. The planes are split
  // first (both transforms' for integers, side by side in scratch) and each plane's bytes
  // counted.
  const PlanesKernels& pk = *active_backend().planes;
  uint32_t hist[planes::kMaxPlanes][rans::kMaxSymbols];
  Transform t = planes::base_transform(dtype);
  s.planes.resize((t == Transform::kNone ? 2 : 1) * es * n);
  pk.split(src, n, es, t, s.planes.data());
  for (uint32_t p = 0; p < es; ++p) plane_histogram(s.planes.data() + p * n, n, hist[p]);
  const uint8_t* split = s.planes.data();
  if (t == Transform::kNone) {
    uint8_t* delta = s.planes.data() + es * n;
    pk.split(src, n, es, Transform::kDeltaZigzag, delta);
    uint32_t delta_hist[planes::kMaxPlanes][rans::kMaxSymbols];
    for (uint32_t p = 0; p < es; ++p) plane_histogram(delta + p * n, n, delta_hist[p]);
    if (planes::prefer_delta(hist, delta_hist, n, es, log2_table())) {
      t = Transform::kDeltaZigzag;
      std::memcpy(hist, delta_hist, sizeof(hist));
      split = delta;
    }
  }
  PlaneMode mode[planes::kMaxPlanes];
  if (!planes::choose_modes(hist, n, es, tail, src_bytes, mode, log2_table()))
    return 0;  // not worth a pass

  // Sections in plane order. Every size only grows the frame, so the encoder stops as soon as
  // the frame can no longer beat the raw one (the final check alone decides the same).
  uint8_t* dir = dst + kFrameHeaderBytes;
  uint64_t off = planes::directory_end(es);
  if (!planes::beats_raw(off, src_bytes)) return 0;
  for (uint32_t p = 0; p < es; ++p) {
    const uint8_t* sym = split + p * n;
    uint64_t coded = 0;
    if (mode[p] == PlaneMode::kRans) {
      // Coded into scratch first: a plane whose code turns out larger than it goes raw.
      s.section.resize(planes::rans_section_capacity(n, rans::kMaxSymbols));
      coded = encode_rans_plane(sym, n, hist[p], s.section.data(), s.words);
    }
    const uint64_t bytes = planes::settle_plane(&mode[p], coded, n);
    if (!planes::beats_raw(off + bytes, src_bytes)) return 0;
    planes::write_dir_entry(dir + planes::kDirEntryBytes * p, mode[p], sym[0], bytes);
    if (mode[p] == PlaneMode::kRaw) {
      std::memcpy(dst + off, sym, n);
    } else if (mode[p] == PlaneMode::kRans) {
      std::memcpy(dst + off, s.section.data(), bytes);
    }
    off += bytes;
  }
  if (!planes::beats_raw(off + tail, src_bytes)) return 0;
  if (tail) std::memcpy(dst + off, src + n * es, tail);
  off += tail;
  planes::write_header(dtype, src_bytes, off, t, es, dst);
  if (stats != nullptr) {
    stats->method = (uint8_t)FrameMethod::kPlanes;
    stats->version = kFrameVersion2;
    stats->code_bytes = off - kFrameHeaderBytes - planes::kDirEntryBytes * (uint64_t)es - tail;
  }
  return (size_t)off;
}

staged::Reject decode_planes(const uint8_t* frame, size_t frame_bytes, uint8_t* dst,
                             size_t dst_capacity, size_t* out_bytes) {
  planes::Layout l;
  const staged::Reject r = planes::parse(frame, frame_bytes, &l);
  if (r != staged::Reject::kNone) return r;
  const uint64_t original = l.n * l.es + l.tail;
  if (original > dst_capacity) return staged::Reject::kOutputTooSmall;
  PlanesScratch& s = scratch();
  // Every plane is decoded (and so validated) into scratch before the output is written. The
  // rANS planes' segments warm the destination's first lines for the join (WarmLines), shared out
  // among them in the order they decode.
  s.planes.resize(l.es * l.n);
  const RansKernels& rk = *active_backend().rans;
  const WarmLines warm = warm_lines(dst, l.n * l.es);
  const uint64_t seg_per_plane = rans::segments_for(l.n);
  uint64_t n_rans_seg = 0, next_seg = 0;
  for (uint32_t p = 0; p < l.es; ++p)
    n_rans_seg += l.mode[p] == PlaneMode::kRans ? seg_per_plane : 0;
  for (uint32_t p = 0; p < l.es; ++p) {
    uint8_t* sym = s.planes.data() + p * l.n;
    if (l.mode[p] == PlaneMode::kConst) {
      std::memset(sym, l.value[p], l.n);
    } else if (l.mode[p] == PlaneMode::kRaw) {
      std::memcpy(sym, frame + l.offset[p], l.n);
    } else {
      const auto decode_segment = [&](const uint8_t* seg, uint32_t n_words, uint32_t count,
                                      const rans::Tables& t, uint8_t* out) {
        return rk.decode_segment(seg, n_words, count, t, out,
                                 warm.share(next_seg++, 1, n_rans_seg));
      };
      const staged::Reject rr = planes::decode_rans_plane(frame + l.offset[p], l.bytes[p], l.n,
                                                          &s.tables, sym, decode_segment);
      if (rr != staged::Reject::kNone) return rr;
    }
  }
  active_backend().planes->join(s.planes.data(), l.n, l.es, l.transform, dst);
  if (l.tail) std::memcpy(dst + l.n * l.es, frame + l.tail_offset, l.tail);
  *out_bytes = (size_t)original;
  return staged::Reject::kNone;
}

}  // namespace squeeze::cpu
