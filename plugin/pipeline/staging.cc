#include "plugin/pipeline/staging.h"

#include <new>

namespace squeeze::plugin {

bool StagingRing::init(size_t capacity) {
  owned_.reset(new (std::nothrow) char[capacity]);
  base_ = owned_.get();
  capacity_ = base_ ? capacity : 0;
  head_ = count_ = 0;
  return base_ != nullptr;
}

void StagingRing::init_external(char* base, size_t capacity) {
  owned_.reset();
  base_ = base;
  capacity_ = base_ ? capacity : 0;
  head_ = count_ = 0;
}

char* StagingRing::alloc(size_t n) {
  if (n == 0 || n > capacity_ || count_ == kMaxBlocks) return nullptr;
  size_t offset;
  if (count_ == 0) {
    offset = 0;
  } else {
    size_t first = at(0).offset;
    const Block& last = at(count_ - 1);
    size_t end = last.offset + last.bytes;
    bool wrapped = last.offset < first;
    if (!wrapped) {
      if (capacity_ - end >= n) {
        offset = end;
      } else if (first >= n) {
        offset = 0;
      } else {
        return nullptr;
      }
    } else {
      if (first - end >= n) {
        offset = end;
      } else {
        return nullptr;
      }
    }
  }
  at(count_) = Block{offset, n, false};
  ++count_;
  return base_ + offset;
}

void StagingRing::release(const char* p) {
  size_t offset = static_cast<size_t>(p - base_);
  for (int k = 0; k < count_; ++k) {
    if (at(k).offset == offset && !at(k).freed) {
      at(k).freed = true;
      break;
    }
  }
  while (count_ > 0 && at(0).freed) {
    head_ = (head_ + 1) % kMaxBlocks;
    --count_;
  }
}

}  // namespace squeeze::plugin
