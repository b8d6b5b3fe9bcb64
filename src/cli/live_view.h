// The progress view of `pipectl run`: on a terminal one line per task,
// redrawn in place (state, try, elapsed); otherwise one plain line per event.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "core/dag_spec.h"
#include "exec/executor.h"

namespace pipeline::cli {

class LiveView final : public RunObserver {
 public:
  // `terminal`: redraw in place at ~10 Hz from a thread of its own.
  LiveView(const DagSpec& dag, bool terminal, std::ostream& out);
  ~LiveView() override;

  // Draws the last frame and stops the redraw thread.
  void Stop();

  void OnRunState(const RunRecord& run, RunState state) override;
  void OnTaskState(const TaskEvent& event) override;
  void OnTaskMetrics(const std::string& run_id, const std::string& task_id,
                     const std::string& metrics_json) override;

 private:
  struct Row {
    std::string task_id;
    TaskState state = TaskState::kPending;
    int try_number = 0;
    int max_tries = 1;
    std::optional<TimePoint> started;  // of the current try
    std::optional<TimePoint> ended;
    std::string rows;                  // "rows 1200 -> 1180"
    std::string reason;
  };

  void RedrawLoop();
  void Draw();  // requires mu_
  std::string FormatRow(const Row& row, TimePoint now) const;

  bool terminal_;
  std::ostream& out_;
  size_t id_width_ = 4;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Row> rows_;                     // guarded by mu_
  std::map<std::string, size_t, std::less<>> index_;
  int drawn_lines_ = 0;                       // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace pipeline::cli
