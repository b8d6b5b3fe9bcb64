// Runs a command in its own process group, output appended to a file.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace pipeline {

class CancelToken;

struct SubprocessResult {
  bool started = false;
  std::string error;        // why it could not start or be waited for
  bool exited = false;      // else killed by a signal
  int exit_code = -1;
  int signal = 0;
  bool cancelled = false;   // the token fired and the group was killed
};

struct SubprocessSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // added to this process's environment
  std::string cwd;
  std::string output_path;  // stdout and stderr, appended; created on first output
};

// Starts `spec` and waits for it to exit or for `cancel` to fire. On cancel,
// sends SIGTERM to the whole process group, SIGKILL after `grace`, and then
// SIGKILL to anything left in the group. Thread-safe; blocks the caller.
// `on_start` (may be empty) hears the process group id once it runs.
SubprocessResult RunSubprocess(const SubprocessSpec& spec, const CancelToken& cancel,
                               std::chrono::milliseconds grace,
                               const std::function<void(int pgid)>& on_start = {});

// "PID@STARTTIME" naming a live process unambiguously on this host (the start
// time, from /proc, tells a reused pid apart), or "" when there is none.
std::string ProcessToken(int pid);

// Kills the process group that `token` names, if its leader is still that
// same process (SIGKILL to the group), and waits up to 2 s for the leader to
// go. True when nothing of it is left running.
bool KillProcessGroup(const std::string& token);

}  // namespace pipeline
