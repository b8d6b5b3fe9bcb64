// Runs a command in its own process group, output appended to a file.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pipeline {

class CancelToken;

struct SubprocessResult {
  std::string error;        // why it could not be waited for
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
  // The child's fd 3 is a socket the parent writes one line to on Release()
  // and then closes; `argv` must make the child read that line before it
  // does anything else, and give up at end of file.
  bool gated = false;
};

// A child started in a process group of its own: running, or held at its
// gate until Release(). Not thread-safe; Wait() blocks its caller.
class Subprocess {
 public:
  // Starts `spec`. Returns nullptr with `error` set when the child cannot start.
  static std::unique_ptr<Subprocess> Start(const SubprocessSpec& spec, std::string* error);

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // A child not waited for is killed (its whole group) and reaped; a gated
  // one not released has then run nothing of its own.
  ~Subprocess();

  int pid() const { return pid_; }
  // Lets a gated child go on. False when it is gone (or not gated).
  bool Release();
  // Waits for the child to exit or for `cancel` to fire, copying its output
  // to `output_path`. On cancel, sends SIGTERM to the whole process group,
  // SIGKILL after `grace`, and then SIGKILL to anything left in the group.
  // Call once.
  SubprocessResult Wait(const CancelToken& cancel, std::chrono::milliseconds grace);

 private:
  Subprocess(int pid, int out_fd, int gate_fd, std::string output_path)
      : pid_(pid), out_fd_(out_fd), gate_fd_(gate_fd), output_path_(std::move(output_path)) {}

  int pid_;
  int out_fd_;   // read end of the child's stdout and stderr
  int gate_fd_;  // -1 when not gated or released
  std::string output_path_;
  bool reaped_ = false;
};

// "PID@STARTTIME" naming a live process unambiguously on this host (the start
// time, from /proc, tells a reused pid apart), or "" when there is none.
std::string ProcessToken(int pid);

// Kills the process group that `token` names, if its leader is still that
// same process (SIGKILL to the group), and waits up to 2 s for the leader to
// go. True when nothing of it is left running.
bool KillProcessGroup(const std::string& token);

}  // namespace pipeline
