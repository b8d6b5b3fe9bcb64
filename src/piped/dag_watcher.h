// Watches a DAG folder with inotify and calls back (debounced) when a
// *.yaml / *.yml file there is written, moved or removed.
#pragma once

#include <functional>
#include <string>
#include <thread>

namespace pipeline {

class DagWatcher {
 public:
  // Throws Error(kUnavailable) when the folder cannot be watched.
  DagWatcher(const std::string& dir, std::function<void()> on_change);
  ~DagWatcher();  // stops the thread
  DagWatcher(const DagWatcher&) = delete;
  DagWatcher& operator=(const DagWatcher&) = delete;

 private:
  void Loop();

  std::function<void()> on_change_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace pipeline
