#include "core/heap.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace pipeline {

bool HeapOnHugePages(std::size_t reserve) {
  constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;
  constexpr int kMmapThreshold = 8 << 20;
  constexpr int kDefaultTopPad = 128 * 1024;  // glibc's, mallopt(3)
  if (reserve < 2 * kHugePage || reserve > (std::size_t(1) << 30)) return false;
  const std::size_t top = mallinfo2().keepcost;  // the heap's free top
  if (top + 4096 >= std::size_t(kMmapThreshold)) return false;
  if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1 || mallopt(M_TOP_PAD, int(reserve)) != 1) return false;
  // Make the heap grow now: a block just larger than its free top (below
  // the mmap threshold) moves the break by the block plus `reserve`; freed,
  // it leaves `reserve` bytes of address space at the top (trimming keeps
  // M_TOP_PAD). Untouched, they cost no memory.
  // (`volatile`: a malloc freed unused may be left out by the compiler.)
  auto* before = static_cast<char*>(sbrk(0));
  void* volatile block = std::malloc(top + 4096);
  std::free(block);
  auto* after = static_cast<char*>(sbrk(0));
  // Whether or not the break moved (a limit on the address space may have
  // refused it), later growth is padded as by default again, and a free
  // keeps the reserve instead of trimming the heap back to that pad.
  mallopt(M_TOP_PAD, kDefaultTopPad);
  mallopt(M_TRIM_THRESHOLD, int(reserve) + kMmapThreshold);
  if (before == reinterpret_cast<char*>(-1) || after == reinterpret_cast<char*>(-1)) return false;
  // madvise wants whole pages; the advice counts for the 2 MiB-aligned
  // stretches, so start at the first boundary in the new part.
  const std::uintptr_t from = (std::uintptr_t(before) + kHugePage - 1) & ~(kHugePage - 1);
  if (std::uintptr_t(after) < from + kHugePage) return false;
  return madvise(reinterpret_cast<void*>(from), std::uintptr_t(after) - from, MADV_HUGEPAGE) == 0;
}

}  // namespace pipeline
