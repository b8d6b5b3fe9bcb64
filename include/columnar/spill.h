// Where a table goes when it does not fit in memory. A spill file is an
// unnamed file (it vanishes with its last user, also after a crash) that
// columns are moved into: their bytes are written to it and read back through
// a shared mapping, so the kernel pages them in when read and evicts them
// under memory pressure, and every operator keeps seeing ordinary columns.
// Each moved buffer gets whole pages of its own; its disk space is given
// back (a punched hole) as soon as the last column holding it is gone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "columnar/buffer.h"
#include "columnar/column.h"
#include "columnar/table.h"

namespace pipeline::columnar {

class SpillFile {
 public:
  // An unnamed file in folder `dir` (which must exist). Throws FormatError
  // naming the folder when it cannot be made.
  static std::shared_ptr<SpillFile> Create(const std::string& dir);

  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile();

  // A buffer with `buffer`'s bytes, read from the file. Buffers smaller than
  // a page are copied in memory instead (not worth a page each). Throws
  // FormatError when the disk is full or the write fails. Thread-safe.
  Buffer Move(const Buffer& buffer);
  // The column with every buffer moved (the column itself when it already
  // lives in a spill file).
  ColumnPtr Move(const ColumnPtr& column);
  Batch Move(const Batch& batch);

  // Bytes written to the file so far (holes included).
  int64_t bytes_written() const;

 private:
  struct State;
  explicit SpillFile(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace pipeline::columnar
