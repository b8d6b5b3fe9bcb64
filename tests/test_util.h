// Helpers shared by the test executables.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace pipeline::testing_util {

// A fresh, empty folder named after the running test: /tmp/PREFIX_PID_TEST.
inline std::filesystem::path FreshTestDir(const std::string& prefix) {
  namespace fs = std::filesystem;
  std::string name = testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : name) {
    if (c == '/') c = '_';  // parameterized tests are named "Test/Param"
  }
  fs::path dir = fs::temp_directory_path() / (prefix + "_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Whether process `pid` has ended, waiting up to 3 s for it (a killed
// orphan is reaped by init a moment later).
inline bool ProcessGone(pid_t pid) {
  for (int attempt = 0; attempt < 300; ++attempt) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace pipeline::testing_util
