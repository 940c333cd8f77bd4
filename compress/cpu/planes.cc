#include "compress/cpu/planes.h"

#include <algorithm>
#include <cstring>
#include <vector>

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

// Histograms of every byte plane of the transformed elements, for one transform.
void plane_histograms(const uint8_t* src, uint64_t n, uint32_t es, Transform t,
                      uint32_t hist[planes::kMaxPlanes][rans::kMaxSymbols]) {
  for (uint32_t p = 0; p < es; ++p) std::memset(hist[p], 0, sizeof(uint32_t) * rans::kMaxSymbols);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t v = planes::load_elem(src + i * es, es);
    const uint64_t x = planes::forward(t, v, prev, es);
    prev = v;
    for (uint32_t p = 0; p < es; ++p) ++hist[p][(x >> (8 * p)) & 0xffu];
  }
}

uint64_t estimate_total(const uint32_t hist[planes::kMaxPlanes][rans::kMaxSymbols], uint64_t n,
                        uint32_t es) {
  uint64_t total = 0;
  for (uint32_t p = 0; p < es; ++p) {
    PlaneMode m;
    total += planes::plane_estimate(hist[p], n, &m);
  }
  return total;
}

// Writes plane sym[0, n) as a rANS section into out; returns its bytes.
uint64_t encode_rans_plane(const uint8_t* sym, uint64_t n, const uint32_t* hist, uint8_t* out,
                           std::vector<uint16_t>& words) {
  uint32_t n_sym = 0;
  for (uint32_t s = 0; s < rans::kMaxSymbols; ++s)
    if (hist[s] != 0) n_sym = s + 1;
  uint32_t freq[rans::kMaxSymbols], cum[rans::kMaxSymbols];
  rans::normalize(hist, n_sym, freq);
  for (uint32_t k = 0, c = 0; k < n_sym; ++k) {
    cum[k] = c;
    c += freq[k];
  }
  uint8_t* p = out;
  p += rans::write_table(freq, n_sym, p);
  const uint32_t n_seg = rans::segments_for(n);
  uint8_t* counts = p;
  p += 4ull * n_seg;
  words.resize(rans::kSegmentSymbols);
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    const uint64_t first = (uint64_t)seg * rans::kSegmentSymbols;
    const uint32_t count = (uint32_t)std::min<uint64_t>(rans::kSegmentSymbols, n - first);
    const uint32_t n_words = rans::encode_segment(sym + first, count, freq, cum, words.data(), p);
    block::store_le32(counts + 4ull * seg, n_words);
    p += rans::kStateBytes + 2ull * n_words;
  }
  return (uint64_t)(p - out);
}

}  // namespace

size_t encode_planes(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     FrameStats* stats) {
  const uint8_t dtype = (uint8_t)params.dtype;
  const uint32_t es = (uint32_t)block::dtype_bytes(dtype);
  const uint64_t n = src_bytes / es;
  const uint64_t tail = src_bytes % es;
  if (n == 0 || n > planes::kMaxElems) return 0;
  PlanesScratch& s = scratch();

  // The transform: floats rotate their sign out of the exponent byte; integers keep the values
  // or code their differences, whichever the plane estimates say is smaller.
  uint32_t hist[planes::kMaxPlanes][rans::kMaxSymbols];
  Transform t = block::is_float_dtype(dtype) ? Transform::kRotl1 : Transform::kNone;
  plane_histograms(src, n, es, t, hist);
  if (!block::is_float_dtype(dtype)) {
    uint32_t delta_hist[planes::kMaxPlanes][rans::kMaxSymbols];
    plane_histograms(src, n, es, Transform::kDeltaZigzag, delta_hist);
    if (estimate_total(delta_hist, n, es) < estimate_total(hist, n, es)) {
      t = Transform::kDeltaZigzag;
      std::memcpy(hist, delta_hist, sizeof(hist));
    }
  }
  PlaneMode mode[planes::kMaxPlanes];
  uint64_t estimate = planes::kDirEntryBytes * (uint64_t)es + tail;
  for (uint32_t p = 0; p < es; ++p) estimate += planes::plane_estimate(hist[p], n, &mode[p]);
  if (kFrameHeaderBytes + estimate >= src_bytes) return 0;  // not worth a pass

  s.planes.resize(es * n);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t v = planes::load_elem(src + i * es, es);
    const uint64_t x = planes::forward(t, v, prev, es);
    prev = v;
    for (uint32_t p = 0; p < es; ++p) s.planes[p * n + i] = (uint8_t)(x >> (8 * p));
  }

  const uint64_t limit = src_bytes;  // a frame must be smaller than the raw frame's payload
  uint8_t* dir = dst + kFrameHeaderBytes;
  uint64_t off = kFrameHeaderBytes + planes::kDirEntryBytes * (uint64_t)es;
  if (off >= kFrameHeaderBytes + limit) return 0;
  for (uint32_t p = 0; p < es; ++p) {
    uint8_t* e = dir + planes::kDirEntryBytes * p;
    std::memset(e, 0, planes::kDirEntryBytes);
    const uint8_t* sym = s.planes.data() + p * n;
    uint64_t bytes = 0;
    if (mode[p] == PlaneMode::kRans) {
      // Coded into scratch first: a plane whose code turns out larger than it goes raw.
      s.section.resize(planes::rans_section_capacity(n, rans::kMaxSymbols));
      bytes = encode_rans_plane(sym, n, hist[p], s.section.data(), s.words);
      if (bytes >= n) mode[p] = PlaneMode::kRaw;
    }
    if (mode[p] == PlaneMode::kRaw) bytes = n;
    if (off + bytes > kFrameHeaderBytes + limit) return 0;
    e[0] = (uint8_t)mode[p];
    if (mode[p] == PlaneMode::kConst) {
      e[1] = sym[0];
    } else if (mode[p] == PlaneMode::kRaw) {
      std::memcpy(dst + off, sym, n);
    } else {
      std::memcpy(dst + off, s.section.data(), bytes);
    }
    block::store_le32(e + 4, (uint32_t)bytes);
    off += bytes;
  }
  if (off + tail >= kFrameHeaderBytes + src_bytes) return 0;
  if (tail) std::memcpy(dst + off, src + n * es, tail);
  off += tail;

  // The version 2 envelope as for a raw frame, then what differs (and the check again).
  staged::write_raw_header(dtype, 0, src_bytes, dst);
  dst[hdr::kMethod] = (uint8_t)FrameMethod::kPlanes;
  block::store_le64(dst + hdr::kFrameBytes, off);
  dst[planes::hdr3::kTransform] = (uint8_t)t;
  dst[planes::hdr3::kPlanes] = (uint8_t)es;
  block::store_le32(dst + hdr::kHeaderCheck, block::fnv1a32(dst, (uint32_t)hdr::kHeaderCheck));
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
  // Every plane is decoded (and so validated) into scratch before the output is written.
  s.planes.resize(l.es * l.n);
  for (uint32_t p = 0; p < l.es; ++p) {
    uint8_t* sym = s.planes.data() + p * l.n;
    if (l.mode[p] == PlaneMode::kConst) {
      std::memset(sym, l.value[p], l.n);
    } else if (l.mode[p] == PlaneMode::kRaw) {
      std::memcpy(sym, frame + l.offset[p], l.n);
    } else {
      const staged::Reject rr =
          planes::decode_rans_plane(frame + l.offset[p], l.bytes[p], l.n, &s.tables, sym);
      if (rr != staged::Reject::kNone) return rr;
    }
  }
  uint64_t prev = 0;
  for (uint64_t i = 0; i < l.n; ++i) {
    uint64_t x = 0;
    for (uint32_t p = 0; p < l.es; ++p) x |= (uint64_t)s.planes[p * l.n + i] << (8 * p);
    const uint64_t v = planes::inverse(l.transform, x, prev, l.es);
    planes::store_elem(dst + i * l.es, l.es, v);
    prev = v;
  }
  if (l.tail) std::memcpy(dst + l.n * l.es, frame + l.tail_offset, l.tail);
  *out_bytes = (size_t)original;
  return staged::Reject::kNone;
}

}  // namespace squeeze::cpu
