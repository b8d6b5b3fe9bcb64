// The heap of a short-lived command on transparent huge pages.
#pragma once

#include <cstddef>

namespace pipeline {

// Asks the kernel for 2 MiB pages for the next `reserve` bytes of the main
// heap (glibc's brk heap, which the main thread's allocations use). Where
// huge pages are given only on request (THP "madvise", Debian's default),
// a heap of many small objects otherwise takes one page fault per 4 KiB:
// `pipectl validate` of a 10,000-task file spent about a third of its time
// in the fault path of this VM. The same as glibc's `glibc.malloc.hugetlb=1`
// tunable, which can only be set from the environment before the program
// starts. Also raises malloc's mmap threshold to 8 MiB (what glibc's own
// dynamic threshold reaches after the first freed block of that size), so
// that blocks below it come from that heap too, and its trim threshold
// above the reserve, so that a free does not give the reserve back. Under a
// limit on the address space that refuses the reserve, nothing changes but
// those two thresholds. For a command, not for a daemon: the heap's
// resident size grows in 2 MiB steps. Returns whether the advice was taken
// (not under a sanitizer's allocator, nor where the kernel has no
// transparent huge pages).
bool HeapOnHugePages(std::size_t reserve);

}  // namespace pipeline
