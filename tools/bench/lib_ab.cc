// squeeze-lib-ab: two builds of libsqueeze_c.so in one process, on the same input.
//
//   squeeze-lib-ab LIB_A LIB_B --input F [--mode local|rel|abs|lossless] [--bound B]
//                  [--dtype f32|f16|bf16|i8|u8|i32|u32|i64|u64] [--stream] [--chunk BYTES]
//                  [--chunk-b BYTES] [--rounds R] [--rans] [--decode] [--caps-mask HEX]
//                  [--caps-mask-a HEX]
//     Speed: the two libraries alternate round by round (A B, then B A), each round also timing
//     a memcpy of the input; prints each library's median GB/s, the memcpy's, and the median,
//     least and greatest of the per-round ratios B / A (a round's two runs are adjacent in time,
//     so a shared machine's load cancels as far as it can: on this project's 2-core machines the
//     runs of one squeeze-bench invocation against another's moved +-15% with no change to the
//     code). The frames of both must be byte for byte the same unless --allow-change.
//     --decode times decompression of A's frames instead (both outputs must agree).
//     --chunk-b BYTES gives B frames of another size (LIB_B may be LIB_A): whether a frame size
//     costs speed, measured as two builds are; B then decodes its own frames, and the frames
//     may differ.
//     --caps-mask HEX keeps only these capability bits: a library older than this tool's header
//     refuses bits it does not know (--caps-mask 0xff for one before kCapDedupStep, 0x1ff for
//     one before kCapRansLongSegments, 0x3ff for one before kCapDedupGolomb, 0x7ff for one
//     before kCapPackedRecords).
//     --caps-mask-a HEX also masks A's bits alone: what a capability costs or gains, with
//     LIB_B = LIB_A (--caps-mask-a 0x1ff: A without long rANS segments, B with). Each library
//     then decodes its own frames, and the frames may differ.
//
//   squeeze-lib-ab LIB_A LIB_B --input F [--caps-mask HEX] --same-frames
//     Whether both libraries make the same frames: a digest (FNV-1a) of every frame in each of
//     a matrix of settings (frame sizes, bound modes, element types, coders, history, row
//     layouts), one line per setting; exit status 1 if any differs.
//
// A program, not a timed test (tools/bench/CMakeLists.txt runs it once as a smoke test).
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "squeeze/squeeze_c.h"

namespace {

// The C API of one library, resolved by name.
struct Lib {
  std::string path;
  int (*params_default)(squeeze_c_params*);
  size_t (*max_frame_bytes)(size_t);
  int (*compress)(const squeeze_c_params*, const void*, size_t, void*, size_t, size_t*,
                  squeeze_c_frame_stats*);
  int (*decompress)(const void*, size_t, void*, size_t, size_t*);
  int (*encoder_create)(size_t, squeeze_c_stream_encoder**);
  void (*encoder_destroy)(squeeze_c_stream_encoder*);
  int (*stream_compress)(squeeze_c_stream_encoder*, const squeeze_c_params*, const void*, size_t,
                         void*, size_t, size_t*, squeeze_c_frame_stats*);
  int (*decoder_create)(size_t, squeeze_c_stream_decoder**);
  void (*decoder_destroy)(squeeze_c_stream_decoder*);
  int (*stream_decompress)(squeeze_c_stream_decoder*, const void*, size_t, void*, size_t, size_t*);
};

template <typename F>
bool resolve(void* h, const std::string& path, const char* name, F* f) {
  *f = reinterpret_cast<F>(dlsym(h, name));
  if (*f == nullptr)
    std::fprintf(stderr, "squeeze-lib-ab: %s has no symbol %s\n", path.c_str(), name);
  return *f != nullptr;
}

bool load(const std::string& path, Lib* lib) {
  // RTLD_LOCAL: the two libraries' symbols stay apart (each resolves its own).
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "squeeze-lib-ab: cannot load %s: %s\n", path.c_str(), dlerror());
    return false;
  }
  lib->path = path;
  return resolve(h, path, "squeeze_params_default", &lib->params_default) &&
         resolve(h, path, "squeeze_max_frame_bytes", &lib->max_frame_bytes) &&
         resolve(h, path, "squeeze_compress", &lib->compress) &&
         resolve(h, path, "squeeze_decompress", &lib->decompress) &&
         resolve(h, path, "squeeze_stream_encoder_create", &lib->encoder_create) &&
         resolve(h, path, "squeeze_stream_encoder_destroy", &lib->encoder_destroy) &&
         resolve(h, path, "squeeze_stream_compress", &lib->stream_compress) &&
         resolve(h, path, "squeeze_stream_decoder_create", &lib->decoder_create) &&
         resolve(h, path, "squeeze_stream_decoder_destroy", &lib->decoder_destroy) &&
         resolve(h, path, "squeeze_stream_decompress", &lib->stream_decompress);
}

struct Setting {
  uint32_t dtype = SQUEEZE_C_DTYPE_F32;
  uint32_t mode = SQUEEZE_C_MODE_LOCAL;
  double bound = 1e-2;
  uint32_t caps = SQUEEZE_C_CAPS_ALL & ~SQUEEZE_C_CAP_RANS;
  bool stream = false;
  size_t chunk = 131072;
  bool layout = false;  // two tables of 64 columns (local mode: bounds 1e-2 and 2e-3)
};

// The input's frames under one setting, back to back, with each frame's size.
// bytes keeps its capacity-sized length between rounds (used says how much is frames), so that a
// timed round does not zero-fill the output buffer again, which the codec is not asked to do.
struct Frames {
  std::vector<uint8_t> bytes;
  size_t used = 0;
  std::vector<size_t> sizes;
  bool operator==(const Frames& o) const {
    return sizes == o.sizes && used == o.used &&
           std::equal(bytes.begin(), bytes.begin() + (ptrdiff_t)used, o.bytes.begin());
  }
};

uint64_t fnv1a(const uint8_t* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Compresses the input into out (whose buffers are reused). False with a message on an error.
bool compress_all(const Lib& lib, const Setting& st, const std::vector<uint8_t>& in, Frames* out) {
  squeeze_c_params p;
  lib.params_default(&p);
  p.dtype = st.dtype;
  p.mode = st.mode;
  p.bound = st.bound;
  p.caps = st.caps;
  static const uint32_t kCols[2] = {64, 64};
  static const double kBounds[2] = {1e-2, 2e-3};
  if (st.layout) {
    p.row_elems = 128;
    p.n_tables = 2;
    p.table_cols = kCols;
    p.table_bounds = st.mode == SQUEEZE_C_MODE_LOCAL ? kBounds : nullptr;
  }
  squeeze_c_stream_encoder* enc = nullptr;
  if (st.stream && lib.encoder_create(0, &enc) != SQUEEZE_C_OK) return false;
  const size_t cap = lib.max_frame_bytes(st.chunk);
  const size_t need = ((in.size() + st.chunk - 1) / st.chunk) * cap;
  if (out->bytes.size() < need) out->bytes.resize(need);  // once, before the timed rounds
  out->sizes.clear();
  size_t at = 0;
  bool ok = true;
  for (size_t o = 0; o < in.size() && ok; o += st.chunk) {
    const size_t len = std::min(st.chunk, in.size() - o);
    size_t fb = 0;
    const int rc =
        st.stream ? lib.stream_compress(enc, &p, in.data() + o, len, out->bytes.data() + at, cap,
                                        &fb, nullptr)
                  : lib.compress(&p, in.data() + o, len, out->bytes.data() + at, cap, &fb, nullptr);
    if (rc != SQUEEZE_C_OK) {
      std::fprintf(stderr, "squeeze-lib-ab: %s: compress failed (%d) at byte %zu\n",
                   lib.path.c_str(), rc, o);
      ok = false;
    }
    out->sizes.push_back(fb);
    at += fb;
  }
  out->used = at;
  if (enc != nullptr) lib.encoder_destroy(enc);
  return ok;
}

bool decompress_all(const Lib& lib, bool stream, const Frames& fr, std::vector<uint8_t>* out) {
  squeeze_c_stream_decoder* dec = nullptr;
  if (stream && lib.decoder_create(0, &dec) != SQUEEZE_C_OK) return false;
  size_t at = 0, written = 0;
  bool ok = true;
  for (size_t k = 0; k < fr.sizes.size() && ok; ++k) {
    size_t ob = 0;
    const uint8_t* f = fr.bytes.data() + at;
    const int rc =
        stream ? lib.stream_decompress(dec, f, fr.sizes[k], out->data() + written,
                                       out->size() - written, &ob)
               : lib.decompress(f, fr.sizes[k], out->data() + written, out->size() - written, &ob);
    if (rc != SQUEEZE_C_OK) {
      std::fprintf(stderr, "squeeze-lib-ab: %s: decompress failed (%d) at frame %zu\n",
                   lib.path.c_str(), rc, k);
      ok = false;
    }
    at += fr.sizes[k];
    written += ob;
  }
  if (dec != nullptr) lib.decoder_destroy(dec);
  return ok;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string describe(const Setting& st) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "chunk %zu dtype %u mode %u bound %g caps 0x%x stream %d%s",
                st.chunk, st.dtype, st.mode, st.bound, st.caps, (int)st.stream,
                st.layout ? " layout 2x64" : "");
  return buf;
}

// Every setting of the matrix: both libraries' frames compared by digest.
int same_frames(const Lib (&libs)[2], const std::vector<uint8_t>& in, uint32_t caps_mask) {
  std::vector<Setting> settings;
  const struct {
    uint32_t mode;
    double bound;
  } bounds[] = {{SQUEEZE_C_MODE_LOCAL, 1e-2},
                {SQUEEZE_C_MODE_LOCAL, 1.96e-3},
                {SQUEEZE_C_MODE_REL, 1e-2},
                {SQUEEZE_C_MODE_REL, 1e-3},
                {SQUEEZE_C_MODE_ABS, 1e-3}};
  const uint32_t caps[] = {SQUEEZE_C_CAPS_ALL, SQUEEZE_C_CAPS_ALL & ~SQUEEZE_C_CAP_RANS,
                           SQUEEZE_C_CAPS_ALL & ~SQUEEZE_C_CAP_HISTORY};
  for (size_t chunk : {size_t{131072}, size_t{1} << 20, size_t{131072 + 100}})
    for (const auto& b : bounds)
      for (uint32_t dtype : {SQUEEZE_C_DTYPE_F32, SQUEEZE_C_DTYPE_F16, SQUEEZE_C_DTYPE_BF16})
        for (uint32_t c : caps)
          for (bool stream : {false, true}) {
            // The half-precision types at the two main frame sizes and coder choices.
            if (dtype != SQUEEZE_C_DTYPE_F32 && (chunk == 131072 + 100 || c == caps[1])) continue;
            Setting st;
            st.dtype = dtype;
            st.mode = b.mode;
            st.bound = b.bound;
            st.caps = c & caps_mask;
            st.stream = stream;
            st.chunk = chunk;
            settings.push_back(st);
          }
  for (uint32_t mode : {SQUEEZE_C_MODE_ABS, SQUEEZE_C_MODE_REL, SQUEEZE_C_MODE_LOCAL})
    for (bool stream : {false, true}) {
      Setting st;
      st.mode = mode;
      st.bound = mode == SQUEEZE_C_MODE_ABS ? 1e-3 : 1e-2;
      st.caps = SQUEEZE_C_CAPS_ALL & caps_mask;
      st.stream = stream;
      st.layout = true;
      settings.push_back(st);
    }
  int differ = 0;
  Frames fa, fb;
  for (const Setting& st : settings) {
    if (!compress_all(libs[0], st, in, &fa) || !compress_all(libs[1], st, in, &fb)) return 2;
    const uint64_t ha = fnv1a(fa.bytes.data(), fa.used);
    const uint64_t hb = fnv1a(fb.bytes.data(), fb.used);
    const bool same = ha == hb && fa.sizes == fb.sizes;
    differ += !same;
    std::printf("%s: %zu frames, %zu / %zu bytes, digest %016llx / %016llx %s\n",
                describe(st).c_str(), fa.sizes.size(), fa.used, fb.used, (unsigned long long)ha,
                (unsigned long long)hb, same ? "SAME" : "DIFFER");
  }
  std::printf("%zu settings: %s\n", settings.size(),
              differ ? "some frames DIFFER" : "every frame the same");
  return differ ? 1 : 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: squeeze-lib-ab LIB_A LIB_B --input F [--mode local|rel|abs|lossless]\n"
               "       [--bound B] [--dtype f32|f16|bf16|i8|u8|i32|u32|i64|u64]\n"
               "       [--stream] [--chunk BYTES] [--chunk-b BYTES] [--rounds R] [--rans]\n"
               "       [--decode] [--caps-mask HEX] [--caps-mask-a HEX]\n"
               "       [--allow-change] | --same-frames\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  std::string input;
  Setting st;
  size_t chunk_b = 0;  // 0: B's frames are A's size
  int rounds = 21;
  bool decode = false, allow_change = false, check_frames = false;
  uint32_t caps_mask = ~0u, caps_mask_a = ~0u;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--input" && (v = value())) {
      input = v;
    } else if (a == "--mode" && (v = value())) {
      const std::string m = v;
      if (m != "local" && m != "rel" && m != "abs" && m != "lossless") return usage();
      st.mode = m == "local"      ? SQUEEZE_C_MODE_LOCAL
                : m == "rel"      ? SQUEEZE_C_MODE_REL
                : m == "lossless" ? SQUEEZE_C_MODE_LOSSLESS
                                  : SQUEEZE_C_MODE_ABS;
    } else if (a == "--dtype" && (v = value())) {
      // squeeze::dtype_name's names, in SQUEEZE_C_DTYPE order from f32. Written out here because
      // this tool links no codec of its own: the two libraries it loads are the only ones.
      static const char* const kNames[] = {"f32", "f16", "bf16", "i8", "u8",
                                           "i32", "u32", "i64",  "u64"};
      uint32_t d = 0;
      while (d < 9 && std::strcmp(v, kNames[d]) != 0) ++d;
      if (d == 9) return usage();
      st.dtype = SQUEEZE_C_DTYPE_F32 + d;
    } else if (a == "--bound" && (v = value())) {
      st.bound = std::atof(v);
    } else if (a == "--chunk" && (v = value())) {
      st.chunk = (size_t)std::atoll(v);
    } else if (a == "--chunk-b" && (v = value())) {
      chunk_b = (size_t)std::atoll(v);
      if (chunk_b == 0) return usage();
    } else if (a == "--rounds" && (v = value())) {
      rounds = std::atoi(v);
    } else if (a == "--stream") {
      st.stream = true;
    } else if (a == "--rans") {
      st.caps = SQUEEZE_C_CAPS_ALL;
    } else if (a == "--caps-mask" && (v = value())) {
      char* end = nullptr;
      caps_mask = (uint32_t)std::strtoul(v, &end, 0);
      if (end == v || *end != '\0') return usage();
    } else if (a == "--caps-mask-a" && (v = value())) {
      char* end = nullptr;
      caps_mask_a = (uint32_t)std::strtoul(v, &end, 0);
      if (end == v || *end != '\0') return usage();
    } else if (a == "--decode") {
      decode = true;
    } else if (a == "--allow-change") {
      allow_change = true;
    } else if (a == "--same-frames") {
      check_frames = true;
    } else {
      return usage();
    }
  }
  if (input.empty() || st.chunk == 0 || rounds < 1 || !(st.bound > 0)) return usage();
  std::ifstream f(input, std::ios::binary | std::ios::ate);
  std::vector<uint8_t> in(f ? (size_t)f.tellg() : 0);
  if (!f || !f.seekg(0).read(reinterpret_cast<char*>(in.data()), (std::streamsize)in.size())) {
    std::fprintf(stderr, "squeeze-lib-ab: cannot read %s\n", input.c_str());
    return 2;
  }
  if (in.empty()) {
    std::fprintf(stderr, "squeeze-lib-ab: %s is empty\n", input.c_str());
    return 2;
  }
  Lib libs[2];
  if (!load(argv[1], &libs[0]) || !load(argv[2], &libs[1])) return 2;
  st.caps &= caps_mask;
  if (check_frames) return same_frames(libs, in, caps_mask);

  Setting st_of[2] = {st, st};
  if (chunk_b != 0) st_of[1].chunk = chunk_b;
  st_of[0].caps &= caps_mask_a;
  // B decodes its own frames when it makes them differently by design.
  const bool own_frames = chunk_b != 0 || st_of[0].caps != st_of[1].caps;
  Frames frames[2];
  for (int i = 0; i < 2; ++i)
    if (!compress_all(libs[i], st_of[i], in, &frames[i])) return 2;
  const bool same = frames[0] == frames[1];
  if (!same && !allow_change && !own_frames) {
    std::fprintf(stderr,
                 "squeeze-lib-ab: the libraries' frames differ (--allow-change to time "
                 "them anyway)\n");
    return 1;
  }
  std::vector<uint8_t> copy(in.size()), out[2];
  out[0].resize(in.size());
  out[1].resize(in.size());
  std::vector<double> t[2], t_copy, ratio;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::memcpy(copy.data(), in.data(), in.size());
    t_copy.push_back(seconds_since(t0));
    double round_t[2];
    for (int k = 0; k < 2; ++k) {
      const int i = (r % 2 == 0) ? k : 1 - k;  // A B, then B A
      t0 = std::chrono::steady_clock::now();
      // Both decode A's frames, unless B makes frames of its own (size or capabilities).
      const Frames& to_decode = own_frames ? frames[i] : frames[0];
      const bool ok = decode ? decompress_all(libs[i], st.stream, to_decode, &out[i])
                             : compress_all(libs[i], st_of[i], in, &frames[i]);
      round_t[i] = seconds_since(t0);
      if (!ok) return 2;
    }
    t[0].push_back(round_t[0]);
    t[1].push_back(round_t[1]);
    ratio.push_back(round_t[0] / round_t[1]);
  }
  // The same values, however coded: unless A is denied packed records, whose steps are coarser
  // (kCapPackedRecords: another quantization, each library decoding its own frames).
  const bool same_values = (caps_mask_a & SQUEEZE_C_CAP_PACKED_RECORDS) != 0;
  if (decode && chunk_b == 0 && same_values && out[0] != out[1]) {
    std::fprintf(stderr, "squeeze-lib-ab: the libraries decode A's frames differently\n");
    return 1;
  }
  const double gb = (double)in.size() / 1e9;
  std::sort(ratio.begin(), ratio.end());
  std::printf("%s %s, %s, %d rounds: ratio %.3f, frames %s\n", decode ? "decompress" : "compress",
              describe(st).c_str(), input.c_str(), rounds,
              (double)in.size() / (double)frames[0].used, same ? "the same" : "DIFFER");
  if (own_frames)
    std::printf("  B: chunk %zu, caps 0x%x, ratio %.3f\n", st_of[1].chunk, st_of[1].caps,
                (double)in.size() / (double)frames[1].used);
  std::printf("  A %.3f GB/s, B %.3f GB/s, memcpy %.2f GB/s (medians; A %.3fx, B %.3fx memcpy)\n",
              gb / median(t[0]), gb / median(t[1]), gb / median(t_copy),
              median(t_copy) / median(t[0]), median(t_copy) / median(t[1]));
  std::printf("  B / A speed: median %.3f, least %.3f, greatest %.3f\n", median(ratio), ratio[0],
              ratio.back());
  return 0;
}
