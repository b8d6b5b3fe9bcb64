#include "columnar/text_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "columnar/value_parse.h"

namespace pipeline::columnar {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp-XXXXXX";
  fd_ = ::mkstemp(tmp_.data());
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot create a file beside " + path_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::Write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write " + tmp_);
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += w;
  }
}

int64_t AtomicFile::Commit() {
  if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot sync " + tmp_);
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot rename " + tmp_ + " to " + path_);
  }
  committed_ = true;
  return written_;
}

namespace {

// Buffers output and hands it to the file in large writes.
class Out {
 public:
  explicit Out(AtomicFile& file) : file_(file) { buf_.reserve(kFlushAt + 4096); }
  ~Out() = default;
  void Put(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= kFlushAt) Flush();
  }
  void Put(char c) { buf_.push_back(c); }
  void Flush() {
    file_.Write(buf_.data(), buf_.size());
    buf_.clear();
  }

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  AtomicFile& file_;
  std::string buf_;
};

void PutNumber(Out& out, const Column& c, int64_t row) {
  char buf[64];
  std::to_chars_result r{};
  if (c.type() == DataType::kInt64) {
    r = std::to_chars(buf, buf + sizeof buf, c.ints()[row]);
  } else if (std::isnan(c.doubles()[row])) {
    out.Put("nan");  // to_chars writes "-nan" for a NaN with its sign bit set (0 * -inf)
    return;
  } else {
    r = std::to_chars(buf, buf + sizeof buf, c.doubles()[row]);
  }
  out.Put(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

void PutCsvString(Out& out, std::string_view s, char delimiter) {
  bool quote = s.empty() || s.find_first_of(std::string{delimiter, '"', '\n', '\r'}) != std::string_view::npos ||
               s.front() == ' ' || s.back() == ' ' || s == "NA" || s == "null";
  if (!quote) {
    out.Put(s);
    return;
  }
  out.Put('"');
  for (char ch : s) {
    if (ch == '"') out.Put('"');
    out.Put(ch);
  }
  out.Put('"');
}

void PutJsonString(Out& out, std::string_view s) {
  out.Put('"');
  for (char ch : s) {
    switch (ch) {
      case '"': out.Put("\\\""); break;
      case '\\': out.Put("\\\\"); break;
      case '\n': out.Put("\\n"); break;
      case '\r': out.Put("\\r"); break;
      case '\t': out.Put("\\t"); break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", ch);
          out.Put(esc);
        } else {
          out.Put(ch);
        }
    }
  }
  out.Put('"');
}

}  // namespace

int64_t WriteCsvFile(const Table& table, const std::string& path, char delimiter) {
  AtomicFile file(path);
  Out out(file);
  for (int c = 0; c < table.num_columns(); ++c) {
    if (c) out.Put(delimiter);
    PutCsvString(out, table.schema().field(c).name, delimiter);
  }
  out.Put('\n');
  for (const Batch& b : table.batches()) {
    for (int64_t row = 0; row < b.num_rows; ++row) {
      for (int c = 0; c < table.num_columns(); ++c) {
        if (c) out.Put(delimiter);
        const Column& col = *b.columns[c];
        if (col.IsNull(row)) continue;
        switch (col.type()) {
          case DataType::kInt64:
          case DataType::kFloat64: PutNumber(out, col, row); break;
          case DataType::kBool: out.Put(col.bools()[row] ? "true" : "false"); break;
          case DataType::kString: PutCsvString(out, col.StringAt(row), delimiter); break;
          case DataType::kTimestamp: out.Put(FormatTimestamp(col.ints()[row])); break;
        }
      }
      out.Put('\n');
    }
  }
  out.Flush();
  return file.Commit();
}

int64_t WriteJsonlFile(const Table& table, const std::string& path) {
  AtomicFile file(path);
  Out out(file);
  for (const Batch& b : table.batches()) {
    for (int64_t row = 0; row < b.num_rows; ++row) {
      out.Put('{');
      for (int c = 0; c < table.num_columns(); ++c) {
        if (c) out.Put(',');
        PutJsonString(out, table.schema().field(c).name);
        out.Put(':');
        const Column& col = *b.columns[c];
        if (col.IsNull(row)) {
          out.Put("null");
          continue;
        }
        switch (col.type()) {
          case DataType::kInt64: PutNumber(out, col, row); break;
          case DataType::kFloat64:
            if (std::isfinite(col.doubles()[row])) {
              PutNumber(out, col, row);
            } else {
              out.Put("null");  // JSON has no inf or nan
            }
            break;
          case DataType::kBool: out.Put(col.bools()[row] ? "true" : "false"); break;
          case DataType::kString: PutJsonString(out, col.StringAt(row)); break;
          case DataType::kTimestamp: {
            std::string ts = FormatTimestamp(col.ints()[row]);
            ts[10] = 'T';
            PutJsonString(out, ts + "Z");
            break;
          }
        }
      }
      out.Put("}\n");
    }
  }
  out.Flush();
  return file.Commit();
}

}  // namespace pipeline::columnar
