#include "tools/bench/lossless.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tools/bench/timing.h"

#if SQUEEZE_BENCH_HAVE_ZSTD
#include <zstd.h>
#endif
#if SQUEEZE_BENCH_HAVE_LZ4
#include <lz4.h>
#endif

namespace squeeze::bench {
namespace {

struct LosslessRow {
  std::string name;
  size_t bytes = 0;
  double ratio = 0, compress_gbps = 0, decompress_gbps = 0;
};

double entropy_bits(const uint64_t* hist, size_t n_sym, uint64_t total) {
  double h = 0;
  for (size_t s = 0; s < n_sym; ++s) {
    if (hist[s] == 0) continue;
    const double p = (double)hist[s] / (double)total;
    h -= p * std::log2(p);
  }
  return h;
}

// A codec that works on whole chunks: compress into dst (returns bytes, 0 on failure) and back.
struct Coder {
  std::string name;
  size_t (*bound)(size_t);
  size_t (*compress)(const uint8_t*, size_t, uint8_t*, size_t, DType);
  bool (*decompress)(const uint8_t*, size_t, uint8_t*, size_t, DType);
};

size_t squeeze_bound(size_t n) {
  return max_frame_bytes(n);
}
size_t squeeze_compress(const uint8_t* src, size_t n, uint8_t* dst, size_t cap, DType t) {
  CodecParams p;
  p.dtype = t;
  p.mode = BoundMode::kLossless;
  size_t fb = 0;
  return compress(p, src, n, dst, cap, &fb) == Status::kOk ? fb : 0;
}
bool squeeze_decompress(const uint8_t* src, size_t n, uint8_t* dst, size_t cap, DType) {
  size_t out = 0;
  return decompress(src, n, dst, cap, &out) == Status::kOk && out == cap;
}

#if SQUEEZE_BENCH_HAVE_ZSTD
size_t zstd_bound(size_t n) {
  return ZSTD_compressBound(n);
}
size_t zstd_compress(const uint8_t* src, size_t n, uint8_t* dst, size_t cap, DType) {
  const size_t r = ZSTD_compress(dst, cap, src, n, 1);
  return ZSTD_isError(r) ? 0 : r;
}
bool zstd_decompress(const uint8_t* src, size_t n, uint8_t* dst, size_t cap, DType) {
  const size_t r = ZSTD_decompress(dst, cap, src, n);
  return !ZSTD_isError(r) && r == cap;
}
#endif
#if SQUEEZE_BENCH_HAVE_LZ4
size_t lz4_bound(size_t n) {
  return (size_t)LZ4_compressBound((int)n);
}
size_t lz4_compress(const uint8_t* src, size_t n, uint8_t* dst, size_t cap, DType) {
  const int r = LZ4_compress_default((const char*)src, (char*)dst, (int)n, (int)cap);
  return r > 0 ? (size_t)r : 0;
}
bool lz4_decompress(const uint8_t* src, size_t n, uint8_t* dst, size_t cap, DType) {
  const int r = LZ4_decompress_safe((const char*)src, (char*)dst, (int)n, (int)cap);
  return r >= 0 && (size_t)r == cap;
}
#endif

}  // namespace

int run_lossless(const LosslessRequest& req, const std::vector<uint8_t>& raw) {
  const size_t bytes = raw.size();
  const size_t es = dtype_size(req.dtype);
  if (bytes == 0) {
    std::fprintf(stderr, "squeeze-bench: no input\n");
    return 2;
  }
  const size_t chunk =
      req.chunk_bytes == 0 ? bytes : std::max(req.chunk_bytes / es * es, (size_t)es);
  const double gb = (double)bytes / 1e9;
  std::printf("squeeze-bench: %s\n", req.source.c_str());
  std::printf(
      "input: %zu bytes of %s (%zu values); machine: %u cores, %s; lossless, %zu-byte "
      "frames, median of %d repetitions, single thread\n",
      bytes, squeeze::dtype_name(req.dtype), bytes / es, std::thread::hardware_concurrency(),
      req.cpu.c_str(), chunk, req.reps);

  std::vector<LosslessRow> rows;
  {
    std::vector<uint8_t> dst(bytes);
    std::memcpy(dst.data(), raw.data(), bytes);
    const double t = median_seconds(req.reps, [&] { std::memcpy(dst.data(), raw.data(), bytes); });
    volatile uint8_t sink = dst[bytes / 2];
    (void)sink;
    rows.push_back({"memcpy", bytes, 1.0, gb / t, gb / t});
  }
  std::vector<Coder> coders = {
      {"squeeze lossless", squeeze_bound, squeeze_compress, squeeze_decompress}};
#if SQUEEZE_BENCH_HAVE_ZSTD
  coders.push_back({"zstd -1", zstd_bound, zstd_compress, zstd_decompress});
#endif
#if SQUEEZE_BENCH_HAVE_LZ4
  coders.push_back({"lz4", lz4_bound, lz4_compress, lz4_decompress});
#endif
  const size_t n_chunks = (bytes + chunk - 1) / chunk;
  for (const Coder& c : coders) {
    const size_t cap = c.bound(chunk);
    std::vector<uint8_t> enc(cap * n_chunks);
    std::vector<size_t> enc_bytes(n_chunks);
    std::vector<uint8_t> dec(bytes);
    auto encode_all = [&] {
      for (size_t k = 0; k < n_chunks; ++k) {
        const size_t len = std::min(chunk, bytes - k * chunk);
        enc_bytes[k] =
            c.compress(raw.data() + k * chunk, len, enc.data() + k * cap, cap, req.dtype);
      }
    };
    bool ok = true;
    auto decode_all = [&] {
      for (size_t k = 0; k < n_chunks; ++k) {
        const size_t len = std::min(chunk, bytes - k * chunk);
        ok = c.decompress(enc.data() + k * cap, enc_bytes[k], dec.data() + k * chunk, len,
                          req.dtype) &&
             ok;
      }
    };
    encode_all();
    size_t total = 0;
    for (size_t k = 0; k < n_chunks; ++k) {
      if (enc_bytes[k] == 0) {
        std::fprintf(stderr, "squeeze-bench: %s failed to compress chunk %zu\n", c.name.c_str(), k);
        return 1;
      }
      total += enc_bytes[k];
    }
    decode_all();
    if (!ok || std::memcmp(dec.data(), raw.data(), bytes) != 0) {
      size_t bad = 0;
      while (bad < bytes && dec[bad] == raw[bad]) ++bad;
      std::fprintf(stderr, "squeeze-bench: %s round trip is not exact (first byte %zu)\n",
                   c.name.c_str(), bad);
      return 1;
    }
    const double tc = median_seconds(req.reps, encode_all);
    const double td = median_seconds(req.reps, decode_all);
    rows.push_back({c.name, total, (double)bytes / (double)total, gb / tc, gb / td});
  }

  // Order-0 entropy of each byte plane (byte p of every element) and of a float's exponent.
  const size_t n = bytes / es;
  std::vector<double> plane_bits(es);
  double sum_bits = 0;
  for (size_t p = 0; p < es; ++p) {
    uint64_t hist[256] = {};
    for (size_t i = 0; i < n; ++i) ++hist[raw[i * es + p]];
    plane_bits[p] = entropy_bits(hist, 256, n);
    sum_bits += plane_bits[p];
  }
  double exp_bits = -1;
  if (req.dtype == DType::kF32 || req.dtype == DType::kBF16 || req.dtype == DType::kF16) {
    const int ebits = req.dtype == DType::kF16 ? 5 : 8;
    const int shift = req.dtype == DType::kF32 ? 23 : req.dtype == DType::kBF16 ? 7 : 10;
    std::vector<uint64_t> hist((size_t)1 << ebits, 0);
    for (size_t i = 0; i < n; ++i) {
      uint64_t v = 0;
      for (size_t b = 0; b < es; ++b) v |= (uint64_t)raw[i * es + b] << (8 * b);
      ++hist[(v >> shift) & ((1u << ebits) - 1)];
    }
    exp_bits = entropy_bits(hist.data(), hist.size(), n);
  }
  const double planes_limit = sum_bits > 0 ? 8.0 * (double)es / sum_bits : INFINITY;

  std::printf("\n%-20s %12s %9s %10s %11s %8s %8s\n", "codec", "bytes", "ratio", "comp GB/s",
              "decomp GB/s", "c/memcpy", "d/memcpy");
  for (const LosslessRow& r : rows)
    std::printf("%-20s %12zu %9.3f %10.3f %11.3f %8.3f %8.3f\n", r.name.c_str(), r.bytes, r.ratio,
                r.compress_gbps, r.decompress_gbps, r.compress_gbps / rows[0].compress_gbps,
                r.decompress_gbps / rows[0].decompress_gbps);
  std::printf("\norder-0 entropy per byte plane (bits, byte 0 = least significant):");
  for (size_t p = 0; p < es; ++p) std::printf(" %.3f", plane_bits[p]);
  std::printf("\norder-0 limit of coding each plane on its own (before any transform): %.3fx\n",
              planes_limit);
  if (exp_bits >= 0) std::printf("order-0 entropy of the exponent field: %.3f bits\n", exp_bits);
#if !SQUEEZE_BENCH_HAVE_ZSTD || !SQUEEZE_BENCH_HAVE_LZ4
  std::printf("(built without %s%s: install libzstd-dev / liblz4-dev for those references)\n",
              SQUEEZE_BENCH_HAVE_ZSTD ? "" : "zstd ", SQUEEZE_BENCH_HAVE_LZ4 ? "" : "lz4");
#endif

  if (!req.json.empty()) {
    std::ostringstream j;
    auto num = [](double v) {
      std::ostringstream s;
      if (std::isfinite(v))
        s << v;
      else
        s << "null";
      return s.str();
    };
    std::string src;
    for (char ch : req.source) {
      if (ch == '"' || ch == '\\') src += '\\';
      src += ch;
    }
    j << "{\n  \"source\": \"" << src << "\",\n  \"dtype\": \"" << squeeze::dtype_name(req.dtype)
      << "\",\n  \"mode\": \"lossless\",\n  \"input_bytes\": " << bytes
      << ",\n  \"chunk_bytes\": " << chunk << ",\n  \"reps\": " << req.reps
      << ",\n  \"cores\": " << std::thread::hardware_concurrency()
      << ",\n  \"plane_entropy_bits\": [";
    for (size_t p = 0; p < es; ++p) j << (p ? ", " : "") << num(plane_bits[p]);
    j << "],\n  \"planes_order0_ratio_limit\": " << num(planes_limit)
      << ",\n  \"exponent_entropy_bits\": " << (exp_bits >= 0 ? num(exp_bits) : "null")
      << ",\n  \"rows\": [\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const LosslessRow& r = rows[i];
      j << "    {\"name\": \"" << r.name << "\", \"bytes\": " << r.bytes
        << ", \"ratio\": " << num(r.ratio) << ", \"max_abs_err\": 0, \"mean_abs_err\": 0"
        << ", \"compress_gbps\": " << num(r.compress_gbps)
        << ", \"decompress_gbps\": " << num(r.decompress_gbps) << "}"
        << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    j << "  ]\n}\n";
    std::ofstream f(req.json);
    f << j.str();
    if (!f) {
      std::fprintf(stderr, "squeeze-bench: cannot write %s\n", req.json.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace squeeze::bench
