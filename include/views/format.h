// Plain-text formatting shared by pipectl and the daemon.
#pragma once

#include <string>
#include <vector>

#include "core/time.h"

namespace pipeline::views {

// A plain text table: the first row is the header; columns padded to fit.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// "1.234s", "2m03s", "1h05m".
std::string FormatElapsed(Duration d);

}  // namespace pipeline::views
