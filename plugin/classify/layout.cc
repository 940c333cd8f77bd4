#include "plugin/classify/layout.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>

namespace squeeze::plugin {

namespace {

struct Store {
  std::mutex mu;
  std::shared_ptr<const LayoutSpec> configured;
  std::shared_ptr<const LayoutSpec> override_spec;
  bool has_override = false;
  std::atomic<uint64_t> generation{1};
  std::atomic<bool> classes{false};
  ScheduleSettings schedule;  // written at init only
  std::atomic<bool> iteration_set{false};
  std::atomic<uint64_t> iteration{0};
  std::atomic<uint64_t> lossy_bytes{0};
};

Store& store() {
  static Store s;
  return s;
}

bool parse_u64(const std::string& s, uint64_t* v) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 18)
    return false;
  *v = std::strtoull(s.c_str(), nullptr, 10);
  return true;
}

}  // namespace

bool parse_layout(const std::string& text, LayoutSpec* out, std::string* error) {
  LayoutSpec spec;
  spec.text = text;
  size_t pos = 0;
  int entry = 0;
  uint64_t row = 0;
  while (pos <= text.size() && !text.empty()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    std::string e = text.substr(pos, end - pos);
    ++entry;
    while (!e.empty() && e.front() == ' ') e.erase(e.begin());
    while (!e.empty() && e.back() == ' ') e.pop_back();
    auto fail = [&](const std::string& why) {
      *error = "table entry " + std::to_string(entry) + " \"" + e + "\": " + why +
               " (expected WIDTH[*COUNT][@ROWS][=BOUND], e.g. 64*4@1000000=5e-3)";
      return false;
    };
    double bound = 0.0;
    const size_t eq = e.find('=');
    std::string head = e.substr(0, eq);
    if (eq != std::string::npos) {
      const std::string b = e.substr(eq + 1);
      char* stop = nullptr;
      bound = std::strtod(b.c_str(), &stop);
      if (b.empty() || *stop != '\0' || !(bound > 0.0) || !std::isfinite(bound))
        return fail("the bound must be a number > 0");
    }
    uint64_t rows = 0, count = 1, width = 0;
    const size_t at = head.find('@');
    if (at != std::string::npos) {
      if (!parse_u64(head.substr(at + 1), &rows)) return fail("@ROWS must be a whole number");
      head = head.substr(0, at);
    }
    const size_t star = head.find('*');
    if (star != std::string::npos) {
      if (!parse_u64(head.substr(star + 1), &count) || count == 0)
        return fail("*COUNT must be a whole number >= 1");
      head = head.substr(0, star);
    }
    if (!parse_u64(head, &width) || width == 0)
      return fail("the width must be a whole number >= 1");
    if (spec.cols.size() + count > kMaxTables)
      return fail("more than " + std::to_string(kMaxTables) + " tables");
    row += width * count;
    if (row > kMaxRowElems) return fail("a row wider than " + std::to_string(kMaxRowElems));
    for (uint64_t k = 0; k < count; ++k) {
      spec.cols.push_back(static_cast<uint32_t>(width));
      spec.rows.push_back(rows);
      spec.bounds.push_back(bound);
    }
    pos = end + 1;
  }
  if (spec.cols.empty()) {
    *error = "no table";
    return false;
  }
  spec.row_elems = static_cast<uint32_t>(row);
  *out = std::move(spec);
  return true;
}

LayoutUse layout_use(const LayoutSpec& spec, size_t es, BoundMode m) {
  return layout_placement(spec.cols.data(), static_cast<uint32_t>(spec.cols.size()), es, m);
}

const char* layout_use_name(LayoutUse u) {
  switch (u) {
    case LayoutUse::kTables:
      return "per table (every step starts at a row)";
    case LayoutUse::kVectors:
      return "local records per vector (every step starts at a vector)";
    default:
      return "the smallest table bound for the whole frame (steps start at unknown columns)";
  }
}

void install_configured_layout(std::shared_ptr<const LayoutSpec> spec, bool classes,
                               const ScheduleSettings& schedule) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  s.configured = std::move(spec);
  s.classes.store(classes, std::memory_order_relaxed);
  s.schedule = schedule;
  s.generation.fetch_add(1, std::memory_order_release);
}

bool set_layout_override(const char* text, std::string* error) {
  Store& s = store();
  std::shared_ptr<const LayoutSpec> spec;
  if (text != nullptr && text[0] != '\0') {
    auto parsed = std::make_shared<LayoutSpec>();
    if (!parse_layout(text, parsed.get(), error)) return false;
    spec = std::move(parsed);
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.has_override = text != nullptr;
  s.override_spec = std::move(spec);
  s.generation.fetch_add(1, std::memory_order_release);
  return true;
}

uint64_t layout_generation() {
  return store().generation.load(std::memory_order_acquire);
}

std::shared_ptr<const LayoutSpec> layout_snapshot(uint64_t* generation) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  *generation = s.generation.load(std::memory_order_relaxed);
  return s.has_override ? s.override_spec : s.configured;
}

std::string describe_current_layout() {
  uint64_t gen;
  const std::shared_ptr<const LayoutSpec> spec = layout_snapshot(&gen);
  const Store& s = store();
  std::string d;
  if (spec == nullptr) {
    d = "no row layout";
  } else {
    d = "row layout \"" + spec->text + "\": " + std::to_string(spec->cols.size()) + " tables, " +
        std::to_string(spec->row_elems) +
        " columns; f32 rel/abs: " + layout_use_name(layout_use(*spec, 4, BoundMode::kRel)) +
        "; f32 local: " + layout_use_name(layout_use(*spec, 4, BoundMode::kLocal)) +
        "; bf16/f16 local: " + layout_use_name(layout_use(*spec, 2, BoundMode::kLocal)) +
        (s.classes.load() ? "; table classes by rows" : "");
  }
  const ScheduleSettings& sc = s.schedule;
  if (sc.kind != Schedule::kConstant) {
    d += std::string("; schedule ") + (sc.kind == Schedule::kStep ? "step" : "linear") + " from " +
         std::to_string(sc.start) + "x to 1x over " + std::to_string(sc.iters) +
         " iterations, counted by " +
         (sc.bytes_per_iteration > 0
              ? std::to_string(sc.bytes_per_iteration) + " lossy bytes per iteration"
              : std::string("squeeze_set_iteration only (until it is called: the start factor)")) +
         " or squeeze_set_iteration";
  }
  return d;
}

void set_iteration(uint64_t iteration) {
  Store& s = store();
  s.iteration.store(iteration, std::memory_order_relaxed);
  s.iteration_set.store(true, std::memory_order_release);
}

void note_lossy_bytes(uint64_t bytes) {
  store().lossy_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

uint64_t current_iteration() {
  const Store& s = store();
  if (s.iteration_set.load(std::memory_order_acquire))
    return s.iteration.load(std::memory_order_relaxed);
  const uint64_t per = s.schedule.bytes_per_iteration;
  return per > 0 ? s.lossy_bytes.load(std::memory_order_relaxed) / per : 0;
}

double current_schedule_factor() {
  const ScheduleSettings& sc = store().schedule;
  if (sc.kind == Schedule::kConstant) return 1.0;
  return schedule_factor(sc.kind, current_iteration(), sc.iters, sc.start);
}

void apply_layout(const std::shared_ptr<const LayoutSpec>& spec, CodecParams* p,
                  TaskLayout* storage) {
  const double factor = current_schedule_factor();
  p->layout = nullptr;
  if (spec == nullptr) {
    p->bound *= factor;
    return;
  }
  const bool classes = store().classes.load(std::memory_order_relaxed);
  const size_t n = spec->cols.size();
  double smallest = INFINITY;
  if (storage != nullptr) storage->bounds.resize(n);
  for (size_t t = 0; t < n; ++t) {
    const double base = spec->bounds[t] > 0.0 ? spec->bounds[t]
                        : classes             ? class_bound(spec->rows[t], p->bound)
                                              : p->bound;
    const double b = base * factor;
    if (storage != nullptr) storage->bounds[t] = b;
    smallest = std::min(smallest, b);
  }
  p->bound = smallest;
  if (storage == nullptr) return;
  const LayoutUse use = layout_use(*spec, dtype_size(p->dtype), p->mode);
  storage->spec = spec;
  RowLayout& row = storage->row;
  if (use == LayoutUse::kTables) {
    row.row_elems = spec->row_elems;
    row.start_col = 0;
    row.n_tables = static_cast<uint32_t>(n);
    row.table_cols = spec->cols.data();
    row.table_bounds = storage->bounds.data();
    p->layout = &row;
  } else if (use == LayoutUse::kVectors) {
    storage->vector_cols = spec->cols[0];
    storage->bounds[0] = smallest;
    row.row_elems = spec->cols[0];
    row.start_col = 0;
    row.n_tables = 1;
    row.table_cols = &storage->vector_cols;
    row.table_bounds = storage->bounds.data();
    p->layout = &row;
  }
}

}  // namespace squeeze::plugin
