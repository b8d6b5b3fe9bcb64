// The Parquet file reader: footer, schema mapping, checks of every chunk's
// byte range against the file, then column chunks decoded on a few threads
// (parquet_column_reader.cc), one batch per row group.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "columnar/compute.h"
#include "columnar/parallel.h"
#include "columnar/parquet.h"
#include "columnar/parquet_column_reader.h"
#include "columnar/parquet_compression.h"
#include "columnar/parquet_format.h"

namespace pipeline::columnar {
namespace {

using parquet::ColumnPlan;
using parquet::Conversion;
using parquet::PhysicalType;
using Kind = parquet::LogicalType::Kind;

// Bytes of the file, read by offset; safe to call from several threads.
class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  // Bytes [offset, offset + n), inside size(): in place, or read into *scratch.
  virtual const uint8_t* Read(uint64_t offset, uint64_t n, Buffer* scratch) const = 0;
};

class MemorySource : public Source {
 public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t size() const override { return size_; }
  const uint8_t* Read(uint64_t offset, uint64_t, Buffer*) const override { return data_ + offset; }

 private:
  const uint8_t* data_;
  size_t size_;
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw FormatError(std::string("cannot open: ") + std::strerror(errno));
    struct stat info;
    if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd_);
      throw FormatError("not a regular file");
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  const uint8_t* Read(uint64_t offset, uint64_t n, Buffer* scratch) const override {
    scratch->Resize(n);
    for (uint64_t done = 0; done < n;) {
      ssize_t got = ::pread(fd_, scratch->data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw FormatError(std::string("cannot read: ") + std::strerror(errno));
      if (got == 0) throw FormatError("file shrank while being read");
      done += static_cast<uint64_t>(got);
    }
    return scratch->data();
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

[[noreturn]] void ColumnError(const std::string& column, const std::string& what) {
  throw FormatError("column '" + column + "': " + what);
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t value;
  std::memcpy(&value, p, 4);
  return value;
}

// Reads and parses the footer; *data_end is where it starts.
parquet::FileMetaData ReadFooter(const Source& source, uint64_t* data_end) {
  uint64_t size = source.size();
  Buffer scratch;
  if (size < 4 || std::memcmp(source.Read(0, 4, &scratch), "PAR1", 4) != 0) {
    throw FormatError("not a Parquet file (bad magic)");
  }
  if (size < 12) throw FormatError("truncated file (" + std::to_string(size) + " bytes)");
  const uint8_t* tail = source.Read(size - 8, 8, &scratch);
  if (std::memcmp(tail + 4, "PARE", 4) == 0) throw FormatError("encrypted Parquet files are not supported");
  if (std::memcmp(tail + 4, "PAR1", 4) != 0) throw FormatError("truncated file (no magic at the end)");
  uint64_t length = LoadU32(tail);
  if (length > size - 12) throw FormatError("footer length " + std::to_string(length) + " past the file");
  *data_end = size - 8 - length;
  parquet::FileMetaData meta = parquet::ParseFileMetaData(source.Read(*data_end, length, &scratch), length);
  if (meta.encrypted) throw FormatError("encrypted Parquet files are not supported");
  return meta;
}

[[noreturn]] void UnsupportedType(const parquet::SchemaElement& element, const std::string& what) {
  ColumnError(element.name, "unsupported type " + what);
}

ColumnPlan PlanInt32(const parquet::SchemaElement& element, ColumnPlan plan) {
  const parquet::LogicalType& logical = element.logical_type;
  int converted = element.converted_type.value_or(-1);
  if (logical.kind == Kind::kDate || converted == 6) {
    plan.type = DataType::kTimestamp;
    plan.conversion = Conversion::kDate;
  } else if (logical.kind == Kind::kDecimal || converted == 5) {
    UnsupportedType(element, "DECIMAL");
  } else if (logical.kind == Kind::kTime || converted == 7) {
    UnsupportedType(element, "TIME");
  } else if ((logical.kind == Kind::kInteger && !logical.is_signed) || (converted >= 11 && converted <= 13)) {
    plan.conversion = Conversion::kUint32;
  } else if ((logical.kind == Kind::kNone || logical.kind == Kind::kInteger) &&
             (converted == -1 || (converted >= 15 && converted <= 17))) {
    plan.conversion = Conversion::kInt32;
  } else {
    UnsupportedType(element, "INT32 with this annotation");
  }
  return plan;
}

ColumnPlan PlanInt64(const parquet::SchemaElement& element, ColumnPlan plan) {
  const parquet::LogicalType& logical = element.logical_type;
  int converted = element.converted_type.value_or(-1);
  if (logical.kind == Kind::kTimestamp) {
    plan.type = DataType::kTimestamp;
    plan.conversion = logical.unit == parquet::TimeUnit::kMillis  ? Conversion::kMillis
                      : logical.unit == parquet::TimeUnit::kNanos ? Conversion::kNanos
                                                                   : Conversion::kNone;
  } else if (converted == 9 || converted == 10) {
    plan.type = DataType::kTimestamp;
    plan.conversion = converted == 9 ? Conversion::kMillis : Conversion::kNone;
  } else if (logical.kind == Kind::kDecimal || converted == 5) {
    UnsupportedType(element, "DECIMAL");
  } else if (logical.kind == Kind::kTime || converted == 8) {
    UnsupportedType(element, "TIME");
  } else if ((logical.kind == Kind::kInteger && !logical.is_signed) || converted == 14) {
    plan.conversion = Conversion::kUint64;
  } else if ((logical.kind != Kind::kNone && logical.kind != Kind::kInteger) || (converted != -1 && converted != 18)) {
    UnsupportedType(element, "INT64 with this annotation");
  }
  return plan;
}

ColumnPlan PlanColumn(const parquet::SchemaElement& element) {
  ColumnPlan plan;
  plan.name = element.name;
  if (element.num_children > 0 || !element.type) ColumnError(element.name, "nested columns are not supported");
  if (!element.repetition) ColumnError(element.name, "corrupt footer (no repetition type)");
  if (*element.repetition == parquet::Repetition::kRepeated) ColumnError(element.name, "repeated columns are not supported");
  plan.optional = *element.repetition == parquet::Repetition::kOptional;
  plan.physical = *element.type;
  int converted = element.converted_type.value_or(-1);
  Kind kind = element.logical_type.kind;
  switch (plan.physical) {
    case PhysicalType::kBoolean: plan.type = DataType::kBool; return plan;
    case PhysicalType::kInt32: return PlanInt32(element, plan);
    case PhysicalType::kInt64: return PlanInt64(element, plan);
    case PhysicalType::kInt96:
      plan.type = DataType::kTimestamp;
      plan.conversion = Conversion::kInt96;
      return plan;
    case PhysicalType::kFloat:
      plan.type = DataType::kFloat64;
      plan.conversion = Conversion::kFloat;
      return plan;
    case PhysicalType::kDouble: plan.type = DataType::kFloat64; return plan;
    case PhysicalType::kByteArray:
      if ((kind == Kind::kNone || kind == Kind::kString || kind == Kind::kEnum || kind == Kind::kJson) &&
          (converted == -1 || converted == 0 || converted == 4 || converted == 19)) {
        plan.type = DataType::kString;
        return plan;
      }
      UnsupportedType(element, kind == Kind::kDecimal || converted == 5 ? "DECIMAL" : "BYTE_ARRAY with this annotation");
    default: break;
  }
  // (DuckDB writes a DECIMAL of more than 18 digits as FIXED_LEN_BYTE_ARRAY.)
  if (kind == Kind::kDecimal || converted == 5) UnsupportedType(element, "DECIMAL");
  UnsupportedType(element, parquet::PhysicalTypeName(plan.physical));
}

// A file column: how to read it, or why it cannot be (which matters only
// when it is selected).
struct FileColumn {
  ColumnPlan plan;
  std::string error;
};

std::vector<FileColumn> PlanColumns(const parquet::FileMetaData& meta) {
  if (meta.schema.empty()) throw FormatError("corrupt footer (empty schema)");
  std::vector<FileColumn> columns(meta.schema.size() - 1);
  for (size_t idx = 1; idx < meta.schema.size(); ++idx) {
    try {
      columns[idx - 1].plan = PlanColumn(meta.schema[idx]);
    } catch (const FormatError& error) {
      columns[idx - 1].plan.name = meta.schema[idx].name;
      columns[idx - 1].error = error.what();
    }
  }
  if (meta.schema[0].num_children != static_cast<int32_t>(columns.size())) {
    // Name the first top-level column that is a group (a list, struct or map).
    size_t idx = 1;
    for (int32_t top = 0; top < meta.schema[0].num_children && idx < meta.schema.size(); ++top) {
      if (meta.schema[idx].num_children > 0) {
        ColumnError(meta.schema[idx].name, "nested columns (lists, structs, maps) are not supported");
      }
      // Past this element and its subtree (elements are listed depth first).
      for (int64_t left = 1; left > 0 && idx < meta.schema.size(); --left) left += meta.schema[idx++].num_children;
    }
    throw FormatError("nested schemas are not supported");
  }
  return columns;
}

// Indices of the requested columns (all when none are named); throws for a
// missing or unreadable one.
std::vector<int> SelectColumns(const std::vector<FileColumn>& columns, const std::vector<std::string>& names) {
  std::vector<int> selected;
  for (size_t idx = 0; names.empty() && idx < columns.size(); ++idx) selected.push_back(static_cast<int>(idx));
  for (const std::string& name : names) {
    auto it = std::find_if(columns.begin(), columns.end(), [&](const FileColumn& c) { return c.plan.name == name; });
    if (it == columns.end()) throw FormatError("no column '" + name + "'");
    selected.push_back(static_cast<int>(it - columns.begin()));
  }
  for (int idx : selected) {
    if (!columns[idx].error.empty()) throw FormatError(columns[idx].error);
  }
  return selected;
}

// One column chunk to decode: where its bytes are and how many rows.
struct ChunkTask {
  int group = 0;
  int slot = 0;  // index among the selected columns
  const ColumnPlan* plan = nullptr;
  parquet::Codec codec = parquet::Codec::kUncompressed;
  uint64_t offset = 0;
  uint64_t size = 0;
  int64_t rows = 0;
};

ChunkTask PlanChunk(const parquet::ColumnChunk& chunk, const ColumnPlan& plan, int64_t rows, uint64_t data_end) {
  if (chunk.file_path) ColumnError(plan.name, "columns in other files are not supported");
  if (!chunk.meta_data) ColumnError(plan.name, "corrupt footer (no column metadata)");
  const parquet::ColumnMetaData& meta = *chunk.meta_data;
  if (meta.type != plan.physical) ColumnError(plan.name, "chunk type differs from the schema");
  if (!parquet::CodecSupported(meta.codec)) ColumnError(plan.name, "unsupported compression " + parquet::CodecName(meta.codec));
  int64_t start = meta.data_page_offset;
  if (meta.dictionary_page_offset && *meta.dictionary_page_offset > 0) start = std::min(start, *meta.dictionary_page_offset);
  int64_t size = meta.total_compressed_size;
  if (start < 4 || size < 0 || static_cast<uint64_t>(start) > data_end || static_cast<uint64_t>(size) > data_end - start) {
    ColumnError(plan.name, "column chunk outside the file");
  }
  // Allocation guard: a legitimate chunk needs some bytes per row (a
  // run-length-encoded page can still hold millions of rows in a few bytes).
  if (rows > (int64_t{1} << 22) + size * 4096) {
    ColumnError(plan.name, "row group claims " + std::to_string(rows) + " rows in " + std::to_string(size) + " bytes");
  }
  ChunkTask task;
  task.plan = &plan;
  task.codec = meta.codec;
  task.offset = static_cast<uint64_t>(start);
  task.size = static_cast<uint64_t>(size);
  task.rows = rows;
  return task;
}

std::vector<ChunkTask> PlanChunks(const parquet::FileMetaData& meta, const std::vector<FileColumn>& columns,
                                  const std::vector<int>& selected, uint64_t data_end) {
  std::vector<ChunkTask> tasks;
  int64_t total = 0;
  for (size_t group = 0; group < meta.row_groups.size(); ++group) {
    const parquet::RowGroup& row_group = meta.row_groups[group];
    if (row_group.columns.size() != columns.size()) throw FormatError("corrupt footer (row group column count)");
    if (row_group.num_rows < 0 || row_group.num_rows > std::numeric_limits<int64_t>::max() - total) {
      throw FormatError("corrupt footer (row count)");
    }
    total += row_group.num_rows;
    if (row_group.num_rows == 0) continue;
    for (size_t slot = 0; slot < selected.size(); ++slot) {
      const ColumnPlan& plan = columns[selected[slot]].plan;
      ChunkTask task = PlanChunk(row_group.columns[selected[slot]], plan, row_group.num_rows, data_end);
      task.group = static_cast<int>(group);
      task.slot = static_cast<int>(slot);
      tasks.push_back(task);
    }
  }
  if (total != meta.num_rows) {
    throw FormatError("row groups hold " + std::to_string(total) + " rows, the footer says " +
                      std::to_string(meta.num_rows));
  }
  return tasks;
}

ColumnPtr DecodeChunk(const Source& source, const ChunkTask& task, parquet::DecodeScratch* scratch) {
  const uint8_t* data = source.Read(task.offset, task.size, &scratch->chunk);
  ColumnPlan plan = *task.plan;
  plan.codec = task.codec;
  try {
    return parquet::DecodeColumnChunk(plan, data, task.size, task.rows, scratch);
  } catch (const FormatError& error) {
    ColumnError(plan.name, error.what());
  }
}

TablePtr ReadTable(const Source& source, const ParquetReadOptions& options) {
  uint64_t data_end = 0;
  parquet::FileMetaData meta = ReadFooter(source, &data_end);
  std::vector<FileColumn> file_columns = PlanColumns(meta);
  std::vector<int> selected = SelectColumns(file_columns, options.columns);
  std::vector<ChunkTask> tasks = PlanChunks(meta, file_columns, selected, data_end);
  // The rows asked for, and the row groups that hold them (the others are not decoded).
  std::vector<int64_t> group_start(meta.row_groups.size());
  int64_t total = 0;
  for (size_t group = 0; group < meta.row_groups.size(); ++group) {
    group_start[group] = total;
    total += meta.row_groups[group].num_rows;
  }
  const int64_t begin = std::max<int64_t>(options.row_offset, 0);
  const int64_t end = options.row_limit < 0 ? total : std::min(total, begin + options.row_limit);
  auto wanted = [&](size_t group) {
    return group_start[group] < end && group_start[group] + meta.row_groups[group].num_rows > begin;
  };
  std::erase_if(tasks, [&](const ChunkTask& task) { return !wanted(size_t(task.group)); });
  std::vector<std::vector<ColumnPtr>> columns(meta.row_groups.size(), std::vector<ColumnPtr>(selected.size()));
  // One call per worker, each with its scratch, taking tasks in turn.
  size_t workers = std::min<size_t>(tasks.size(), options.threads > 0 ? options.threads : DefaultThreads());
  std::atomic<size_t> next{0};
  ParallelFor(workers, static_cast<int>(workers), [&](size_t) {
    parquet::DecodeScratch scratch;
    for (size_t idx = next++; idx < tasks.size(); idx = next++) {
      ColumnPtr column = DecodeChunk(source, tasks[idx], &scratch);
      columns[tasks[idx].group][tasks[idx].slot] = options.spill ? options.spill->Move(column) : column;
    }
  });
  Schema schema;
  for (int column : selected) schema.Add(Field{file_columns[column].plan.name, file_columns[column].plan.type});
  auto table = std::make_shared<Table>(schema);
  for (size_t group = 0; group < meta.row_groups.size(); ++group) {
    const int64_t rows = meta.row_groups[group].num_rows;
    if (rows == 0 || selected.empty() || !wanted(group)) continue;
    const int64_t from = std::max<int64_t>(begin - group_start[group], 0);
    const int64_t to = std::min(end - group_start[group], rows);
    if (from > 0 || to < rows) {
      for (ColumnPtr& column : columns[group]) column = Slice(*column, from, to - from);
    }
    table->AddBatch(Batch{to - from, std::move(columns[group])});
  }
  for (parquet::KeyValue& kv : meta.key_value_metadata) table->SetMetadata(std::move(kv.key), std::move(kv.value));
  return table;
}

TablePtr ReadNamed(const Source& source, const std::string& name, const ParquetReadOptions& options) {
  try {
    return ReadTable(source, options);
  } catch (const FormatError& error) {
    throw FormatError(name + ": " + error.what());
  }
}

}  // namespace

TablePtr ReadParquetFile(const std::string& path, const ParquetReadOptions& options) {
  std::unique_ptr<FileSource> source;
  try {
    source = std::make_unique<FileSource>(path);
  } catch (const FormatError& error) {
    throw FormatError(path + ": " + error.what());
  }
  return ReadNamed(*source, path, options);
}

TablePtr ReadParquetBuffer(const uint8_t* data, size_t size, const std::string& name,
                           const ParquetReadOptions& options) {
  return ReadNamed(MemorySource(data, size), name, options);
}

}  // namespace pipeline::columnar
