// Bounded staging memory of one connection, allocated once at connect. Allocations are made in
// message order and released in any order; space is reclaimed from the oldest block on, as in a
// ring. Not thread-safe: the connection's mutex guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace squeeze::plugin {

class StagingRing {
 public:
  static constexpr int kMaxBlocks = 64;

  bool init(size_t capacity);
  // Over memory the caller owns and keeps alive (the GPU pipeline's pinned staging).
  void init_external(char* base, size_t capacity);
  size_t capacity() const { return capacity_; }
  char* base() const { return base_; }
  // A contiguous region of n bytes (n > 0), or nullptr when it does not fit now.
  char* alloc(size_t n);
  void release(const char* p);
  bool empty() const { return count_ == 0; }

 private:
  struct Block {
    size_t offset;
    size_t bytes;
    bool freed;
  };
  Block& at(int k) { return blocks_[(head_ + k) % kMaxBlocks]; }
  std::unique_ptr<char[]> owned_;
  char* base_ = nullptr;
  size_t capacity_ = 0;
  Block blocks_[kMaxBlocks] = {};
  int head_ = 0;
  int count_ = 0;
};

}  // namespace squeeze::plugin
