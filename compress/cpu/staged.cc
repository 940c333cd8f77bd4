// Version 2 staged frames on the CPU: the stages of compress/methods/ run as loops over the frame.
// Order of the encoder: block statistics -> quantizer parameters -> every element quantized (so
// that each unit's reconstruction error is known) -> deduplication decisions -> the literal codes
// -> the coder (fixed bit planes or rANS, whichever is smaller) -> sections -> history update.
// The decoder validates every section before it writes a byte, then writes literals, outliers,
// references and the tail.
#include "compress/cpu/staged.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compress/block.h"
#include "compress/cpu/kernels.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/rans.h"
#include "compress/methods/varint.h"
#include "compress/quant.h"

namespace squeeze::cpu {

namespace {

using staged::Geometry;
using staged::Reject;

// ---- UnitTable ----

uint64_t mix_slot(uint64_t hash) {
  return hash ^ (hash >> 31);
}

}  // namespace

void UnitTable::reset(size_t min_capacity) {
  size_t cap = 64;
  while (cap < 2 * min_capacity) cap <<= 1;
  keys_.assign(cap, 0);
  vals_.assign(cap, kNone);
  used_ = 0;
}

uint64_t UnitTable::find(uint64_t hash) const {
  if (vals_.empty()) return kNone;
  const size_t mask = vals_.size() - 1;
  for (size_t i = mix_slot(hash) & mask;; i = (i + 1) & mask) {
    if (vals_[i] == kNone) return kNone;
    if (keys_[i] == hash) return vals_[i];
  }
}

void UnitTable::offer(uint64_t hash, uint64_t pos, uint64_t window_start) {
  if (2 * (used_ + 1) > vals_.size()) rebuild(window_start);
  const size_t mask = vals_.size() - 1;
  for (size_t i = mix_slot(hash) & mask;; i = (i + 1) & mask) {
    if (vals_[i] == kNone) {
      keys_[i] = hash;
      vals_[i] = pos;
      ++used_;
      return;
    }
    if (keys_[i] == hash) {
      if (vals_[i] < window_start) vals_[i] = pos;
      return;
    }
  }
}

void UnitTable::rebuild(uint64_t window_start) {
  std::vector<uint64_t> keys = std::move(keys_), vals = std::move(vals_);
  size_t live = 0;
  for (uint64_t v : vals) live += v != kNone && v >= window_start;
  size_t cap = std::max<size_t>(64, vals.size());
  while (cap < 4 * (live + 1)) cap <<= 1;
  keys_.assign(cap, 0);
  vals_.assign(cap, kNone);
  used_ = 0;
  for (size_t i = 0; i < vals.size(); ++i)
    if (vals[i] != kNone && vals[i] >= window_start) offer(keys[i], vals[i], window_start);
}

void EncoderHistory::restart(uint8_t t) {
  dtype = t;
  has_dtype = true;
  unit_bytes = (uint32_t)(kUnitElems * block::dtype_bytes(t));
  window_units = window_bytes / unit_bytes;
  ring.assign(window_units * unit_bytes, 0);
  error.assign(window_units, 0.0f);
  window_start = stream_pos;
  table.reset(window_units);
}

void DecoderHistory::restart(uint8_t t) {
  dtype = t;
  has_dtype = true;
  unit_bytes = (uint32_t)(kUnitElems * block::dtype_bytes(t));
  window_units = window_bytes / unit_bytes;
  ring.assign(window_units * unit_bytes, 0);
  window_start = stream_pos;
}

namespace {

// ---- encoder scratch (per thread, reused: the steady state allocates nothing) ----

struct EncodeScratch {
  std::vector<local::BlockStats> stats;
  std::vector<local::BlockParams> params;
  std::vector<uint32_t> record;
  std::vector<uint32_t> side;    // 2 per block
  std::vector<uint32_t> codes;   // one per element
  std::vector<uint8_t> outlier;  // one per element
  std::vector<float> unit_error;
  std::vector<uint64_t> unit_hash;
  std::vector<int64_t> ref;  // per unit: stream position of its source, -1 literal
  std::vector<uint8_t> ref_history;
  std::vector<uint32_t> coded;  // codes of the coded elements, in order
  std::vector<uint32_t> outlier_index;
  std::vector<uint8_t> sym;
  std::vector<uint16_t> words;
  std::vector<uint8_t> rans_out;
  std::vector<uint8_t> fixed_out;
  std::vector<uint64_t> frame_table_keys;
  std::vector<int64_t> frame_table_vals;
  std::vector<dedup::Run> runs;
  std::vector<int64_t> sources;
};
thread_local EncodeScratch t_enc;
thread_local CodeObserver* t_observer = nullptr;

template <DType kType>
void block_stats(const uint8_t* src, const Geometry& g, local::BlockStats* out) {
  const uint64_t es = g.es;
  for (uint64_t b = 0; b < g.n_blocks; ++b) {
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, g.n);
    local::BlockStats st{INFINITY, -INFINITY, false, true, 0};
    bool first_finite = true;
    for (uint64_t i = first; i < last; ++i) {
      const float x = block::load_element<kType>(src + i * es);
      if (!std::isfinite(x)) continue;
      const uint32_t bits = quant::float_to_bits(x);
      if (first_finite) {
        st.same_bits = bits;
        first_finite = false;
      } else if (bits != st.same_bits) {
        st.all_same = false;
      }
      st.has_finite = true;
      st.mn = quant::min_total(st.mn, x);
      st.mx = quant::max_total(st.mx, x);
    }
    if (!st.has_finite) st.all_same = false;
    out[b] = st;
  }
}

// Quantizes every element of the frame: codes, outlier flags and each unit's largest error.
template <DType kType>
void quantize_all(const uint8_t* src, const Geometry& g, bool local_mode,
                  const quant::QuantParams& qp, const local::BlockParams* bp, uint32_t* codes,
                  uint8_t* outlier, float* unit_error) {
  const uint64_t es = g.es;
  for (uint64_t u = 0; u < g.n_units; ++u) unit_error[u] = 0.0f;
  for (uint64_t i = 0; i < g.n; ++i) {
    const float x = block::load_element<kType>(src + i * es);
    uint32_t code = 0;
    bool ok;
    float d = 0.0f;
    if (!local_mode) {
      int32_t q;
      ok = quant::quantize_element<kType>(x, qp, &q);
      code = quant::zigzag(q);
      if (ok) {
        float xr = quant::reconstruct_f32(q, qp.step);
        if (kType == DType::kF16) xr = quant::half_to_float(quant::float_to_half_rn(xr));
        if (kType == DType::kBF16) xr = quant::bf16_to_float(quant::float_to_bf16_rn(xr));
        d = std::fabs(x - xr);
      }
    } else {
      const local::BlockParams& p = bp[i / kBlockElems];
      if (local::has_codes(p.kind)) {
        ok = local::quantize_element<kType>(x, p, &code);
        if (ok) {
          float xr = local::reconstruct(p, code);
          if (kType == DType::kF16) xr = quant::half_to_float(quant::float_to_half_rn(xr));
          if (kType == DType::kBF16) xr = quant::bf16_to_float(quant::float_to_bf16_rn(xr));
          d = std::fabs(x - xr);
        }
      } else {
        // Zero and constant blocks: an element with the block's value is exact, any other
        // (non-finite) one is an outlier.
        ok = std::isfinite(x) && quant::float_to_bits(x) == quant::float_to_bits(p.value);
      }
    }
    codes[i] = ok ? code : 0u;
    outlier[i] = ok ? 0 : 1;
    const uint64_t u = i / kUnitElems;
    if (d > unit_error[u]) unit_error[u] = d;
  }
}

// The fixed coder's bytes for the coded codes: global mode a width byte per group of 32 then the
// planes; local mode W planes per group.
void encode_fixed(const uint32_t* coded, uint64_t n_coded, bool local_mode, uint32_t w,
                  std::vector<uint8_t>* out) {
  const uint64_t n_groups = (n_coded + kGroupCodes - 1) / kGroupCodes;
  out->clear();
  out->resize(local_mode ? n_groups * 4 * w : n_groups + n_groups * 4 * kMaxCodeWidth);
  uint8_t* widths = out->data();
  uint8_t* planes = local_mode ? out->data() : out->data() + n_groups;
  uint32_t group[kGroupCodes];
  for (uint64_t gi = 0; gi < n_groups; ++gi) {
    const uint64_t first = gi * kGroupCodes;
    const uint64_t count = std::min<uint64_t>(kGroupCodes, n_coded - first);
    for (uint32_t k = 0; k < kGroupCodes; ++k) group[k] = k < count ? coded[first + k] : 0u;
    const uint32_t width = local_mode ? w : block::block_width(group);
    if (!local_mode) widths[gi] = (uint8_t)width;
    block::pack_planes(group, width, planes);
    planes += 4 * width;
  }
  out->resize((size_t)(planes - out->data()));
}

// The rANS coder's bytes: shift, table, per-segment word counts, segments, raw low bits. False
// (nothing written) when the estimate says it would not be worth it against fixed_bytes.
bool encode_rans(const uint32_t* coded, uint64_t n_coded, uint32_t max_code, uint64_t fixed_bytes,
                 EncodeScratch& s, std::vector<uint8_t>* out) {
  const uint32_t bits = quant::code_width(max_code);
  const uint32_t shift = bits > 8 ? bits - 8 : 0;
  s.sym.resize(n_coded);
  uint32_t hist[rans::kMaxSymbols] = {};
  uint32_t n_sym = 1;
  for (uint64_t k = 0; k < n_coded; ++k) {
    const uint32_t sym = coded[k] >> shift;
    s.sym[k] = (uint8_t)sym;
    ++hist[sym];
    n_sym = sym + 1 > n_sym ? sym + 1 : n_sym;
  }
  uint32_t freq[rans::kMaxSymbols], cum[rans::kMaxSymbols];
  rans::normalize(hist, n_sym, freq);
  if (!rans::worth_coding(rans::estimated_bytes(hist, freq, n_sym, n_coded, shift), fixed_bytes)) {
    out->clear();
    return false;
  }
  uint32_t c = 0;
  for (uint32_t k = 0; k < n_sym; ++k) {
    cum[k] = c;
    c += freq[k];
  }
  const uint32_t n_seg = rans::segments_for(n_coded);
  out->assign(2 + rans::table_bytes(freq, n_sym) + 4 * (size_t)n_seg +
                  (size_t)n_seg * rans::kStateBytes + 2 * n_coded +
                  rans::packed_bytes(n_coded, shift),
              0);
  uint8_t* p = out->data();
  *p++ = (uint8_t)shift;
  p += rans::write_table(freq, n_sym, p);
  uint8_t* counts = p;
  p += 4 * (size_t)n_seg;
  s.words.resize(rans::kSegmentSymbols);
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    const uint64_t first = (uint64_t)seg * rans::kSegmentSymbols;
    const uint32_t count = (uint32_t)std::min<uint64_t>(rans::kSegmentSymbols, n_coded - first);
    const uint32_t n_words =
        rans::encode_segment(s.sym.data() + first, count, freq, cum, s.words.data(), p);
    block::store_le32(counts + 4 * seg, n_words);
    p += rans::kStateBytes + 2 * (size_t)n_words;
  }
  for (uint64_t k = 0; k < n_coded; ++k) rans::put_bits(p, k * shift, shift, coded[k]);
  p += rans::packed_bytes(n_coded, shift);
  out->resize((size_t)(p - out->data()));
  return true;
}

template <DType kType>
size_t encode_typed(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                    EncoderHistory* hist, FrameStats* stats) {
  EncodeScratch& s = t_enc;
  const Geometry g = staged::geometry((uint8_t)kType, src_bytes);
  const bool local_mode = params.mode == BoundMode::kLocal;
  const uint64_t raw_size = kFrameHeaderBytes + src_bytes;

  // Quantizer parameters.
  quant::QuantParams qp{};
  double applied = 0.0;
  uint32_t w = 0, e0 = 0;
  s.stats.resize(g.n_blocks);
  if (local_mode || params.mode == BoundMode::kRel) block_stats<kType>(src, g, s.stats.data());
  if (local_mode) {
    w = local::code_width(params.bound);
    if (w == 0) return 0;
    for (uint64_t b = 0; b < g.n_blocks; ++b) {
      const uint32_t bits = local::wanted_step_bits(s.stats[b], params.bound);
      e0 = std::max(e0, bits >> 23);
    }
    if (e0 == 0) e0 = 1;  // every block is special: the reference is never used
    s.params.resize(g.n_blocks);
    s.record.resize(g.n_blocks);
    s.side.resize(2 * g.n_blocks);
    for (uint64_t b = 0; b < g.n_blocks; ++b)
      local::decide(s.stats[b], params.bound, e0, w, &s.record[b], &s.side[2 * b], &s.params[b]);
    applied = params.bound;
  } else {
    double eb = params.bound;
    if (params.mode == BoundMode::kRel) {
      float mn = INFINITY, mx = -INFINITY;
      for (uint64_t b = 0; b < g.n_blocks; ++b) {
        if (!s.stats[b].has_finite) continue;
        mn = quant::min_total(mn, s.stats[b].mn);
        mx = quant::max_total(mx, s.stats[b].mx);
      }
      eb = mn <= mx ? quant::rel_to_abs_bound(params.bound, mn, mx) : 0.0;
    }
    if (!quant::make_quant_params(eb, &qp)) return 0;
    applied = eb;
  }

  // Every element quantized.
  s.codes.resize(g.n);
  s.outlier.resize(g.n);
  s.unit_error.resize(g.n_units);
  quantize_all<kType>(src, g, local_mode, qp, s.params.data(), s.codes.data(), s.outlier.data(),
                      s.unit_error.data());

  // Deduplication: a unit's candidate is the history's entry for its hash (when it fits), else
  // the frame's first unit with that hash.
  const uint32_t unit_bytes = (uint32_t)(kUnitElems * g.es);
  const bool use_history = hist != nullptr && (params.caps & kCapHistory) != 0;
  const bool use_dedup = use_history || ((params.caps & kCapDedup) != 0 && g.n_full_units >= 2);
  if (use_history && (!hist->has_dtype || hist->dtype != (uint8_t)kType))
    hist->restart((uint8_t)kType);
  s.ref.assign(g.n_units, -1);
  s.ref_history.assign(g.n_units, 0);
  uint64_t ref_units = 0, history_refs = 0;
  const uint64_t base = use_history ? hist->stream_pos : 0;
  if (use_dedup) {
    s.unit_hash.resize(g.n_full_units);
    size_t cap = 64;
    while (cap < 2 * g.n_full_units) cap <<= 1;
    s.frame_table_keys.assign(cap, 0);
    s.frame_table_vals.assign(cap, -1);
    for (uint64_t u = 0; u < g.n_full_units; ++u) {
      const uint8_t* bytes = src + u * unit_bytes;
      const uint64_t h = dedup::table_key(dedup::unit_hash(bytes, unit_bytes));
      s.unit_hash[u] = h;
      // This unit's own bound: its block's check threshold (global: the frame's).
      const float eb_check =
          local_mode ? s.params[u * kUnitElems / kBlockElems].eb_check : qp.eb_check;
      if (use_history) {
        const uint64_t pos = hist->table.find(h);
        if (pos != UnitTable::kNone && pos >= hist->window_start && pos < hist->stream_pos) {
          const uint64_t slot = pos % hist->window_units;
          if (dedup::same_bytes(hist->ring.data() + slot * unit_bytes, bytes, unit_bytes) &&
              dedup::error_fits(hist->error[slot], eb_check)) {
            s.ref[u] = (int64_t)pos;
            s.ref_history[u] = 1;
            ++ref_units;
            ++history_refs;
          }
        }
      }
      const size_t mask = cap - 1;
      size_t i = mix_slot(h) & mask;
      while (s.frame_table_vals[i] >= 0 && s.frame_table_keys[i] != h) i = (i + 1) & mask;
      if (s.frame_table_vals[i] < 0) {
        s.frame_table_keys[i] = h;
        s.frame_table_vals[i] = (int64_t)u;
        continue;
      }
      if (s.ref[u] >= 0) continue;  // already a history reference
      // The frame's first unit with this hash, unless it is itself a (history) reference:
      // sources in the frame are literal, so that a decoder copies references in any order.
      const uint64_t c = (uint64_t)s.frame_table_vals[i];
      if (s.ref[c] < 0 && dedup::same_bytes(src + c * unit_bytes, bytes, unit_bytes) &&
          dedup::error_fits(s.unit_error[c], eb_check)) {
        s.ref[u] = (int64_t)(base + c);
        ++ref_units;
      }
    }
  }

  // Literal blocks, the coded elements' codes and the outliers.
  s.coded.clear();
  s.outlier_index.clear();
  uint64_t n_lit_blocks = 0, n_side = 0;
  for (uint64_t b = 0; b < g.n_blocks; ++b) {
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, g.n);
    bool any_literal = false;
    for (uint64_t i = first; i < last; i += kUnitElems) any_literal |= s.ref[i / kUnitElems] < 0;
    if (!any_literal) continue;
    ++n_lit_blocks;
    const bool coded_block = !local_mode || local::has_codes(s.params[b].kind);
    if (local_mode && local::has_side_entry(s.params[b].kind)) ++n_side;
    for (uint64_t i = first; i < last; ++i) {
      if (s.ref[i / kUnitElems] >= 0) continue;
      if (coded_block) s.coded.push_back(s.codes[i]);
      if (s.outlier[i]) s.outlier_index.push_back((uint32_t)i);
    }
  }
  const uint64_t n_coded = s.coded.size();
  const uint64_t n_out = s.outlier_index.size();
  if (t_observer != nullptr) t_observer->codes(s.coded.data(), n_coded, local_mode, w);

  // The coder.
  encode_fixed(s.coded.data(), n_coded, local_mode, w, &s.fixed_out);
  bool use_rans = false;
  if ((params.caps & kCapRans) != 0 && n_coded > 0) {
    uint32_t max_code = local_mode ? (1u << w) - 1u : 0u;
    if (!local_mode)
      for (uint64_t k = 0; k < n_coded; ++k) max_code |= s.coded[k];
    use_rans = encode_rans(s.coded.data(), n_coded, max_code, s.fixed_out.size(), s, &s.rans_out) &&
               s.rans_out.size() < s.fixed_out.size();
  }
  const std::vector<uint8_t>& code_bytes = use_rans ? s.rans_out : s.fixed_out;

  // Section sizes.
  staged::Header h;
  h.dtype = (uint8_t)kType;
  h.flags = params.mode != BoundMode::kAbs ? kFlagRelBound : 0;
  h.original_bytes = src_bytes;
  h.quant = (uint8_t)(local_mode ? StagedQuant::kLocal : StagedQuant::kGlobal);
  h.coder = (uint8_t)(use_rans ? StagedCoder::kRans : StagedCoder::kFixed);
  h.dedup = (uint8_t)(use_history     ? StagedDedup::kHistory
                      : ref_units > 0 ? StagedDedup::kFrame
                                      : StagedDedup::kNone);
  h.step = local_mode ? 0.0f : qp.step;
  h.applied_bound = applied;
  h.stream_unit = use_history ? (uint32_t)hist->stream_pos : 0u;

  // Dedup runs: consecutive references with consecutive sources, never straddling the frame's
  // start; the distinct source starts form the section's source table.
  uint64_t dedup_bytes = 0;
  std::vector<dedup::Run>& runs = s.runs;
  std::vector<int64_t>& sources = s.sources;
  runs.clear();
  sources.clear();
  dedup::Layout layout{};
  if (h.dedup != (uint8_t)StagedDedup::kNone) {
    uint64_t max_gap = 0, max_len = 1, prev_end = 0;
    for (uint64_t u = 0; u < g.n_full_units; ++u) {
      if (s.ref[u] < 0) continue;
      const int64_t from = s.ref[u] - (int64_t)base;
      if (!runs.empty()) {
        dedup::Run& r = runs.back();
        if (r.dst + r.len == u && r.src + (int64_t)r.len == from && (r.src < 0) == (from < 0)) {
          ++r.len;
          max_len = std::max(max_len, r.len);
          continue;
        }
        prev_end = r.dst + r.len;
      }
      max_gap = std::max(max_gap, u - prev_end);
      runs.push_back(dedup::Run{u, from, 1});
    }
    for (const dedup::Run& r : runs) sources.push_back(r.src);
    std::sort(sources.begin(), sources.end());
    sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
    layout = dedup::layout_for(max_gap, sources.size(), max_len);
    dedup_bytes = dedup::section_bytes(runs.size(), sources.data(), sources.size(), layout);
  }
  const uint64_t quant_bytes = local_mode
                                   ? local::kQuantHeaderBytes + n_lit_blocks * local::kRecordBytes +
                                         n_side * local::kSideBytes
                                   : 0;
  const uint64_t outlier_bytes = 4 + n_out * (4 + g.es);
  const uint64_t total = staged::kPayloadOffset + dedup_bytes + quant_bytes + code_bytes.size() +
                         outlier_bytes + g.tail;
  if (total >= raw_size || dedup_bytes > 0xffffffffull || quant_bytes > 0xffffffffull ||
      code_bytes.size() > 0xffffffffull || outlier_bytes > 0xffffffffull)
    return 0;
  h.section[(int)StagedSection::kDedup] = (uint32_t)dedup_bytes;
  h.section[(int)StagedSection::kQuant] = (uint32_t)quant_bytes;
  h.section[(int)StagedSection::kCodes] = (uint32_t)code_bytes.size();
  h.section[(int)StagedSection::kOutliers] = (uint32_t)outlier_bytes;
  h.section[(int)StagedSection::kTail] = (uint32_t)g.tail;
  h.frame_bytes = total;
  staged::write(h, dst);

  uint8_t* p = dst + staged::kPayloadOffset;
  if (dedup_bytes) {
    const uint64_t head = dedup::write_head(p, runs.size(), sources.data(), sources.size(), layout);
    uint8_t* records = p + head;
    std::memset(records, 0, dedup_bytes - head);
    uint64_t prev_end = 0;
    for (uint64_t k = 0; k < runs.size(); ++k) {
      const dedup::Run& r = runs[k];
      const uint64_t idx =
          (uint64_t)(std::lower_bound(sources.begin(), sources.end(), r.src) - sources.begin());
      dedup::write_run(records, k, layout, r.dst - prev_end, idx, r.len);
      prev_end = r.dst + r.len;
    }
    p += dedup_bytes;
  }
  if (local_mode) {
    p[0] = (uint8_t)e0;
    p[1] = (uint8_t)w;
    p[2] = p[3] = 0;
    p += local::kQuantHeaderBytes;
    uint8_t* side = p + n_lit_blocks * local::kRecordBytes;
    for (uint64_t b = 0; b < g.n_blocks; ++b) {
      const uint64_t first = b * kBlockElems;
      const uint64_t last = std::min<uint64_t>(first + kBlockElems, g.n);
      bool any_literal = false;
      for (uint64_t i = first; i < last; i += kUnitElems) any_literal |= s.ref[i / kUnitElems] < 0;
      if (!any_literal) continue;
      local::store_record(p, s.record[b]);
      p += local::kRecordBytes;
      if (local::has_side_entry(s.params[b].kind)) {
        block::store_le32(side, s.side[2 * b]);
        block::store_le32(side + 4, s.side[2 * b + 1]);
        side += local::kSideBytes;
      }
    }
    p = side;
  }
  if (!code_bytes.empty()) std::memcpy(p, code_bytes.data(), code_bytes.size());
  p += code_bytes.size();
  block::store_le32(p, (uint32_t)n_out);
  p += 4;
  for (uint64_t k = 0; k < n_out; ++k) block::store_le32(p + 4 * k, s.outlier_index[k]);
  p += 4 * n_out;
  for (uint64_t k = 0; k < n_out; ++k)
    std::memcpy(p + k * g.es, src + (uint64_t)s.outlier_index[k] * g.es, g.es);
  p += n_out * g.es;
  if (g.tail) std::memcpy(p, src + g.n * g.es, g.tail);

  // The history learns this frame's full units: originals, errors (a reference's is its
  // source's), and first positions per hash.
  if (use_history) {
    EncoderHistory& H = *hist;
    // Errors first: a unit of this frame may overwrite the ring slot of another's source.
    for (uint64_t u = 0; u < g.n_full_units; ++u) {
      if (s.ref[u] < 0) continue;
      const uint64_t sp = (uint64_t)s.ref[u];
      s.unit_error[u] = s.ref_history[u] ? H.error[sp % H.window_units] : s.unit_error[sp - base];
    }
    for (uint64_t u = 0; u < g.n_full_units; ++u) {
      const uint64_t slot = (H.stream_pos + u) % H.window_units;
      std::memcpy(H.ring.data() + slot * unit_bytes, src + u * unit_bytes, unit_bytes);
      H.error[slot] = s.unit_error[u];
    }
    H.stream_pos += g.n_full_units;
    H.window_start = H.stream_pos > H.window_units
                         ? std::max(H.window_start, H.stream_pos - H.window_units)
                         : H.window_start;
    for (uint64_t u = 0; u < g.n_full_units; ++u)
      H.table.offer(s.unit_hash[u], base + u, H.window_start);
  }

  if (stats) {
    stats->outliers = n_out;
    stats->applied_bound = applied;
    stats->method = (uint8_t)FrameMethod::kStaged;
    stats->version = kFrameVersion2;
    stats->coder = h.coder;
    stats->quant = h.quant;
    stats->ref_units = ref_units;
    stats->history_ref_units = history_refs;
    stats->units = g.n_units;
    stats->code_bytes = code_bytes.size();
    stats->quant_bytes = quant_bytes;
    stats->dedup_bytes = dedup_bytes;
    stats->outlier_bytes = outlier_bytes;
  }
  return (size_t)total;
}

// ---- decoder ----

struct DecodeScratch {
  std::vector<dedup::Run> runs;
  std::vector<int64_t> sources;
  std::vector<uint8_t> literal_unit;
  std::vector<local::BlockParams> params;  // per literal block
  std::vector<uint32_t> lit_block;         // block index of each literal block
  std::vector<uint32_t> codes;             // decoded codes of the coded elements
  std::vector<uint8_t> sym;
  rans::Tables tables;
};
thread_local DecodeScratch t_dec;

// The codes section's n_coded codes: fixed or rANS. False when the section is malformed.
bool decode_codes(const staged::Header& h, const uint8_t* p, uint64_t len, uint64_t n_coded,
                  bool local_mode, uint32_t w, DecodeScratch& s) {
  s.codes.resize(n_coded);
  const uint8_t* end = p + len;
  if (h.coder == (uint8_t)StagedCoder::kFixed) {
    const uint64_t n_groups = (n_coded + kGroupCodes - 1) / kGroupCodes;
    uint64_t planes_bytes;
    const uint8_t* widths = p;
    if (local_mode) {
      planes_bytes = n_groups * 4 * w;
    } else {
      if (n_groups > len) return false;
      uint64_t sum = 0;
      for (uint64_t gi = 0; gi < n_groups; ++gi) {
        if (widths[gi] > kMaxCodeWidth) return false;
        sum += widths[gi];
      }
      planes_bytes = 4 * sum;
      p += n_groups;
    }
    if ((uint64_t)(end - p) != planes_bytes) return false;
    uint32_t group[kGroupCodes];
    for (uint64_t gi = 0; gi < n_groups; ++gi) {
      const uint32_t width = local_mode ? w : widths[gi];
      block::unpack_planes(p, width, group);
      p += 4 * width;
      const uint64_t first = gi * kGroupCodes;
      const uint64_t count = std::min<uint64_t>(kGroupCodes, n_coded - first);
      for (uint64_t k = 0; k < count; ++k) s.codes[first + k] = group[k];
    }
    return true;
  }
  // rANS.
  if (p >= end) return false;
  const uint32_t shift = *p++;
  if (shift > 16) return false;
  if (!rans::read_table(&p, end, &s.tables)) return false;
  const uint32_t n_seg = rans::segments_for(n_coded);
  if ((uint64_t)(end - p) < 4ull * n_seg) return false;
  const uint8_t* counts = p;
  p += 4ull * n_seg;
  s.sym.resize(n_coded);
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    const uint64_t first = (uint64_t)seg * rans::kSegmentSymbols;
    const uint32_t count = (uint32_t)std::min<uint64_t>(rans::kSegmentSymbols, n_coded - first);
    const uint32_t n_words = block::load_le32(counts + 4 * seg);
    if (n_words > count) return false;
    const uint64_t seg_bytes = rans::kStateBytes + 2ull * n_words;
    if ((uint64_t)(end - p) < seg_bytes) return false;
    if (!rans::decode_segment(p, n_words, count, s.tables, s.sym.data() + first)) return false;
    p += seg_bytes;
  }
  if ((uint64_t)(end - p) != rans::packed_bytes(n_coded, shift)) return false;
  for (uint64_t k = 0; k < n_coded; ++k)
    s.codes[k] = ((uint32_t)s.sym[k] << shift) | rans::get_bits(p, k * shift, shift);
  if (local_mode)
    for (uint64_t k = 0; k < n_coded; ++k)
      if (s.codes[k] >= (1u << w)) return false;
  return true;
}

template <DType kType>
void write_value(uint8_t* out, float v) {
  if (kType == DType::kF32) {
    block::store_le32(out, quant::float_to_bits(v));
  } else if (kType == DType::kF16) {
    block::store_le16(out, quant::float_to_half_rn(v));
  } else {
    block::store_le16(out, quant::float_to_bf16_rn(v));
  }
}

template <DType kType>
Reject decode_typed(const staged::Header& h, const uint8_t* frame, uint8_t* dst,
                    DecoderHistory* hist) {
  DecodeScratch& s = t_dec;
  const Geometry g = staged::geometry(h.dtype, h.original_bytes);
  const bool local_mode = h.quant == (uint8_t)StagedQuant::kLocal;
  const uint32_t unit_bytes = (uint32_t)(kUnitElems * g.es);

  // History: the frame must continue the stream where this decoder is.
  const bool history = h.dedup == (uint8_t)StagedDedup::kHistory;
  uint64_t history_units = 0;
  if (history) {
    if (hist == nullptr) return Reject::kHistory;
    if (hist->has_dtype && hist->dtype != h.dtype) {
      // A new element type restarts the window (the encoder does the same).
    }
    if (h.stream_unit != (uint32_t)hist->stream_pos) return Reject::kHistory;
    if (hist->has_dtype && hist->dtype == h.dtype)
      history_units = hist->stream_pos - hist->window_start;
  }

  // Dedup runs.
  const uint8_t* p = frame + staged::section_offset(h, StagedSection::kDedup);
  const uint8_t* end = p + h.section[(int)StagedSection::kDedup];
  s.runs.clear();
  s.literal_unit.assign(g.n_units, 1);
  if (h.dedup != (uint8_t)StagedDedup::kNone) {
    dedup::Section sec;
    if (!dedup::parse_section(p, end, g.n_full_units, &sec)) return Reject::kDedupRuns;
    s.sources.resize(sec.n_sources);
    if (!dedup::read_sources(sec, end, g.n_full_units, history_units, s.sources.data()))
      return Reject::kDedupRuns;
    uint64_t prev_end = 0;
    for (uint64_t k = 0; k < sec.n_runs; ++k) {
      dedup::Run r;
      if (!dedup::read_run(sec, s.sources.data(), k, prev_end, g.n_full_units, &r))
        return Reject::kDedupRuns;
      for (uint64_t u = r.dst; u < r.dst + r.len; ++u) s.literal_unit[u] = 0;
      prev_end = r.dst + r.len;
      s.runs.push_back(r);
    }
    for (const dedup::Run& r : s.runs) {
      if (r.src < 0) continue;  // a history source
      for (uint64_t u = (uint64_t)r.src; u < (uint64_t)r.src + r.len; ++u)
        if (!s.literal_unit[u]) return Reject::kDedupSource;
    }
  }

  // Literal blocks and the quantizer section.
  p = frame + staged::section_offset(h, StagedSection::kQuant);
  end = p + h.section[(int)StagedSection::kQuant];
  s.lit_block.clear();
  for (uint64_t b = 0; b < g.n_blocks; ++b) {
    const uint64_t first_unit = b * (kBlockElems / kUnitElems);
    bool any = false;
    for (uint64_t u = first_unit; u < first_unit + kBlockElems / kUnitElems && u < g.n_units; ++u)
      any |= s.literal_unit[u] != 0;
    if (any) s.lit_block.push_back((uint32_t)b);
  }
  const uint64_t n_lit_blocks = s.lit_block.size();
  uint32_t w = 0, e0 = 0;
  s.params.resize(n_lit_blocks);
  uint64_t n_coded = 0;
  auto lit_elems_of = [&](uint64_t b) {
    uint64_t c = 0;
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, g.n);
    for (uint64_t i = first; i < last; ++i) c += s.literal_unit[i / kUnitElems];
    return c;
  };
  if (local_mode) {
    if ((uint64_t)(end - p) < local::kQuantHeaderBytes) return Reject::kQuantParams;
    e0 = p[0];
    w = p[1];
    if (e0 < 1 || e0 > 254 || w < 1 || w > local::kMaxWidth || p[2] != 0 || p[3] != 0)
      return Reject::kQuantParams;
    p += local::kQuantHeaderBytes;
    if ((uint64_t)(end - p) < n_lit_blocks * local::kRecordBytes) return Reject::kQuantParams;
    const uint8_t* side = p + n_lit_blocks * local::kRecordBytes;
    for (uint64_t k = 0; k < n_lit_blocks; ++k) {
      const uint32_t record = local::load_record(p + k * local::kRecordBytes);
      // The record's kind says whether a side entry follows; check it is there first.
      const bool special = (record & 15u) == local::kSpecialOctave;
      const local::Kind kind = special ? (local::Kind)((record >> 4) & 3u) : local::Kind::kQuant;
      if (special && local::has_side_entry(kind) && (uint64_t)(end - side) < local::kSideBytes)
        return Reject::kQuantParams;
      if (!local::parse(record, side, e0, w, &s.params[k])) return Reject::kQuantParams;
      if (local::has_side_entry(s.params[k].kind)) side += local::kSideBytes;
      if (local::has_codes(s.params[k].kind)) n_coded += lit_elems_of(s.lit_block[k]);
    }
    if (side != end) return Reject::kQuantParams;
  } else {
    if (p != end) return Reject::kQuantParams;
    for (uint64_t u = 0; u < g.n_units; ++u)
      if (s.literal_unit[u]) n_coded += std::min<uint64_t>(kUnitElems, g.n - u * kUnitElems);
  }

  // Codes.
  p = frame + staged::section_offset(h, StagedSection::kCodes);
  if (!decode_codes(h, p, h.section[(int)StagedSection::kCodes], n_coded, local_mode, w, s))
    return h.coder == (uint8_t)StagedCoder::kRans ? Reject::kRansStream : Reject::kCodes;

  // Outliers.
  p = frame + staged::section_offset(h, StagedSection::kOutliers);
  const uint64_t out_len = h.section[(int)StagedSection::kOutliers];
  if (out_len < 4) return Reject::kOutliers;
  const uint64_t n_out = block::load_le32(p);
  if (out_len != 4 + n_out * (4 + g.es)) return Reject::kOutliers;
  const uint8_t* idx = p + 4;
  const uint8_t* val = idx + 4 * n_out;
  for (uint64_t k = 0; k < n_out; ++k) {
    const uint64_t i = block::load_le32(idx + 4 * k);
    if (i >= g.n || (k > 0 && i <= block::load_le32(idx + 4 * (k - 1))) ||
        !s.literal_unit[i / kUnitElems])
      return Reject::kOutliers;
  }

  // Everything is valid: write. Literal blocks.
  uint64_t c = 0;
  for (uint64_t k = 0; k < n_lit_blocks; ++k) {
    const uint64_t b = s.lit_block[k];
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, g.n);
    const local::BlockParams* bp = local_mode ? &s.params[k] : nullptr;
    const bool coded = !local_mode || local::has_codes(bp->kind);
    for (uint64_t i = first; i < last; ++i) {
      if (!s.literal_unit[i / kUnitElems]) continue;
      float v;
      if (!local_mode) {
        v = quant::reconstruct_f32(quant::unzigzag(s.codes[c++]), h.step);
      } else if (coded) {
        v = local::reconstruct(*bp, s.codes[c++]);
      } else {
        v = bp->value;
      }
      write_value<kType>(dst + i * g.es, v);
    }
  }
  for (uint64_t k = 0; k < n_out; ++k) {
    const uint64_t i = block::load_le32(idx + 4 * k);
    std::memcpy(dst + i * g.es, val + k * g.es, g.es);
  }
  // References: literal sources in this frame, or the history.
  for (const dedup::Run& r : s.runs) {
    if (r.src >= 0) {
      std::memcpy(dst + r.dst * unit_bytes, dst + (uint64_t)r.src * unit_bytes, r.len * unit_bytes);
    } else {
      const uint64_t src_pos = hist->stream_pos - (uint64_t)(-r.src);
      for (uint64_t u = 0; u < r.len; ++u) {
        const uint64_t slot = (src_pos + u) % hist->window_units;
        std::memcpy(dst + (r.dst + u) * unit_bytes, hist->ring.data() + slot * unit_bytes,
                    unit_bytes);
      }
    }
  }
  if (g.tail) {
    p = frame + staged::section_offset(h, StagedSection::kTail);
    std::memcpy(dst + g.n * g.es, p, g.tail);
  }
  return Reject::kNone;
}

}  // namespace

void set_code_observer(CodeObserver* observer) {
  t_observer = observer;
}

size_t encode_staged(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     EncoderHistory* hist, FrameStats* stats) {
  switch (params.dtype) {
    case DType::kF32:
      return encode_typed<DType::kF32>(params, src, src_bytes, dst, hist, stats);
    case DType::kF16:
      return encode_typed<DType::kF16>(params, src, src_bytes, dst, hist, stats);
    case DType::kBF16:
      return encode_typed<DType::kBF16>(params, src, src_bytes, dst, hist, stats);
    default:
      return 0;
  }
}

Reject decode_staged(const uint8_t* frame, size_t frame_bytes, uint8_t* dst, size_t dst_capacity,
                     DecoderHistory* hist, size_t* out_bytes) {
  staged::Header h;
  Reject r = staged::parse(frame, frame_bytes, &h);
  if (r != Reject::kNone) return r;
  if (frame[hdr::kMethod] == (uint8_t)FrameMethod::kRaw) {
    if (h.original_bytes > dst_capacity) return Reject::kOutputTooSmall;
    if (h.original_bytes) std::memcpy(dst, frame + kFrameHeaderBytes, h.original_bytes);
    *out_bytes = h.original_bytes;
    return Reject::kNone;
  }
  if (h.original_bytes > dst_capacity) return Reject::kOutputTooSmall;
  // A history frame of another element type restarts the window, as the encoder did.
  if (h.dedup == (uint8_t)StagedDedup::kHistory && hist != nullptr &&
      (!hist->has_dtype || hist->dtype != h.dtype) && h.stream_unit == (uint32_t)hist->stream_pos)
    hist->restart(h.dtype);
  switch ((DType)h.dtype) {
    case DType::kF32:
      r = decode_typed<DType::kF32>(h, frame, dst, hist);
      break;
    case DType::kF16:
      r = decode_typed<DType::kF16>(h, frame, dst, hist);
      break;
    default:
      r = decode_typed<DType::kBF16>(h, frame, dst, hist);
      break;
  }
  if (r != Reject::kNone) return r;
  if (h.dedup == (uint8_t)StagedDedup::kHistory) {
    // The history learns the frame's full units, as decoded.
    DecoderHistory& H = *hist;
    const Geometry g = staged::geometry(h.dtype, h.original_bytes);
    for (uint64_t u = 0; u < g.n_full_units; ++u) {
      const uint64_t slot = (H.stream_pos + u) % H.window_units;
      std::memcpy(H.ring.data() + slot * H.unit_bytes, dst + u * H.unit_bytes, H.unit_bytes);
    }
    H.stream_pos += g.n_full_units;
    if (H.stream_pos - H.window_start > H.window_units)
      H.window_start = H.stream_pos - H.window_units;
  }
  *out_bytes = h.original_bytes;
  return Reject::kNone;
}

}  // namespace squeeze::cpu
