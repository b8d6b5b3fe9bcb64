#include "piped/dag_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace pipeline {

namespace {

bool IsDagFile(const char* name) {
  std::string n(name);
  auto ends = [&](const std::string& ext) { return n.size() > ext.size() && n.compare(n.size() - ext.size(), ext.size(), ext) == 0; };
  return ends(".yaml") || ends(".yml");
}

}  // namespace

DagWatcher::DagWatcher(const std::string& dir, std::function<void()> on_change)
    : on_change_(std::move(on_change)) {
  inotify_fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (inotify_fd_ < 0 || stop_fd_ < 0 ||
      inotify_add_watch(inotify_fd_, dir.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0) {
    std::string why = std::strerror(errno);
    if (inotify_fd_ >= 0) close(inotify_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
    throw Error::Unavailable("cannot watch DAG folder " + dir + ": " + why);
  }
  thread_ = std::thread([this] { Loop(); });
}

DagWatcher::~DagWatcher() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof one);
  thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

void DagWatcher::Loop() {
  alignas(inotify_event) char buf[16 * 1024];
  bool pending = false;
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    // After a change, wait 100 ms for more (an editor writes in steps), then reload once.
    int rc = poll(fds, 2, pending ? 100 : -1);
    if (rc < 0 && errno == EINTR) continue;
    if (fds[1].revents) return;
    if (rc == 0 && pending) {
      pending = false;
      on_change_();
      continue;
    }
    if (fds[0].revents) {
      ssize_t n;
      while ((n = read(inotify_fd_, buf, sizeof buf)) > 0) {
        for (char* p = buf; p < buf + n;) {
          auto* event = reinterpret_cast<inotify_event*>(p);
          if (event->len > 0 && IsDagFile(event->name)) pending = true;
          p += sizeof(inotify_event) + event->len;
        }
      }
    }
  }
}

}  // namespace pipeline
