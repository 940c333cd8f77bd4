// Uses the installed public header and library: a round trip of 64 KiB of floats within an
// absolute bound, smaller on the wire. Exit status 0 only when both hold.
#include <squeeze/codec.h>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const size_t n = 16384;
  std::vector<float> x(n), y(n);
  for (size_t i = 0; i < n; ++i) x[i] = 0.1f * std::sin(0.01f * static_cast<float>(i));
  squeeze::CodecParams p;
  p.mode = squeeze::BoundMode::kAbs;
  p.bound = 1e-3;
  std::vector<unsigned char> frame(squeeze::max_frame_bytes(n * sizeof(float)));
  size_t frame_bytes = 0, out_bytes = 0;
  squeeze::Status s =
      squeeze::compress(p, x.data(), n * sizeof(float), frame.data(), frame.size(), &frame_bytes);
  if (s != squeeze::Status::kOk) {
    std::printf("consumer: compress: %s\n", squeeze::status_string(s));
    return 1;
  }
  s = squeeze::decompress(frame.data(), frame_bytes, y.data(), n * sizeof(float), &out_bytes);
  if (s != squeeze::Status::kOk || out_bytes != n * sizeof(float)) {
    std::printf("consumer: decompress: %s\n", squeeze::status_string(s));
    return 1;
  }
  double max_err = 0;
  for (size_t i = 0; i < n; ++i) max_err = std::fmax(max_err, std::fabs(double(x[i]) - y[i]));
  std::printf("consumer: %zu bytes -> %zu, max error %.3g (bound %.3g), backend %s\n",
              n * sizeof(float), frame_bytes, max_err, p.bound, squeeze::cpu_backend_name());
#ifdef SQUEEZE_PLUGIN_PATH
  std::printf("consumer: plugin %s\n", SQUEEZE_PLUGIN_PATH);
#endif
  return max_err <= p.bound && frame_bytes < n * sizeof(float) ? 0 : 1;
}
