#include "core/heap.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

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

TEST(HeapOnHugePagesTest, UnderALimitOnTheAddressSpaceTheHeapStillGrows) {
  // Given a limit on the address space that leaves no room for the reserve
  // (in a child: the limit stays with the process), when a command asks for
  // it anyway, then nothing is advised and later allocations still succeed
  // (the heap is not left asking for the reserve at every growth).
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit limit{};
    getrlimit(RLIMIT_AS, &limit);
    std::size_t used = 0;
    std::ifstream statm("/proc/self/statm");
    statm >> used;  // pages of address space in use
    limit.rlim_cur = used * std::size_t(sysconf(_SC_PAGESIZE)) + (std::size_t(32) << 20);
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    if (HeapOnHugePages(std::size_t(64) << 20)) _exit(4);
    std::vector<std::string> many;
    for (int i = 0; i < 20000; ++i) many.emplace_back(200, 'x');  // ~5 MiB of small blocks
    _exit(many.back().size() == 200 ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(HeapOnHugePagesTest, RefusesAReserveSmallerThanTwoHugePagesOrOverAGibibyte) {
  EXPECT_FALSE(HeapOnHugePages(std::size_t(1) << 20));
  EXPECT_FALSE(HeapOnHugePages(std::size_t(2) << 30));
}

}  // namespace
}  // namespace pipeline
