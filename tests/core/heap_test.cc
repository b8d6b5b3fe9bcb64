#include "core/heap.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace pipeline {
namespace {

// Whether a mapping of the heap carries the huge-page advice ("hg" among
// its VmFlags in /proc/self/smaps).
bool HeapAdvisedHuge() {
  std::ifstream smaps("/proc/self/smaps");
  bool in_heap = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.find(':') > line.find(' ')) {  // "ADDR-ADDR PERMS OFFSET DEV INODE NAME", not "Key: value"
      in_heap = line.find("[heap]") != std::string::npos;
    } else if (in_heap && line.rfind("VmFlags:", 0) == 0 && (line + " ").find(" hg ") != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(HeapOnHugePagesTest, AdvisesTheHeapsNewTopForHugePages) {
  // Given the heap without advice, when a command asks for huge pages for
  // its next 64 MiB, then a mapping of the heap carries the advice and the
  // heap still serves allocations.
  ASSERT_FALSE(HeapAdvisedHuge());
  if (!HeapOnHugePages(std::size_t(64) << 20)) GTEST_SKIP() << "a sanitizer's allocator, or no transparent huge pages";
  EXPECT_TRUE(HeapAdvisedHuge());
  std::string text(std::size_t(4) << 20, 'x');  // below the raised mmap threshold: from the heap
  EXPECT_EQ(text.back(), 'x');
}

TEST(HeapOnHugePagesTest, RefusesAReserveSmallerThanTwoHugePagesOrOverAGibibyte) {
  EXPECT_FALSE(HeapOnHugePages(std::size_t(1) << 20));
  EXPECT_FALSE(HeapOnHugePages(std::size_t(2) << 30));
}

}  // namespace
}  // namespace pipeline
