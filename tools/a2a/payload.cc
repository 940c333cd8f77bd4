#include "tools/a2a/payload.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "compress/methods/local.h"
#include "compress/quant.h"
#include "plugin/classify/layout.h"
#include "squeeze/codec.h"
#ifdef SQUEEZE_A2A_BENCH_DATAGEN
#include "tools/bench/datagen.h"
#endif

namespace squeeze::a2a {
namespace {

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t mix(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0, uint64_t e = 0) {
  uint64_t h = splitmix(a);
  h = splitmix(h ^ b);
  h = splitmix(h ^ c);
  h = splitmix(h ^ d);
  return splitmix(h ^ e);
}

// Uniform in (0, 1): never 0, so log() below stays finite.
double unit(uint64_t h) {
  return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double gaussian(uint64_t h) {
  double u1 = unit(h);
  double u2 = unit(splitmix(h));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Log-uniform id in [0, n): small ids are much more frequent, so small tables repeat rows.
uint64_t log_uniform(uint64_t n, uint64_t h) {
  double v = std::pow((double)n, unit(h));  // in [1, n)
  uint64_t id = (uint64_t)v - 1;
  return id < n ? id : n - 1;
}

// Criteo-like table cardinalities: a few tiny tables (whose rows repeat constantly) and some large.
constexpr uint64_t kTableRows[] = {3,      4,     10,      24,   27,   100,   305,   583,   633,
                                   1460,   2173,  3194,    5652, 5683, 12517, 14992, 93145, 142572,
                                   286181, 10131, 2202608, 7,    18,   15,    286,   105};
constexpr int kTables = sizeof(kTableRows) / sizeof(kTableRows[0]);

[[maybe_unused]] float dlrm_value(const PayloadSpec& s, int src, int dst, uint64_t e) {
  uint64_t dim = (uint64_t)s.emb_dim;
  uint64_t row = e / dim, j = e % dim;
  uint64_t sample = row / kTables;
  int table = (int)(row % kTables);
  uint64_t id =
      log_uniform(kTableRows[table],
                  mix(s.seed, 0x5a, (uint64_t)src << 32 | (uint32_t)dst, sample, (uint64_t)table));
  // Row values do not depend on who sends them: the same row recurs across messages.
  double sigma = 0.02 + 0.01 * (table % 5);
  return (float)(sigma * gaussian(mix(s.seed, 0xe3b, (uint64_t)table, id, j)));
}

void store_float(float v, ElemType t, uint8_t* p) {
  if (t == ElemType::kF32) {
    std::memcpy(p, &v, 4);
  } else {
    uint16_t h = t == ElemType::kF16 ? quant::float_to_half_rn(v) : quant::float_to_bf16_rn(v);
    std::memcpy(p, &h, 2);
  }
}

}  // namespace

size_t elem_size(ElemType t) {
  switch (t) {
    case ElemType::kF32:
    case ElemType::kI32:
      return 4;
    case ElemType::kF16:
    case ElemType::kBF16:
      return 2;
    case ElemType::kI64:
      return 8;
  }
  return 1;
}

bool is_float(ElemType t) {
  return t == ElemType::kF32 || t == ElemType::kF16 || t == ElemType::kBF16;
}

const char* elem_name(ElemType t) {
  switch (t) {
    case ElemType::kF32:
      return "f32";
    case ElemType::kF16:
      return "f16";
    case ElemType::kBF16:
      return "bf16";
    case ElemType::kI32:
      return "int32";
    case ElemType::kI64:
      return "int64";
  }
  return "?";
}

const char* nccl_dtype_name(ElemType t) {
  switch (t) {
    case ElemType::kF32:
      return "ncclFloat32";
    case ElemType::kF16:
      return "ncclFloat16";
    case ElemType::kBF16:
      return "ncclBfloat16";
    case ElemType::kI32:
      return "ncclInt32";
    case ElemType::kI64:
      return "ncclInt64";
  }
  return "Unknown";
}

bool parse_elem_type(const std::string& s, ElemType* out) {
  for (ElemType t :
       {ElemType::kF32, ElemType::kF16, ElemType::kBF16, ElemType::kI32, ElemType::kI64}) {
    if (s == elem_name(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

bool parse_payload_kind(const std::string& s, PayloadKind* out) {
  if (s == "dlrm")
    *out = PayloadKind::kDlrm;
  else if (s == "gaussian")
    *out = PayloadKind::kGaussian;
  else if (s == "file")
    *out = PayloadKind::kFile;
  else
    return false;
  return true;
}

const char* payload_name(PayloadKind k) {
  switch (k) {
    case PayloadKind::kDlrm:
      return "dlrm";
    case PayloadKind::kGaussian:
      return "gaussian";
    case PayloadKind::kFile:
      return "file";
  }
  return "?";
}

void generate(const PayloadSpec& spec, int src, int dst, uint8_t* out, size_t bytes) {
  const size_t es = elem_size(spec.dtype);
  const uint64_t pair = (uint64_t)src << 32 | (uint32_t)dst;
  if (spec.kind == PayloadKind::kFile && spec.file != nullptr && !spec.file->empty()) {
    // Each (src, dst) reads the file from its own offset (a whole row), wrapping around.
    const std::vector<uint8_t>& f = *spec.file;
    const size_t row = std::max<size_t>(1, spec.row_elems) * es;
    size_t start = (size_t)((mix(spec.seed, pair) % f.size()) / row * row);
    size_t pos = start % f.size();
    for (size_t i = 0; i < bytes;) {
      size_t n = std::min(bytes - i, f.size() - pos);
      std::memcpy(out + i, f.data() + pos, n);
      i += n;
      pos = 0;
    }
    return;
  }
  const size_t n = bytes / es;
  if (!is_float(spec.dtype)) {
    const uint64_t range = spec.dtype == ElemType::kI64 ? (1ull << 40) : (1ull << 30);
    for (size_t e = 0; e < n; ++e) {
      uint64_t id = log_uniform(range, mix(spec.seed, 0x1d, pair, e));
      if (spec.dtype == ElemType::kI64) {
        int64_t v = (int64_t)id;
        std::memcpy(out + e * 8, &v, 8);
      } else {
        int32_t v = (int32_t)id;
        std::memcpy(out + e * 4, &v, 4);
      }
    }
  } else if (spec.kind == PayloadKind::kGaussian) {
    for (size_t e = 0; e < n; ++e)
      store_float((float)gaussian(mix(spec.seed, 0x6a, pair, e)), spec.dtype, out + e * es);
  } else {
    for (size_t e = 0; e < n; ++e)
      store_float(dlrm_value(spec, src, dst, e), spec.dtype, out + e * es);
  }
  for (size_t i = n * es; i < bytes; ++i) out[i] = (uint8_t)mix(spec.seed, 0x7a, pair, i);
}

bool read_file(const std::string& path, std::vector<uint8_t>* out, std::string* err) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *err = "cannot open " + path;
    return false;
  }
  out->clear();
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->insert(out->end(), buf, buf + n);
  bool ok = !std::ferror(f);
  std::fclose(f);
  if (!ok || out->empty()) {
    *err = ok ? path + " is empty" : "read error on " + path;
    return false;
  }
  return true;
}

void VerifyStats::merge(const VerifyStats& o) {
  checked_bytes += o.checked_bytes;
  bad_elements += o.bad_elements;
  if (o.first_bad_offset < first_bad_offset) first_bad_offset = o.first_bad_offset;
  if (o.max_abs_err > max_abs_err) max_abs_err = o.max_abs_err;
  if (o.max_err_over_bound > max_err_over_bound) max_err_over_bound = o.max_err_over_bound;
}

double element_as_double(const uint8_t* p, ElemType t) {
  switch (t) {
    case ElemType::kF32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case ElemType::kF16:
    case ElemType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return t == ElemType::kF16 ? quant::half_to_float(h) : quant::bf16_to_float(h);
    }
    case ElemType::kI32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case ElemType::kI64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return (double)v;
    }
  }
  return 0.0;
}

void verify_frame(const uint8_t* expected, const uint8_t* got, size_t bytes, ElemType t,
                  const Tolerance& tol, uint64_t base_offset, VerifyStats* stats) {
  stats->checked_bytes += bytes;
  auto bad = [&](uint64_t off) {
    ++stats->bad_elements;
    if (base_offset + off < stats->first_bad_offset) stats->first_bad_offset = base_offset + off;
  };
  if (!tol.lossy || !is_float(t)) {
    if (std::memcmp(expected, got, bytes) == 0) return;
    const size_t es = is_float(t) || t == ElemType::kI32 || t == ElemType::kI64 ? elem_size(t) : 1;
    for (size_t i = 0; i < bytes; i += es) {
      size_t n = std::min(es, bytes - i);
      if (std::memcmp(expected + i, got + i, n) != 0) bad(i);
    }
    return;
  }
  const size_t es = elem_size(t);
  const size_t n = bytes / es;
  std::vector<double> layout_eb;
  if (tol.layout != nullptr) {
    // What the plugin applies with its layout to this frame (a step: it starts at a 4 KiB
    // multiple of the message), and the bounds that gives every element.
    CodecParams p;
    p.dtype = t == ElemType::kF32 ? DType::kF32 : t == ElemType::kF16 ? DType::kF16 : DType::kBF16;
    p.mode = tol.local ? BoundMode::kLocal : tol.rel ? BoundMode::kRel : BoundMode::kAbs;
    p.bound = tol.bound;
    p.caps = kCapsAll;
    plugin::TaskLayout storage;
    const std::shared_ptr<const plugin::LayoutSpec> spec(tol.layout, [](const void*) {});
    plugin::apply_layout(spec, &p, &storage);
    layout_eb.resize(n);
    element_bounds(p, expected, bytes,
                   p.mode == BoundMode::kLocal ? local::record_log2(p.layout, p.caps) : 0,
                   layout_eb.data());
  }
  double eb = tol.bound;
  // The finite range of elements [first, last), as the codec defines rel and local bounds.
  auto range_bound = [&](size_t first, size_t last) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (size_t e = first; e < last; ++e) {
      const double v = element_as_double(expected + e * es, t);
      if (std::isfinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return hi >= lo ? tol.bound * (hi - lo) : 0.0;
  };
  if (tol.local) {
    eb = 0.0;  // set per block below
  } else if (tol.rel) {
    // The frame's value range over its finite elements, as the codec defines the rel bound.
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (size_t e = 0; e < n; ++e) {
      double v = element_as_double(expected + e * es, t);
      if (std::isfinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    eb = hi >= lo ? tol.bound * (hi - lo) : 0.0;
  }
  for (size_t e = 0; e < n; ++e) {
    if (tol.local && e % 32 == 0) eb = range_bound(e, std::min(n, e + 32));
    if (!layout_eb.empty()) eb = layout_eb[e];
    const uint8_t* pe = expected + e * es;
    const uint8_t* pg = got + e * es;
    double x = element_as_double(pe, t);
    if (!std::isfinite(x) || ((tol.local || !layout_eb.empty()) && eb == 0.0)) {
      // NaN / Inf travel exactly, and so does a constant local block.
      if (std::memcmp(pe, pg, es) != 0) bad(e * es);
      continue;
    }
    double y = element_as_double(pg, t);
    double d = std::fabs(x - y);
    if (!std::isfinite(y) || !(d <= eb)) {
      bad(e * es);
      if (!std::isfinite(y)) continue;
    }
    if (d > stats->max_abs_err) stats->max_abs_err = d;
    if (eb > 0.0 && d / eb > stats->max_err_over_bound) stats->max_err_over_bound = d / eb;
  }
  for (size_t i = n * es; i < bytes; ++i)
    if (expected[i] != got[i]) bad(i);
}

}  // namespace squeeze::a2a
