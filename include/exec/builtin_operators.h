// The operators this build provides, registered in one place.
#pragma once

#include <chrono>

namespace pipeline {

class OperatorRegistry;

struct ShellOptions {
  // After SIGTERM on timeout or cancel, how long the process group gets
  // before SIGKILL.
  std::chrono::milliseconds kill_grace = std::chrono::seconds(10);
};

void RegisterBuiltinOperators(OperatorRegistry& registry, const ShellOptions& shell = {});

}  // namespace pipeline
