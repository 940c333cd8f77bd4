// Payload generation and verification for squeeze-a2a. Every message is a pure function of
// (seed, source rank, destination rank, message kind), so a receiver regenerates what its peer
// sent and checks every byte it received without any extra traffic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace squeeze::plugin {
struct LayoutSpec;
}  // namespace squeeze::plugin

namespace squeeze::a2a {

enum class ElemType { kF32, kF16, kBF16, kI32, kI64 };
enum class PayloadKind { kDlrm, kGaussian, kFile };

size_t elem_size(ElemType t);
bool is_float(ElemType t);
const char* elem_name(ElemType t);        // "f32", ... (command line and JSON)
const char* nccl_dtype_name(ElemType t);  // "ncclFloat32", ... (what NCCL's profiler reports)
bool parse_elem_type(const std::string& s, ElemType* out);
bool parse_payload_kind(const std::string& s, PayloadKind* out);
const char* payload_name(PayloadKind k);

struct PayloadSpec {
  PayloadKind kind = PayloadKind::kDlrm;
  ElemType dtype = ElemType::kF32;
  uint64_t seed = 1;
  int emb_dim = 64;                            // dlrm: embedding dimension (row width in elements)
  const std::vector<uint8_t>* file = nullptr;  // kFile: the input file's bytes
  // kFile: a message starts at a multiple of this many elements of the file (a row: a peer's
  // slice of a pooled-embedding all-to-all starts on a sample's first value); 1 = any element.
  size_t row_elems = 1;
};

// Fills out[0, bytes) with the message that rank src sends to rank dst. Float kinds follow
// spec.kind; integer dtypes are index-like values (log-uniform ids), as TorchRec's index
// all-to-all carries. A trailing partial element is filled with deterministic bytes.
void generate(const PayloadSpec& spec, int src, int dst, uint8_t* out, size_t bytes);

// Reads a whole file; false (and a message) on error or when it is empty.
bool read_file(const std::string& path, std::vector<uint8_t>* out, std::string* err);

// Which guarantee a received range must meet.
struct Tolerance {
  bool lossy = false;  // false: bit-exact
  bool rel = true;     // true: bound * (max - min) over the frame's finite values
  bool local = false;  // true: bound * (max - min) of each block of 32 values of the frame
  double bound = 0.0;
  // The plugin's NCCL_SQUEEZE_LAYOUT (--layout), parsed: the frame's bounds are what the plugin
  // applies with it (plugin::apply_layout, squeeze::element_bounds). Null: none.
  const plugin::LayoutSpec* layout = nullptr;
};

struct VerifyStats {
  uint64_t checked_bytes = 0;
  uint64_t bad_elements = 0;
  uint64_t first_bad_offset = UINT64_MAX;  // byte offset within the verified range
  double max_abs_err = 0.0;
  double max_err_over_bound = 0.0;  // 0 when exact or every frame's bound is 0
  void merge(const VerifyStats& o);
};

// Checks one frame (one isend's bytes): exact for non-float types, for non-finite values and for
// a trailing partial element; within the bound in double precision otherwise.
void verify_frame(const uint8_t* expected, const uint8_t* got, size_t bytes, ElemType t,
                  const Tolerance& tol, uint64_t base_offset, VerifyStats* stats);

// Element value widened to double (for reports and the bound check).
double element_as_double(const uint8_t* p, ElemType t);

}  // namespace squeeze::a2a
