#include "columnar/buffer.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <utility>

namespace pipeline::columnar {
namespace {

uint8_t* Allocate(size_t capacity) {
  size_t bytes = (capacity + kBufferPadding + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  void* p = std::aligned_alloc(kBufferAlignment, bytes);
  if (!p) throw std::bad_alloc();
  // The padding is readable and zero, so vector loads past the end see zeros.
  std::memset(static_cast<uint8_t*>(p) + capacity, 0, bytes - capacity);
  return static_cast<uint8_t*>(p);
}

}  // namespace

Buffer::Buffer(size_t size) {
  ResizeZeroed(size);
}

Buffer Buffer::External(std::shared_ptr<const void> owner, uint8_t* data, size_t size) {
  Buffer b;
  b.owner_ = std::move(owner);
  b.data_ = data;
  b.size_ = size;
  b.capacity_ = size;
  return b;
}

Buffer::~Buffer() { Free(); }

void Buffer::Free() {
  if (owner_) {
    owner_.reset();
  } else {
    std::free(data_);
  }
  data_ = nullptr;
}

Buffer::Buffer(Buffer&& other) noexcept
    : owner_(std::move(other.owner_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Free();
    owner_ = std::move(other.owner_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void Buffer::Reserve(size_t capacity) {
  if (capacity <= capacity_ && data_) return;
  uint8_t* fresh = Allocate(capacity);
  if (size_) std::memcpy(fresh, data_, size_);
  Free();
  data_ = fresh;
  capacity_ = capacity;
}

void Buffer::Grow(size_t size) { Reserve(std::max(size, capacity_ + capacity_ / 2)); }

void Buffer::ResizeZeroed(size_t size) {
  size_t old = size_;
  Resize(size);
  if (size > old) std::memset(data_ + old, 0, size - old);
}

Buffer Buffer::Clone() const {
  Buffer copy;
  copy.Append(data_, size_);
  return copy;
}

}  // namespace pipeline::columnar
