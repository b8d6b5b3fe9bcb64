// The Parquet file writer: plans row groups over the table's batches,
// encodes column chunks on a few threads (parquet_column_writer.cc), writes
// them in order, then the footer. WriteParquetFile goes through a temporary
// file renamed into place.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "columnar/parallel.h"
#include "columnar/parquet.h"
#include "columnar/parquet_column_writer.h"

namespace pipeline::columnar {
namespace {

using parquet::ColumnSlice;
using parquet::EncodedChunk;

constexpr char kMagic[] = "PAR1";
constexpr char kCreatedBy[] = "pipeline-columnar version 0.1.0";
// Row groups encoded ahead of the one being written (bounds memory).
constexpr int64_t kRowGroupsAhead = 2;

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Write(const void* data, size_t size) = 0;
};

class BufferSink : public Sink {
 public:
  explicit BufferSink(std::vector<uint8_t>* out) : out_(out) {}
  void Write(const void* data, size_t size) override {
    const uint8_t* bytes = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), bytes, bytes + size);
  }

 private:
  std::vector<uint8_t>* out_;
};

class FileSink : public Sink {
 public:
  explicit FileSink(int fd) : fd_(fd) {}
  void Write(const void* data, size_t size) override {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t done = ::write(fd_, bytes, size);
      if (done < 0 && errno == EINTR) continue;
      if (done < 0) throw FormatError(std::string("cannot write: ") + std::strerror(errno));
      bytes += done;
      size -= static_cast<size_t>(done);
    }
  }

 private:
  int fd_;
};

parquet::Codec ToCodec(ParquetWriteOptions::Compression compression) {
  switch (compression) {
    case ParquetWriteOptions::Compression::kSnappy: return parquet::Codec::kSnappy;
    case ParquetWriteOptions::Compression::kZstd: return parquet::Codec::kZstd;
    case ParquetWriteOptions::Compression::kNone: return parquet::Codec::kUncompressed;
  }
  return parquet::Codec::kUncompressed;
}

parquet::SchemaElement FieldElement(const Field& field) {
  using parquet::PhysicalType;
  parquet::SchemaElement element;
  element.name = field.name;
  element.repetition = parquet::Repetition::kOptional;
  switch (field.type) {
    case DataType::kInt64: element.type = PhysicalType::kInt64; break;
    case DataType::kFloat64: element.type = PhysicalType::kDouble; break;
    case DataType::kBool: element.type = PhysicalType::kBoolean; break;
    case DataType::kString:
      element.type = PhysicalType::kByteArray;
      element.converted_type = static_cast<int32_t>(parquet::ConvertedType::kUtf8);
      element.logical_type.kind = parquet::LogicalType::Kind::kString;
      break;
    case DataType::kTimestamp:
      element.type = PhysicalType::kInt64;
      element.converted_type = static_cast<int32_t>(parquet::ConvertedType::kTimestampMicros);
      element.logical_type.kind = parquet::LogicalType::Kind::kTimestamp;
      element.logical_type.adjusted_to_utc = true;
      element.logical_type.unit = parquet::TimeUnit::kMicros;
      break;
  }
  return element;
}

parquet::FileMetaData FileSkeleton(const Table& table) {
  parquet::FileMetaData meta;
  parquet::SchemaElement root;
  root.name = "schema";
  root.num_children = table.num_columns();
  meta.schema.push_back(root);
  for (const Field& field : table.schema().fields()) meta.schema.push_back(FieldElement(field));
  meta.num_rows = table.num_rows();
  for (const auto& [key, value] : table.metadata()) meta.key_value_metadata.push_back({key, value});
  meta.created_by = kCreatedBy;
  return meta;
}

// Row ranges of the row groups and, per row group and column, the slices of
// the batches they cover.
class RowGroupPlan {
 public:
  RowGroupPlan(const Table& table, int64_t row_group_rows) : table_(table) {
    for (int64_t start = 0; start < table.num_rows(); start += row_group_rows) {
      starts_.push_back(start);
      rows_.push_back(std::min(row_group_rows, table.num_rows() - start));
    }
    int64_t start = 0;
    for (const Batch& batch : table.batches()) {
      batch_starts_.push_back(start);
      start += batch.num_rows;
    }
  }

  int64_t num_row_groups() const { return static_cast<int64_t>(starts_.size()); }
  int64_t rows(int64_t group) const { return rows_[group]; }

  std::vector<ColumnSlice> Slices(int64_t group, int column) const {
    std::vector<ColumnSlice> slices;
    int64_t begin = starts_[group];
    int64_t end = begin + rows_[group];
    auto it = std::upper_bound(batch_starts_.begin(), batch_starts_.end(), begin);
    for (size_t batch = static_cast<size_t>(it - batch_starts_.begin()) - 1; batch < batch_starts_.size(); ++batch) {
      int64_t batch_begin = batch_starts_[batch];
      if (batch_begin >= end) break;
      const Batch& b = table_.batch(static_cast<int>(batch));
      int64_t from = std::max(begin, batch_begin);
      int64_t to = std::min(end, batch_begin + b.num_rows);
      if (to > from) slices.push_back({b.columns[column].get(), from - batch_begin, to - from});
    }
    return slices;
  }

 private:
  const Table& table_;
  std::vector<int64_t> starts_;
  std::vector<int64_t> rows_;
  std::vector<int64_t> batch_starts_;
};

// Encodes chunk tasks (row group-major) on worker threads, at most
// kRowGroupsAhead row groups ahead of the consumer; Take() hands them out in
// order. Workers catch their exceptions; Take() rethrows the first.
class ChunkPipeline {
 public:
  ChunkPipeline(const Table& table, const RowGroupPlan& plan, const ParquetWriteOptions& options)
      : table_(table), plan_(plan), options_(options),
        tasks_(plan.num_row_groups() * table.num_columns()), results_(static_cast<size_t>(tasks_)) {
    int threads = options.threads > 0 ? options.threads : DefaultThreads();
    threads = static_cast<int>(std::clamp<int64_t>(threads, 1, std::max<int64_t>(tasks_, 1)));
    for (int idx = 0; idx < threads; ++idx) workers_.emplace_back([this] { Work(); });
  }

  ~ChunkPipeline() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  }

  EncodedChunk Take(int64_t task) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return results_[task].has_value() || error_; });
    if (error_) std::rethrow_exception(error_);
    EncodedChunk chunk = std::move(*results_[task]);
    results_[task].reset();
    consumed_group_ = task / table_.num_columns();
    changed_.notify_all();
    return chunk;
  }

 private:
  void Work() {
    try {
      parquet::ChunkEncoder encoder(ToCodec(options_.compression), options_.zstd_level, options_.dictionary);
      while (true) {
        int64_t task;
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] {
            return stop_ || error_ || next_ >= tasks_ || next_ / table_.num_columns() <= consumed_group_ + kRowGroupsAhead;
          });
          if (stop_ || error_ || next_ >= tasks_) return;
          task = next_++;
        }
        int column = static_cast<int>(task % table_.num_columns());
        EncodedChunk chunk = encoder.Encode(table_.schema().field(column).type,
                                            plan_.Slices(task / table_.num_columns(), column));
        std::lock_guard lock(mutex_);
        results_[task] = std::move(chunk);
        changed_.notify_all();
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      changed_.notify_all();
    }
  }

  const Table& table_;
  const RowGroupPlan& plan_;
  const ParquetWriteOptions& options_;
  const int64_t tasks_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::optional<EncodedChunk>> results_;  // guarded by mutex_
  int64_t next_ = 0;                                    // guarded by mutex_
  int64_t consumed_group_ = 0;                          // guarded by mutex_
  bool stop_ = false;                                   // guarded by mutex_
  std::exception_ptr error_;                            // guarded by mutex_
  std::vector<std::thread> workers_;
};

parquet::ColumnChunk ChunkMetaData(const Field& field, const parquet::SchemaElement& element, parquet::Codec codec,
                                   EncodedChunk& chunk, int64_t offset) {
  parquet::ColumnMetaData meta;
  meta.type = *element.type;
  meta.codec = codec;
  meta.encodings = std::move(chunk.encodings);
  meta.path_in_schema = {field.name};
  meta.num_values = chunk.num_values;
  meta.total_uncompressed_size = chunk.uncompressed_size;
  meta.total_compressed_size = static_cast<int64_t>(chunk.bytes.size());
  meta.data_page_offset = offset + chunk.dictionary_bytes;
  if (chunk.dictionary_bytes > 0) meta.dictionary_page_offset = offset;
  meta.statistics = std::move(chunk.statistics);
  parquet::ColumnChunk column;
  column.file_offset = offset;
  column.meta_data = std::move(meta);
  return column;
}

void WriteTable(const Table& table, const ParquetWriteOptions& options, Sink& sink) {
  if (table.num_columns() == 0) throw FormatError("a Parquet file needs at least one column");
  if (options.row_group_rows <= 0) throw FormatError("row_group_rows must be positive");
  parquet::FileMetaData meta = FileSkeleton(table);
  const parquet::Codec codec = ToCodec(options.compression);
  sink.Write(kMagic, 4);
  int64_t offset = 4;
  RowGroupPlan plan(table, options.row_group_rows);
  ChunkPipeline pipeline(table, plan, options);
  for (int64_t group = 0; group < plan.num_row_groups(); ++group) {
    parquet::RowGroup row_group;
    row_group.num_rows = plan.rows(group);
    row_group.file_offset = offset;
    row_group.ordinal = static_cast<int16_t>(std::min<int64_t>(group, INT16_MAX));
    for (int column = 0; column < table.num_columns(); ++column) {
      EncodedChunk chunk = pipeline.Take(group * table.num_columns() + column);
      sink.Write(chunk.bytes.data(), chunk.bytes.size());
      row_group.total_byte_size += chunk.uncompressed_size;
      row_group.total_compressed_size += static_cast<int64_t>(chunk.bytes.size());
      row_group.columns.push_back(
          ChunkMetaData(table.schema().field(column), meta.schema[column + 1], codec, chunk, offset));
      offset += static_cast<int64_t>(chunk.bytes.size());
    }
    meta.row_groups.push_back(std::move(row_group));
  }
  std::string footer;
  parquet::Serialize(meta, &footer);
  uint32_t length = static_cast<uint32_t>(footer.size());
  footer.append(reinterpret_cast<const char*>(&length), 4);
  footer.append(kMagic, 4);
  sink.Write(footer.data(), footer.size());
}

std::string TemporaryPath(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Removes the temporary file unless Commit() ran.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) throw FormatError("cannot create " + path_ + ": " + std::strerror(errno));
  }
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }

  void Commit(const std::string& target, bool sync) {
    if (sync && ::fsync(fd_) != 0) throw FormatError(std::string("cannot sync: ") + std::strerror(errno));
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) throw FormatError(std::string("cannot write: ") + std::strerror(errno));
    if (::rename(path_.c_str(), target.c_str()) != 0) {
      throw FormatError("cannot rename " + path_ + ": " + std::strerror(errno));
    }
    committed_ = true;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

int64_t WriteParquetFile(const Table& table, const std::string& path, const ParquetWriteOptions& options) {
  try {
    TemporaryFile file(TemporaryPath(path));
    FileSink sink(file.fd());
    WriteTable(table, options, sink);
    off_t size = ::lseek(file.fd(), 0, SEEK_CUR);
    file.Commit(path, options.sync);
    return static_cast<int64_t>(size);
  } catch (const FormatError& error) {
    throw FormatError(path + ": " + error.what());
  }
}

std::vector<uint8_t> WriteParquetBuffer(const Table& table, const ParquetWriteOptions& options) {
  std::vector<uint8_t> out;
  BufferSink sink(&out);
  WriteTable(table, options, sink);
  return out;
}

}  // namespace pipeline::columnar
