// Writing tables as CSV (RFC 4180) or JSON Lines. Both write to a temporary
// file beside `path` and rename it when complete.
#pragma once

#include <string>

#include "columnar/table.h"

namespace pipeline::columnar {

// Header line, then one line per row; nulls are empty fields, empty strings
// are written as "" so that they read back as strings; timestamps as
// "YYYY-MM-DD HH:MM:SS[.ffffff]". Returns the bytes written.
int64_t WriteCsvFile(const Table& table, const std::string& path, char delimiter = ',');
// {"column": value, ...} per row; timestamps as ISO-8601 strings with a Z.
int64_t WriteJsonlFile(const Table& table, const std::string& path);

// Writes `fill(out)` to a temporary file beside `path` and renames it; on any
// failure the temporary file is removed and std::system_error is thrown.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void Write(const void* data, size_t n);
  // Flushes, syncs and renames over `path`. Returns the file's size.
  int64_t Commit();

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  int64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace pipeline::columnar
