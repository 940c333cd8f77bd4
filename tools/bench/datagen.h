// Synthetic inputs for squeeze-bench. Both generators are deterministic functions of (size,
// seed) and produce fp32 values; the benchmark converts them for f16 / bf16 runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace squeeze::bench {

// i.i.d. N(0, 0.1^2): a table-free stand-in with embedding-like magnitudes.
std::vector<float> generate_gaussian(size_t n_values, uint64_t seed);

// Description of the synthetic DLRM payload: one entry per table.
struct DlrmTable {
  uint32_t dim;          // embedding dimension
  uint64_t cardinality;  // rows in the table
  float stddev;          // value scale of its rows
  uint32_t max_pooling;  // 1 = one-hot; else each sample sums 1..max_pooling rows
};

struct DlrmLayout {
  std::vector<DlrmTable> tables;
  size_t batch = 0;     // samples (rows of the [batch, sum_dims] payload)
  size_t sum_dims = 0;  // values per sample
};

// The tables the dlrm generator uses for a given seed (26 of them, see datagen.cc).
std::vector<DlrmTable> dlrm_tables(uint64_t seed);

// Pooled-embedding all-to-all payload of as many whole samples as fit in max_values (at least
// one): [batch, sum of table dims] row-major. The model is documented in datagen.cc.
std::vector<float> generate_dlrm(size_t max_values, uint64_t seed, DlrmLayout* layout);

// An all-to-all block at initialisation (DLRM / TorchRec initialise a table of n rows uniformly in
// +-1/sqrt(n)): 7 one-hot tables of dim 64 with 10^6, 10^6, 10^5, 3*10^4, 10^3, 100 and 10 rows,
// so the tables' scales differ by more than 300x (the erased-tables issue's payload). Rows are
// derived from hash(seed, table, row) like dlrm's, lookups Zipf-popular.
std::vector<float> generate_init(size_t max_values, uint64_t seed, DlrmLayout* layout);

}  // namespace squeeze::bench
