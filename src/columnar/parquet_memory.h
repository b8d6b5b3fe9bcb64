// Memory hints shared by the Parquet reader and writer.
#pragma once

#include <sys/mman.h>

#include <cstdint>

#include "columnar/buffer.h"

namespace pipeline::columnar::parquet {

// Asks for transparent huge pages over a large buffer that is about to be
// filled: one page fault per 2 MiB instead of per 4 KiB (faults of fresh
// memory are a large share of decoding time otherwise). Only the whole 2 MiB
// pages inside the buffer are advised; a hint, errors ignored.
inline void AdviseHugePages(Buffer& buffer) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (buffer.capacity() < 4 * kHuge) return;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(buffer.data()) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(buffer.data()) + buffer.capacity()) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace pipeline::columnar::parquet
