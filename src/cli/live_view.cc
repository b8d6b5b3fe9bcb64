#include "cli/live_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace pipeline::cli {

namespace {

int TerminalRows() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4) return ws.ws_row;
  return 40;
}

const char* Color(TaskState s) {
  switch (s) {
    case TaskState::kSuccess: return "\x1b[32m";
    case TaskState::kFailed:
    case TaskState::kUpstreamFailed: return "\x1b[31m";
    case TaskState::kRunning: return "\x1b[36m";
    case TaskState::kUpForRetry:
    case TaskState::kWaiting: return "\x1b[33m";
    default: return "\x1b[2m";
  }
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

LiveView::LiveView(const DagSpec& dag, bool terminal, std::ostream& out)
    : terminal_(terminal), out_(out) {
  for (const TaskSpec& t : dag.tasks) {
    index_[t.id] = rows_.size();
    rows_.push_back({t.id, TaskState::kPending, 0, 1 + t.retry.retries, {}, {}, {}, {}});
    id_width_ = std::max(id_width_, t.id.size());
  }
  if (terminal_) thread_ = std::thread([this] { RedrawLoop(); });
}

LiveView::~LiveView() { Stop(); }

void LiveView::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (terminal_) {
    std::lock_guard lock(mu_);
    Draw();
  }
}

void LiveView::OnRunState(const RunRecord& run, RunState state) {
  if (terminal_) return;
  std::lock_guard lock(mu_);
  out_ << FormatIso8601(SystemClock::Default()->Now()) << " run " << run.run_id << " "
       << ToString(state) << "\n"
       << std::flush;
}

void LiveView::OnTaskState(const TaskEvent& event) {
  const std::string& task_id = event.task_id;
  TaskState state = event.state;
  int try_number = event.try_number;
  TimePoint at = event.at;
  const std::string& reason = event.reason;
  std::lock_guard lock(mu_);
  auto it = index_.find(task_id);
  if (it == index_.end()) return;
  Row& row = rows_[it->second];
  row.state = state;
  row.try_number = try_number;
  row.reason = reason;
  if (state == TaskState::kRunning) {
    row.started = at;
    row.ended.reset();
  } else if (row.started && state != TaskState::kQueued) {
    row.ended = at;
  }
  if (terminal_) return;
  out_ << FormatIso8601(at) << " task " << task_id << " " << ToString(state);
  if (try_number > 0) out_ << " try " << try_number << "/" << row.max_tries;
  if (!reason.empty()) out_ << ": " << reason;
  out_ << "\n" << std::flush;
}

void LiveView::OnTaskMetrics(const std::string&, const std::string& task_id,
                             const std::string& metrics_json) {
  auto m = nlohmann::json::parse(metrics_json, nullptr, false);
  if (m.is_discarded() || !m.contains("rows_out")) return;
  std::lock_guard lock(mu_);
  auto it = index_.find(task_id);
  if (it == index_.end()) return;
  rows_[it->second].rows = "rows " + (m.contains("rows_in") ? m["rows_in"].dump() + " -> " : "") +
                           m["rows_out"].dump();
}

void LiveView::RedrawLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Draw();
    cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
  }
}

std::string LiveView::FormatRow(const Row& row, TimePoint now) const {
  std::string elapsed;
  if (row.started) {
    elapsed = FormatElapsed(std::chrono::duration_cast<Duration>(row.ended.value_or(now) - *row.started));
  }
  std::string tries = row.try_number > 0 ? "try " + std::to_string(row.try_number) + "/" +
                                               std::to_string(row.max_tries)
                                         : "";
  std::string line = std::string(Color(row.state)) + Pad(std::string(ToString(row.state)), 16) +
                     "\x1b[0m" + Pad(row.task_id, id_width_ + 2) + Pad(tries, 10) +
                     Pad(elapsed, 10) + row.rows;
  if (!row.reason.empty() && row.state != TaskState::kSuccess) line += "  " + row.reason;
  return line;
}

void LiveView::Draw() {
  TimePoint now = SystemClock::Default()->Now();
  int budget = TerminalRows() - 2;
  std::vector<const Row*> shown;
  std::map<TaskState, int> counts;
  for (const Row& row : rows_) ++counts[row.state];
  if (int(rows_.size()) <= budget) {
    for (const Row& row : rows_) shown.push_back(&row);
  } else {
    // Too many to list: the running ones and those that went wrong.
    for (const Row& row : rows_) {
      bool notable = row.state == TaskState::kRunning || row.state == TaskState::kFailed ||
                     row.state == TaskState::kUpForRetry;
      if (notable && int(shown.size()) < budget - 1) shown.push_back(&row);
    }
  }
  std::string frame;
  if (drawn_lines_ > 0) frame += "\x1b[" + std::to_string(drawn_lines_) + "A";
  int lines = 0;
  if (shown.size() < rows_.size()) {
    std::string summary;
    for (const auto& [state, n] : counts) summary += std::string(ToString(state)) + " " + std::to_string(n) + "  ";
    frame += "\r\x1b[2K" + summary + "\n";
    ++lines;
  }
  for (const Row* row : shown) {
    frame += "\r\x1b[2K" + FormatRow(*row, now) + "\n";
    ++lines;
  }
  for (int extra = lines; extra < drawn_lines_; ++extra) frame += "\r\x1b[2K\n";
  drawn_lines_ = std::max(lines, drawn_lines_);
  out_ << frame << std::flush;
}

}  // namespace pipeline::cli
