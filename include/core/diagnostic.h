// A problem found in a DAG file, located at a YAML node.
#pragma once

#include <string>
#include <vector>

namespace pipeline {

// A position in a source file; 1-based. line == 0 means "the whole file".
struct Mark {
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  std::string file;
  Mark mark;
  std::string message;

  // "FILE:LINE:COL: message", or "FILE: message" when there is no position.
  std::string ToString() const;
};

// Collects diagnostics for one file, in the order they are found.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void Add(Mark mark, std::string message) {
    items_.push_back({file_, mark, std::move(message)});
  }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<Diagnostic> items_;
};

}  // namespace pipeline
