#include "exec/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>

#include "core/operator.h"
#include "exec/process_watchdog.h"

extern char** environ;

namespace pipeline {

namespace {

// A pollable handle on a child (Linux >= 5.3); -1 when unavailable.
int OpenPidFd(pid_t pid) { return int(syscall(SYS_pidfd_open, pid, 0)); }

// This process's environment, read once: tasks inherit it as it was at
// start. "NAME=VALUE" entries, one per name (the last one wins).
const std::vector<std::string>& BaseEnvironment() {
  static const std::vector<std::string> entries = [] {
    std::map<std::string_view, std::string_view> vars;
    for (char** p = environ; *p; ++p) {
      std::string_view entry(*p);
      size_t eq = entry.find('=');
      if (eq != std::string_view::npos) vars[entry.substr(0, eq)] = entry;
    }
    std::vector<std::string> out;
    for (const auto& [name, entry] : vars) out.emplace_back(entry);
    return out;
  }();
  return entries;
}

// The base environment with `extra` set over it (a later pair wins over an
// earlier one of the same name). Made for every spawn, so no map is copied:
// the extra names are few.
std::vector<std::string> BuildEnvironment(const std::vector<std::pair<std::string, std::string>>& extra) {
  auto set_later = [&](size_t idx, std::string_view name) {
    for (size_t later = idx + 1; later < extra.size(); ++later) {
      if (extra[later].first == name) return true;
    }
    return false;
  };
  const std::vector<std::string>& base = BaseEnvironment();
  std::vector<std::string> out;
  out.reserve(base.size() + extra.size());
  for (const std::string& entry : base) {
    std::string_view name = std::string_view(entry).substr(0, entry.find('='));
    bool overridden = std::any_of(extra.begin(), extra.end(), [&](const auto& kv) { return kv.first == name; });
    if (!overridden) out.push_back(entry);
  }
  for (size_t idx = 0; idx < extra.size(); ++idx) {
    if (!set_later(idx, extra[idx].first)) out.push_back(extra[idx].first + "=" + extra[idx].second);
  }
  return out;
}

// Appends to the output file, creating it on first use so that a silent
// command costs no file.
class LazyOutput {
 public:
  explicit LazyOutput(const std::string& path) : path_(path) {}
  ~LazyOutput() {
    if (fd_ >= 0) close(fd_);
  }
  void Write(const char* data, size_t size) {
    if (fd_ < 0) fd_ = Open();
    while (fd_ >= 0 && size > 0) {
      ssize_t n = write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // disk full or the like: the task's output is lost, not the task
      data += n;
      size -= size_t(n);
    }
  }

 private:
  // The file, and its folder when this is the first log of the run.
  int Open() const {
    auto open_file = [&] { return open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644); };
    int fd = open_file();
    if (fd < 0 && errno == ENOENT) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
      fd = open_file();
    }
    return fd;
  }

  const std::string& path_;
  int fd_ = -1;
};

// Reads what the pipe holds now; false at end of file.
bool Pump(int fd, LazyOutput& out) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.Write(buf, size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

// The fields of /proc/PID/stat that name a process: its state letter and its
// start time. False when there is no such process.
bool ReadProcStat(int pid, char* state, std::string* starttime) {
  // Read for every task start: plain read(2), no streams.
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return false;
  std::string_view stat(buf, size_t(n));
  size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) return false;
  // After "(comm) ": the state (3rd field of the line), then starttime, the 22nd.
  std::string_view rest = stat.substr(paren + 1);
  std::string_view field;
  for (int idx = 0; idx < 20; ++idx) {
    size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) return false;
    size_t end = rest.find_first_of(" \n", start);
    if (end == std::string_view::npos) end = rest.size();
    field = rest.substr(start, end - start);
    rest = rest.substr(end);
    if (idx == 0) *state = field.empty() ? '?' : field[0];
  }
  starttime->assign(field);
  return true;
}

std::string Token(int pid, const std::string& starttime) {
  return std::string(std::to_string(pid)).append("@").append(starttime);
}

}  // namespace

std::string ProcessToken(int pid) {
  char state;
  std::string starttime;
  if (!ReadProcStat(pid, &state, &starttime)) return "";
  return Token(pid, starttime);
}

bool KillProcessGroup(const std::string& token) {
  size_t at = token.find('@');
  if (at == std::string::npos) return true;
  int pid = std::atoi(token.substr(0, at).c_str());
  // A zombie leader still holds its pid (no reuse yet), and what it started
  // in its group may live on: the group is killed all the same.
  if (pid <= 1 || ProcessToken(pid) != token) return true;  // gone, or the pid was reused
  kill(-pid, SIGKILL);
  for (int attempt = 0; attempt < 200; ++attempt) {
    // Dead once it is a zombie: an orphan waits for init to reap it, which
    // some inits (a container's) do only now and then.
    char state;
    std::string starttime;
    if (!ReadProcStat(pid, &state, &starttime) || Token(pid, starttime) != token || state == 'Z' ||
        state == 'X') {
      return true;
    }
    usleep(10'000);
  }
  return false;
}

std::unique_ptr<Subprocess> Subprocess::Start(const SubprocessSpec& spec, std::string* error) {
  const bool gated = spec.gated;
  std::vector<std::string> env = BuildEnvironment(spec.env);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Output goes through a pipe that the waiting thread copies to the log file.
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return nullptr;
  }
  // The gate is a socket, so that releasing a child that died raises no SIGPIPE.
  int gate_fds[2] = {-1, -1};
  if (gated) {
    int raw[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, raw) != 0) {
      *error = std::string("socketpair: ") + std::strerror(errno);
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      return nullptr;
    }
    // Above the descriptors the child gets (0-3), so that no dup2 below
    // lands on a source still needed.
    gate_fds[0] = fcntl(raw[0], F_DUPFD_CLOEXEC, 10);
    int saved = errno;
    gate_fds[1] = raw[1];
    close(raw[0]);
    if (gate_fds[0] < 0) {
      *error = std::string("fcntl: ") + std::strerror(saved);
      for (int fd : {pipe_fds[0], pipe_fds[1], gate_fds[1]}) close(fd);
      return nullptr;
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  if (gated) posix_spawn_file_actions_adddup2(&actions, gate_fds[0], 3);
  // The child gets stdin, stdout, stderr and its gate, nothing else: a
  // descriptor the daemon opened without O_CLOEXEC (a listening socket, a
  // client connection) must never reach a task, which could accept() the
  // API's connections or keep its port bound after the daemon died.
  posix_spawn_file_actions_addclosefrom_np(&actions, gated ? 4 : 3);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group, for killing it whole
  // A task starts with every signal at its default disposition (none
  // ignored because this process ignores it). All of them in the set also
  // spares glibc's child a query per signal before it execs (about 60 system
  // calls of the ~120 it made per spawn, while the spawning thread waits).
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipe_fds[1]);
  if (gate_fds[0] >= 0) close(gate_fds[0]);
  if (rc != 0) {
    close(pipe_fds[0]);
    if (gate_fds[1] >= 0) close(gate_fds[1]);
    *error = "cannot start " + spec.argv[0] + ": " + std::strerror(rc);
    // The spawn's chdir fails as the program would: name the folder instead.
    struct stat st;
    const bool exists = !spec.cwd.empty() && stat(spec.cwd.c_str(), &st) == 0;
    if (!spec.cwd.empty() && (!exists || !S_ISDIR(st.st_mode))) {
      *error = "cannot start " + spec.argv[0] + ": its working directory " + spec.cwd +
               (exists ? " is not a folder" : " does not exist");
    }
    return nullptr;
  }
  fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  WatchdogStarted(pid);  // killed with its group should this process die first
  return std::unique_ptr<Subprocess>(new Subprocess(pid, pipe_fds[0], gate_fds[1], spec.output_path));
}

Subprocess::~Subprocess() {
  if (gate_fd_ >= 0) close(gate_fd_);
  if (!reaped_) {
    kill(-pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    WatchdogReaped(pid_);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

bool Subprocess::Release() {
  if (gate_fd_ < 0) return false;
  ssize_t n;
  do {
    n = send(gate_fd_, "\n", 1, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  close(gate_fd_);
  gate_fd_ = -1;
  return n == 1;
}

SubprocessResult Subprocess::Wait(const CancelToken& cancel, std::chrono::milliseconds grace) {
  SubprocessResult result;
  pid_t pid = pid_;
  int out_fd = out_fd_;
  LazyOutput output(output_path_);
  int pidfd = OpenPidFd(pid);
  int status = 0;
  bool exited = false;
  bool pipe_open = true;
  std::optional<std::chrono::steady_clock::time_point> kill_at;  // set once cancelled
  bool killed = false;
  while (!exited) {
    pollfd fds[3];
    int n = 0;
    int out_idx = -1, pid_idx = -1, cancel_idx = -1;
    if (pipe_open) out_idx = n, fds[n++] = {out_fd, POLLIN, 0};
    if (pidfd >= 0) pid_idx = n, fds[n++] = {pidfd, POLLIN, 0};
    if (!kill_at) cancel_idx = n, fds[n++] = {cancel.fd(), POLLIN, 0};
    int timeout_ms = pidfd < 0 ? 10 : -1;  // without a pidfd, check on the child every 10 ms
    if (kill_at && !killed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *kill_at - std::chrono::steady_clock::now());
      int left_ms = std::max<int>(0, int(left.count()) + 1);
      timeout_ms = timeout_ms < 0 ? left_ms : std::min(timeout_ms, left_ms);
    }
    if (poll(fds, n, timeout_ms) < 0 && errno != EINTR) break;
    if (out_idx >= 0 && fds[out_idx].revents) pipe_open = Pump(out_fd, output);
    if (cancel_idx >= 0 && fds[cancel_idx].revents) {
      result.cancelled = true;
      kill(-pid, SIGTERM);
      kill_at = std::chrono::steady_clock::now() + grace;
    }
    if (kill_at && !killed && std::chrono::steady_clock::now() >= *kill_at) {
      kill(-pid, SIGKILL);
      killed = true;
    }
    bool maybe_exited = pid_idx < 0 || fds[pid_idx].revents;
    if (maybe_exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
  }
  reaped_ = exited;
  if (exited) WatchdogReaped(pid);
  // The leader is gone: take what it wrote; a background process still
  // holding the pipe does not keep the task open.
  if (pipe_open) Pump(out_fd, output);
  close(out_fd);
  out_fd_ = -1;
  if (pidfd >= 0) close(pidfd);
  if (result.cancelled) kill(-pid, SIGKILL);  // whatever the leader left behind in its group
  if (!exited) {
    result.error = std::string("cannot wait for process ") + std::to_string(pid) + ": " + std::strerror(errno);
  } else if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace pipeline
