// Owned, 64-byte aligned memory for column data. Every buffer keeps
// kBufferPadding readable bytes past its size (zero right after an
// allocation, unspecified after writes), so SIMD loops may load a whole
// vector at the tail without a scalar epilogue (they must ignore those lanes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace pipeline::columnar {

inline constexpr size_t kBufferAlignment = 64;
inline constexpr size_t kBufferPadding = 64;

// Move-only. Growth keeps the contents; bytes past the old size are
// uninitialised unless the call says otherwise. Not thread-safe for writes;
// concurrent reads of a buffer no one writes are fine.
class Buffer {
 public:
  Buffer() = default;
  // `size` bytes, all zero.
  explicit Buffer(size_t size);
  // `size` bytes of undefined content, for outputs that are written whole.
  static Buffer Uninitialized(size_t size) {
    Buffer b;
    b.Resize(size);
    return b;
  }
  // `size` bytes at `data`, owned by `owner` (e.g. a mapping of a spill
  // file), which the buffer keeps alive. `data` must be 64-byte aligned with
  // kBufferPadding readable bytes past `size`. Growing such a buffer moves
  // it to memory of its own.
  static Buffer External(std::shared_ptr<const void> owner, uint8_t* data, size_t size);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }

  template <class T>
  T* as() { return reinterpret_cast<T*>(data_); }
  template <class T>
  const T* as() const { return reinterpret_cast<const T*>(data_); }

  void Reserve(size_t capacity);
  // New bytes are uninitialised.
  void Resize(size_t size) {
    if (size > capacity_ || !data_) Grow(size);
    size_ = size;
  }
  // New bytes are zero.
  void ResizeZeroed(size_t size);
  void Append(const void* bytes, size_t n) {
    size_t old = size_;
    Resize(size_ + n);
    if (n) std::memcpy(data_ + old, bytes, n);
  }
  void Clear() { size_ = 0; }
  // A copy with the same contents (explicit, so copies never happen by accident).
  Buffer Clone() const;
  // True when the bytes live in memory the buffer does not own (External).
  bool external() const { return owner_ != nullptr; }

 private:
  void Grow(size_t size);  // capacity for at least `size`, growing geometrically
  void Free();             // gives up the bytes (frees or releases the owner)

  std::shared_ptr<const void> owner_;  // set for External buffers
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace pipeline::columnar
