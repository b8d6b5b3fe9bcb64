#include "exec/process_watchdog.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "exec/subprocess.h"

extern char** environ;

namespace pipeline {

namespace {

std::atomic<int> g_watchdog_fd{-1};  // this process's end of the socket

void Tell(char sign, int pid) {
  const int fd = g_watchdog_fd.load(std::memory_order_relaxed);
  if (fd < 0) return;
  char line[24];
  const int n = std::snprintf(line, sizeof line, "%c%d\n", sign, pid);
  // One short write is atomic on a stream socket shared by the threads;
  // MSG_NOSIGNAL: a watchdog that died raises no SIGPIPE here.
  ssize_t sent;
  do {
    sent = send(fd, line, size_t(n), MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
}

}  // namespace

bool StartTaskWatchdog(std::string* error) {
  if (g_watchdog_fd.load() >= 0) return true;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    *error = std::string("socketpair: ") + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 0);
  // Nothing else of the parent's: holding its stdout or stderr (a pipe a
  // shell reads to its end) would keep a reader waiting after the parent exits.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A group of its own: a Ctrl-C at the terminal reaches pipectl, which
  // cancels its tasks, not the watchdog.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_USEVFORK);
  char self[] = "/proc/self/exe";
  char mode[64];
  std::snprintf(mode, sizeof mode, "%s", kWatchdogArg);
  char* argv[] = {self, mode, nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, self, &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    *error = std::string("cannot start the task watchdog: ") + std::strerror(rc);
    return false;
  }
  g_watchdog_fd.store(fds[0]);
  return true;
}

void WatchdogStarted(int pid) { Tell('+', pid); }
void WatchdogReaped(int pid) { Tell('-', pid); }

int RunTaskWatchdog() {
  // Only end of file ends it: the signals that stop its parent gracefully
  // (a terminal's, a service manager's) would otherwise take it first.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) signal(sig, SIG_IGN);
  std::map<int, std::string> groups;  // leader pid -> its token, taken when told
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the parent is gone (or the socket broke): act
    pending.append(buf, size_t(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      const char sign = pending[start];
      const int pid = std::atoi(pending.c_str() + start + 1);
      if (pid <= 1) continue;
      if (sign == '+') {
        groups[pid] = ProcessToken(pid);  // "" when it already ended
      } else {
        groups.erase(pid);
      }
    }
    pending.erase(0, start);
  }
  for (const auto& [pid, token] : groups) {
    if (!token.empty()) KillProcessGroup(token);  // only if the leader is still that process
  }
  return 0;
}

}  // namespace pipeline
