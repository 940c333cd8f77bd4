// The row layout of the all-to-all payloads (NCCL_SQUEEZE_LAYOUT, squeeze_set_layout) and the
// bound's iteration schedule (NCCL_SQUEEZE_SCHEDULE*, squeeze_set_iteration): what a lossy send's
// CodecParams carries beside the policy's mode and bound (docs/CONFIG.md, "Row layouts").
//
// NCCL sends a peer's message as parts that start at 4 KiB multiples, each in steps of a chunk
// size that is a multiple of 4 KiB, so the plugin knows where a step starts in a row only when a
// row's bytes divide 4 KiB: then every step starts at a row. Tables of one width whose vectors'
// bytes divide 4 KiB let every step start at a vector (local records per vector).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "squeeze/codec.h"

namespace squeeze::plugin {

struct LayoutSpec {
  std::vector<uint32_t> cols;  // each table's width, in row order
  std::vector<uint64_t> rows;  // each table's rows (cardinality), 0 unknown
  std::vector<double> bounds;  // a table's own bound, 0: from its class or the policy's bound
  uint32_t row_elems = 0;
  std::string text;
};

// Comma-separated tables WIDTH[*COUNT][@ROWS][=BOUND]. False and *error naming the entry on
// anything else (a width of 0, more than kMaxTables tables or kMaxRowElems columns, a bound
// that is not > 0).
bool parse_layout(const std::string& text, LayoutSpec* out, std::string* error);

// How a layout applies to frames of element size es in mode m (squeeze::layout_placement).
using LayoutUse = LayoutPlacement;
LayoutUse layout_use(const LayoutSpec& spec, size_t es, BoundMode m);
const char* layout_use_name(LayoutUse u);

struct ScheduleSettings {
  Schedule kind = Schedule::kConstant;
  uint64_t iters = 65536;
  double start = 2.0;
  uint64_t bytes_per_iteration = 0;  // 0: only squeeze_set_iteration advances the iteration
};

// The configured layout (may be null), classes and schedule, installed at each init cycle.
void install_configured_layout(std::shared_ptr<const LayoutSpec> spec, bool classes,
                               const ScheduleSettings& schedule);
// squeeze_set_layout: text == NULL goes back to the configured layout, "" to none. False and
// *error on a bad layout (the one in force is unchanged).
bool set_layout_override(const char* text, std::string* error);
// Changes whenever the layout in force changes; a connection re-reads it when it differs.
uint64_t layout_generation();
std::shared_ptr<const LayoutSpec> layout_snapshot(uint64_t* generation);
// A description of the layout in force and where it applies, for the logs.
std::string describe_current_layout();

// The schedule's iteration: squeeze_set_iteration's value once it was called, else the lossy
// bytes sent / bytes_per_iteration (0 without it).
void set_iteration(uint64_t iteration);
void note_lossy_bytes(uint64_t bytes);
uint64_t current_iteration();
double current_schedule_factor();

// A send's layout, kept with its codec task (the task's CodecParams points into it).
struct TaskLayout {
  std::shared_ptr<const LayoutSpec> spec;  // keeps the widths alive while the task runs
  std::vector<double> bounds;              // per table (capacity kept: no allocation per send)
  uint32_t vector_cols = 0;
  RowLayout row;
};

// A lossy send's parameters: p->bound becomes the smallest table bound times the schedule's
// factor (what a receiver or encoder that cannot use the layout applies to the whole frame),
// and, with storage, p->layout points to the layout where it applies. spec may be null (no
// layout: the schedule only).
void apply_layout(const std::shared_ptr<const LayoutSpec>& spec, CodecParams* p,
                  TaskLayout* storage);

}  // namespace squeeze::plugin
