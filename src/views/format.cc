#include "views/format.h"

#include <algorithm>
#include <cstdio>

namespace pipeline::views {

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t col = 0; col < row.size(); ++col) widths[col] = std::max(widths[col], row[col].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t col = 0; col < row.size(); ++col) {
      line += row[col];
      if (col + 1 < row.size()) line += std::string(widths[col] - row[col].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatElapsed(Duration d) {
  char buf[32];
  double seconds = d.count() / 1000.0;
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.3fs", seconds);
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(seconds) / 3600, int(seconds) % 3600 / 60);
  }
  return buf;
}

}  // namespace pipeline::views
