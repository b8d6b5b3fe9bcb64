#include "exec/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "core/operator.h"

extern char** environ;

namespace pipeline {

namespace {

// A pollable handle on a child (Linux >= 5.3); -1 when unavailable.
int OpenPidFd(pid_t pid) { return int(syscall(SYS_pidfd_open, pid, 0)); }

std::vector<std::string> BuildEnvironment(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> vars;
  for (char** p = environ; *p; ++p) {
    std::string_view entry(*p);
    size_t eq = entry.find('=');
    if (eq != std::string_view::npos) vars[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [key, value] : extra) vars[key] = value;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [key, value] : vars) out.push_back(key + "=" + value);
  return out;
}

// Waits until the child exits or `timeout_ms` passes (-1: forever) or, when
// cancel_fd >= 0, the token fires. Returns true when the child has exited
// (and was reaped into *status).
bool WaitChild(pid_t pid, int pidfd, int cancel_fd, int timeout_ms, int* status) {
  if (pidfd < 0) {
    // No pidfd: fall back to checking every 10 ms.
    for (int waited = 0; timeout_ms < 0 || waited <= timeout_ms; waited += 10) {
      if (waitpid(pid, status, WNOHANG) == pid) return true;
      pollfd p{cancel_fd, POLLIN, 0};
      if (cancel_fd >= 0 && poll(&p, 1, 10) > 0) return false;
      if (cancel_fd < 0) usleep(10'000);
    }
    return false;
  }
  pollfd fds[2] = {{pidfd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
  int n = cancel_fd >= 0 ? 2 : 1;
  for (;;) {
    int rc = poll(fds, n, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    if (fds[0].revents) {
      while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
      }
      return true;
    }
    return false;  // cancelled
  }
}

}  // namespace

SubprocessResult RunSubprocess(const SubprocessSpec& spec, const CancelToken& cancel,
                               std::chrono::milliseconds grace) {
  SubprocessResult result;
  std::vector<std::string> env = BuildEnvironment(spec.env);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, spec.output_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group, for killing it whole
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.error = "cannot start " + spec.argv[0] + ": " + std::strerror(rc);
    return result;
  }
  result.started = true;

  int pidfd = OpenPidFd(pid);
  int status = 0;
  if (!WaitChild(pid, pidfd, cancel.fd(), -1, &status)) {
    result.cancelled = true;
    kill(-pid, SIGTERM);
    if (!WaitChild(pid, pidfd, -1, int(grace.count()), &status)) {
      kill(-pid, SIGKILL);
      WaitChild(pid, pidfd, -1, -1, &status);
    }
    kill(-pid, SIGKILL);  // whatever the leader left behind in its group
  }
  if (pidfd >= 0) close(pidfd);
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace pipeline
