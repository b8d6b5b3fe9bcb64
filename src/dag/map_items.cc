#include "dag/map_items.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace pipeline {

namespace {

// A folder that does not exist matches nothing; one that cannot be read is an error.
int GlobError(const char* /*path*/, int error) { return error != ENOENT && error != ENOTDIR; }

std::vector<std::string> GlobItems(const TaskSpec& task, const std::string& pattern, const std::string& dag_dir) {
  const bool relative = pattern.front() != '/';
  std::string prefix = relative && !dag_dir.empty() ? dag_dir + "/" : "";
  glob_t matches{};
  int rc = glob((prefix + pattern).c_str(), 0, GlobError, &matches);
  struct Free {
    glob_t* g;
    ~Free() { globfree(g); }
  } free_matches{&matches};
  if (rc == GLOB_NOMATCH) return {};
  if (rc != 0) {
    throw Error::InvalidArgument("task '" + task.id + "': map_over glob '" + pattern + "' cannot be read" +
                                 (rc == GLOB_ABORTED ? ": a folder is not readable" : ""));
  }
  std::vector<std::string> out;
  out.reserve(matches.gl_pathc);
  for (size_t i = 0; i < matches.gl_pathc; ++i) {
    std::string path = matches.gl_pathv[i];
    if (!prefix.empty() && path.starts_with(prefix)) path.erase(0, prefix.size());
    out.push_back(std::move(path));
    if (out.size() > size_t(task.max_map_length)) break;  // reported by the caller
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> MapItems(const TaskSpec& task, const ParamValues& params, const std::string& dag_dir) {
  if (!task.map_over) return {};
  const MapOver& m = *task.map_over;
  std::vector<std::string> items;
  switch (m.kind) {
    case MapOver::Kind::kList:
      items = m.items;
      break;
    case MapOver::Kind::kParam: {
      auto it = params.find(m.name);
      if (it == params.end()) {
        throw Error::InvalidArgument("task '" + task.id + "': map_over parameter '" + m.name + "' has no value");
      }
      const DocNode& value = *it->second;
      if (!value.is_sequence()) {
        throw Error::InvalidArgument("task '" + task.id + "': map_over parameter '" + m.name +
                                     "' is not a list (it is " + value.TypeName() + ")");
      }
      for (const auto& item : value.items()) items.push_back(ParamText(*item));
      break;
    }
    case MapOver::Kind::kGlob:
      items = GlobItems(task, m.name, dag_dir);
      break;
  }
  if (items.size() > size_t(task.max_map_length)) {
    const std::string limit = "max_map_length " + std::to_string(task.max_map_length);
    throw Error::InvalidArgument(
        "task '" + task.id + "': " +
        (m.kind == MapOver::Kind::kGlob ? "map_over glob '" + m.name + "' matches more files than " + limit
                                        : "map_over gives " + std::to_string(items.size()) + " items, more than " + limit));
  }
  return items;
}

}  // namespace pipeline
