// CSV reader. Plan: map each file, split its data rows into chunks of about
// `chunk_bytes`, parse the chunks on all cores (each chunk becomes a Batch),
// then fix up the chunks whose speculative start was wrong.
//
// A chunk other than the first guesses that its first row starts after the
// first newline at or past its nominal start (true unless a quoted field
// holds that newline). The guess is checked against where the previous chunk
// really stopped; a wrong guess is parsed again from there. Types not declared
// are inferred from a sample; a value that does not fit widens the type and
// the chunks are parsed again with the wider types.
#include "columnar/csv.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include <simdjson.h>

#include "columnar/csv_scan.h"
#include "columnar/parallel.h"
#include "columnar/value_parse.h"

namespace pipeline::columnar {
namespace {

constexpr int64_t kSampleRows = 20480;

// A file's bytes, memory-mapped (or borrowed for in-memory text).
class Source {
 public:
  static Source Map(const std::string& path) {
    Source s;
    s.name_ = path;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), "cannot stat " + path);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw FormatError(path + ": is a directory");
    }
    s.size_ = static_cast<size_t>(st.st_size);
    if (s.size_ > 0) {
      void* p = ::mmap(nullptr, s.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        throw std::system_error(err, std::generic_category(), "cannot map " + path);
      }
      ::madvise(p, s.size_, MADV_SEQUENTIAL);
      s.data_ = static_cast<const uint8_t*>(p);
      s.mapped_ = true;
    }
    ::close(fd);
    return s;
  }

  static Source Borrow(std::string_view text, std::string name) {
    Source s;
    s.name_ = std::move(name);
    s.data_ = reinterpret_cast<const uint8_t*>(text.data());
    s.size_ = text.size();
    return s;
  }

  Source() = default;
  Source(Source&& o) noexcept { *this = std::move(o); }
  Source& operator=(Source&& o) noexcept {
    std::swap(name_, o.name_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
    return *this;
  }
  ~Source() {
    if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }

  const std::string& name() const { return name_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Lets the kernel drop the pages of [begin, end) from this process (they
  // stay in the page cache), so a large file never sits in memory whole.
  void Release(size_t begin, size_t end) const {
    if (!mapped_) return;
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t b = (begin + page - 1) / page * page;
    size_t e = end / page * page;
    if (e > b) ::madvise(const_cast<uint8_t*>(data_) + b, e - b, MADV_DONTNEED);
  }

 private:
  std::string name_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

struct FieldRange {
  size_t begin;
  size_t end;
  bool has_quote;  // a quote character lies in [begin, end)
};

// One row as the scanner found it.
struct RawRow {
  size_t begin = 0;        // offset of the row's first byte
  size_t end = 0;          // offset just past its newline (or the end of the text)
  const FieldRange* fields = nullptr;
  int num_fields = 0;      // may exceed the capacity: then only the first ones are kept
  bool unterminated = false;  // the text ended inside a quoted field
};

// The lenient reading of one 64-byte block, for blocks where a quote stands
// inside an unquoted field: a quote opens a quoted field only at the field's
// start (or right after a closing quote, as the first of an escaped pair);
// anywhere else it is a literal character. `inside` and `closing` get the
// masks the parity reading would give for well-formed text: bits inside
// quotes (opening quote included), and closing quotes. The state carries
// over to the next block.
struct QuoteState {
  bool in_quotes = false;
  bool just_closed = false;  // the last byte closed a quoted field
};

void LenientQuotes(const uint8_t* block, uint8_t quote, uint8_t delim, bool at_field_start, QuoteState* state,
                   uint64_t* inside, uint64_t* closing) {
  uint64_t in = 0, closed = 0;
  bool in_quotes = state->in_quotes, just_closed = state->just_closed;
  for (int i = 0; i < 64; ++i) {
    const uint8_t c = block[i];
    const uint64_t bit = uint64_t{1} << i;
    if (in_quotes) {
      if (c == quote) {
        in_quotes = false;
        just_closed = true;
        closed |= bit;
      } else {
        in |= bit;
      }
      at_field_start = false;
    } else if (c == quote && (at_field_start || just_closed)) {
      in_quotes = true;
      just_closed = false;
      at_field_start = false;
      in |= bit;
    } else {
      just_closed = false;
      at_field_start = c == delim || c == '\n';
    }
  }
  state->in_quotes = in_quotes;
  state->just_closed = just_closed;
  *inside = in;
  *closing = closed;
}

// Walks rows from `begin` (a row start) while rows start before
// `nominal_end`; the last row is finished even past it. Calls on_row(const
// RawRow&) -> bool (false stops). Returns the offset where the next row
// starts (or the text's size).
template <class OnRow>
size_t ScanRows(const uint8_t* data, size_t size, size_t begin, size_t nominal_end, char quote,
                char delim, int max_fields, OnRow&& on_row) {
  constexpr size_t kBatchBlocks = 64;
  uint64_t quotes[kBatchBlocks], delims[kBatchBlocks], newlines[kBatchBlocks];
  std::vector<FieldRange> fields(static_cast<size_t>(max_fields) + 1);
  const int capacity = max_fields + 1;

  RawRow row;
  row.begin = begin;
  row.fields = fields.data();
  int nfields = 0;
  size_t field_begin = begin;
  bool field_quote = false;   // the current field has a quote in an earlier block
  uint64_t inside_carry = 0;  // all ones when the previous block ended inside quotes
  uint64_t closed_carry = 0;  // 1 when the previous block ended with a closing quote
  size_t pos = begin;
  bool stop = false;

  auto finish_row = [&](size_t field_end, size_t row_end, bool has_quote) {
    if (nfields < capacity) fields[nfields] = {field_begin, field_end, has_quote};
    ++nfields;
    bool empty_line = nfields == 1 && (field_end == field_begin ||
                                       (field_end == field_begin + 1 && data[field_begin] == '\r'));
    if (!empty_line) {
      row.end = row_end;
      row.num_fields = nfields;
      if (!on_row(row)) stop = true;
    }
    nfields = 0;
    field_begin = row_end;
    row.begin = row_end;
  };

  while (pos < size && !stop) {
    size_t remaining = size - pos;
    size_t blocks = std::min(kBatchBlocks, remaining / 64);
    alignas(64) uint8_t tail[64];
    const uint8_t* base = data + pos;
    size_t valid_bits_last = 64;
    if (blocks == 0) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, data + pos, remaining);
      base = tail;
      blocks = 1;
      valid_bits_last = remaining;
    }
    ClassifyCsvBlocks(base, blocks, static_cast<uint8_t>(quote), static_cast<uint8_t>(delim), quotes,
                      delims, newlines);
    if (valid_bits_last < 64) {
      uint64_t keep = (uint64_t{1} << valid_bits_last) - 1;
      quotes[0] &= keep;
      delims[0] &= keep;
      newlines[0] &= keep;
    }
    for (size_t b = 0; b < blocks && !stop; ++b) {
      const size_t block_pos = pos + b * 64;
      uint64_t inside = PrefixXor(quotes[b]) ^ inside_carry;
      uint64_t structural = (delims[b] | newlines[b]) & ~inside;
      if (quotes[b] != 0) {
        // The parity reading holds unless a quote opens somewhere other than
        // a field's start or an escaped pair: then this block is read byte
        // by byte (the first such quote is found exactly, since everything
        // before it agrees with the lenient reading). Rows end where the
        // lenient reading ends them with strict_quotes too, so that a stray
        // quote makes its own row bad (FieldText), not the rows after it.
        const uint64_t at_start = field_begin == block_pos ? 1 : 0;
        const uint64_t opening = quotes[b] & inside & ~((inside << 1) | (inside_carry & 1));
        uint64_t closing = quotes[b] & ~inside;
        if (opening & ~((structural << 1) | at_start) & ~((closing << 1) | closed_carry)) {
          QuoteState state{inside_carry != 0, closed_carry != 0};
          LenientQuotes(base + b * 64, static_cast<uint8_t>(quote), static_cast<uint8_t>(delim), at_start != 0,
                        &state, &inside, &closing);
          structural = (delims[b] | newlines[b]) & ~inside;
        }
        closed_carry = closing >> 63;
      } else {
        closed_carry = 0;
      }
      inside_carry = static_cast<uint64_t>(static_cast<int64_t>(inside) >> 63);
      uint64_t pending_quotes = quotes[b];  // quotes of this block not yet in an ended field
      while (structural) {
        int bit = std::countr_zero(structural);
        structural &= structural - 1;
        size_t at = block_pos + static_cast<size_t>(bit);
        bool has_quote = field_quote || (pending_quotes & ((uint64_t{1} << bit) - 1)) != 0;
        pending_quotes &= ~((uint64_t{2} << bit) - 1);
        field_quote = false;
        if ((newlines[b] >> bit) & 1) {
          finish_row(at, at + 1, has_quote);
          if (stop) break;
          if (row.begin >= nominal_end) {
            stop = true;
            break;
          }
        } else {
          if (nfields < capacity) fields[nfields] = {field_begin, at, has_quote};
          ++nfields;
          field_begin = at + 1;
        }
      }
      field_quote = field_quote || pending_quotes != 0;
    }
    pos += blocks * 64;
  }
  if (stop) return row.begin;
  // The text ended: a last row without a newline, or one inside quotes.
  if (row.begin < size) {
    if (inside_carry) {
      row.end = size;
      row.num_fields = 0;
      row.unterminated = true;
      on_row(row);
    } else {
      finish_row(size, size, field_quote);
    }
  }
  return size;
}

struct BadRow {
  int64_t line;  // newlines before the row, from the chunk's start
  std::string reason;
  std::vector<std::optional<std::string>> fields;
};

// The values of one column of a chunk as they are appended.
struct ChunkColumn {
  explicit ChunkColumn(DataType t) : type(t) {}

  DataType type;
  int64_t rows = 0;
  bool any_null = false;
  Buffer values;
  Buffer validity;
  Buffer chars;

  void Reserve(int64_t n) {
    values.Reserve(static_cast<size_t>(n + 1) * 8);
    validity.Reserve(static_cast<size_t>(BitmapWords(n) + 1) * 8);
  }

  void MarkValidity(bool valid) {
    if ((rows & 63) == 0) {
      uint64_t zero = 0;
      validity.Append(&zero, 8);
    }
    if (valid) {
      validity.as<uint64_t>()[rows >> 6] |= uint64_t{1} << (rows & 63);
    } else {
      any_null = true;
    }
    ++rows;
  }

  template <class T>
  void AppendValue(T v) {
    values.Append(&v, sizeof v);
  }

  void AppendNull() {
    MarkValidity(false);
    if (type == DataType::kString) {
      AppendValue<uint32_t>(static_cast<uint32_t>(chars.size()));
    } else if (type == DataType::kBool) {
      AppendValue<uint8_t>(0);
    } else {
      AppendValue<int64_t>(0);
    }
  }

  // Undoes the last append (a later field of the row was bad).
  void PopLast() {
    --rows;
    if (type == DataType::kString) {
      values.Resize(values.size() - 4);
      chars.Resize(values.as<uint32_t>()[rows]);
    } else {
      values.Resize(values.size() - (type == DataType::kBool ? 1 : 8));
    }
    if ((rows & 63) == 0) {
      validity.Resize(validity.size() - 8);
    } else {
      validity.as<uint64_t>()[rows >> 6] &= ~(uint64_t{1} << (rows & 63));
    }
  }
};

struct Dialect {
  char quote;
  char delim;
  bool strict_quotes;
  std::vector<std::string> null_values;
  int64_t max_row_bytes;
};

struct ChunkResult {
  size_t begin = 0;
  size_t end = 0;
  int64_t lines = 0;  // newlines in [begin, end)
  int64_t rows_seen = 0;
  std::vector<ChunkColumn> columns;
  std::vector<BadRow> bad_rows;
  std::vector<DataType> widened;  // inferred columns that need a wider type
  bool needs_widening = false;
};

class ChunkParser {
 public:
  ChunkParser(const Source& source, const Dialect& dialect, const std::vector<DataType>& types,
              const std::vector<bool>& declared, const std::vector<std::string>& names, bool quarantine)
      : src_(source), dialect_(dialect), types_(types), declared_(declared), names_(names),
        quarantine_(quarantine) {}

  ChunkResult Parse(size_t begin, size_t nominal_end) {
    ChunkResult r;
    r.begin = begin;
    counted_pos_ = begin;
    counted_lines_ = 0;
    null_lengths_ = 0;
    for (const std::string& n : dialect_.null_values) null_lengths_ |= n.size() < 64 ? uint64_t{1} << n.size() : ~uint64_t{0};
    r.widened = types_;
    const int ncols = static_cast<int>(types_.size());
    int64_t estimate = static_cast<int64_t>((nominal_end - std::min(begin, nominal_end)) / 48 + 16);
    for (DataType t : types_) {
      r.columns.emplace_back(t);
      r.columns.back().Reserve(estimate);
      if (t == DataType::kString) {
        uint32_t zero = 0;
        r.columns.back().values.Append(&zero, 4);
        // Address space only: pages are touched as bytes arrive, and no
        // regrowth copies the bytes of a chunk around.
        r.columns.back().chars.Reserve((nominal_end - std::min(begin, nominal_end)) / 2 + 64);
      }
    }
    if (begin >= src_.size() || begin >= nominal_end) {
      r.end = begin;
      return r;
    }
    ascii_ = IsAscii(src_.data() + begin, std::min(src_.size(), nominal_end) - begin);
    ascii_end_ = std::min(src_.size(), nominal_end);
    unescaped_.resize(ncols);
    r.end = ScanRows(src_.data(), src_.size(), begin, nominal_end, dialect_.quote, dialect_.delim, ncols,
                     [&](const RawRow& row) {
                       ++r.rows_seen;
                       HandleRow(row, r);
                       return quarantine_ || r.bad_rows.empty();
                     });
    r.lines = static_cast<int64_t>(CountByte(src_.data() + r.begin, r.end - r.begin, '\n'));
    return r;
  }

 private:
  // Newlines between the chunk's start and `pos` (positions only grow, so
  // counting resumes where it stopped).
  int64_t LinesBefore(size_t pos) {
    counted_lines_ += static_cast<int64_t>(CountByte(src_.data() + counted_pos_, pos - counted_pos_, '\n'));
    counted_pos_ = pos;
    return counted_lines_;
  }

  std::string_view Text(size_t b, size_t e) const {
    return {reinterpret_cast<const char*>(src_.data()) + b, e - b};
  }

  void AddBad(const RawRow& row, ChunkResult& r, std::string reason, bool keep_fields) {
    BadRow bad{LinesBefore(row.begin), std::move(reason), {}};
    if (quarantine_ && keep_fields) {
      int n = std::min<int>(row.num_fields, static_cast<int>(types_.size()));
      for (int c = 0; c < n; ++c) {
        FieldRange f = row.fields[c];
        bad.fields.emplace_back(ValidUtf8(Text(f.begin, f.end)));
      }
    }
    r.bad_rows.push_back(std::move(bad));
  }

  // Unquotes field `f` of a row into `out`; false with `why` when malformed.
  bool FieldText(FieldRange f, bool last, std::string_view* out, bool* quoted, std::string* scratch,
                 std::string* why) {
    size_t b = f.begin, e = f.end;
    const uint8_t* d = src_.data();
    if (last && e > b && d[e - 1] == '\r') --e;
    if (!f.has_quote) {
      *quoted = false;
      *out = Text(b, e);
      return true;
    }
    const char q = dialect_.quote;
    *quoted = e > b && d[b] == static_cast<uint8_t>(q);
    if (!*quoted) {
      std::string_view t = Text(b, e);
      if (dialect_.strict_quotes && t.find(q) != std::string_view::npos) {
        *why = "quote inside an unquoted field";
        return false;
      }
      *out = t;
      return true;
    }
    if (e - b < 2 || d[e - 1] != static_cast<uint8_t>(q)) {
      *why = "characters after a closing quote";
      return false;
    }
    std::string_view inner = Text(b + 1, e - 1);
    size_t qpos = inner.find(q);
    if (qpos == std::string_view::npos) {
      *out = inner;
      return true;
    }
    scratch->clear();
    size_t from = 0;
    while (qpos != std::string_view::npos) {
      if (qpos + 1 >= inner.size() || inner[qpos + 1] != q) {
        *why = "characters after a closing quote";
        return false;
      }
      scratch->append(inner, from, qpos + 1 - from);
      from = qpos + 2;
      qpos = inner.find(q, from);
    }
    scratch->append(inner, from, std::string_view::npos);
    *out = *scratch;
    return true;
  }

  bool IsNullText(std::string_view t) const {
    if (t.size() < 64 && !((null_lengths_ >> t.size()) & 1)) return false;
    for (const std::string& n : dialect_.null_values) {
      if (t == n) return true;
    }
    return false;
  }

  void HandleRow(const RawRow& row, ChunkResult& r) {
    const int ncols = static_cast<int>(types_.size());
    if (row.unterminated) {
      AddBad(row, r, "unterminated quoted field", false);
      return;
    }
    if (static_cast<int64_t>(row.end - row.begin) > dialect_.max_row_bytes) {
      AddBad(row, r, "row longer than " + std::to_string(dialect_.max_row_bytes) + " bytes", false);
      return;
    }
    if (row.num_fields != ncols) {
      AddBad(row, r, "expected " + std::to_string(ncols) + " fields, found " + std::to_string(row.num_fields),
             true);
      return;
    }
    if (r.needs_widening) {
      Infer(row, r);
      return;
    }
    bool utf8_checked = ascii_ && row.end <= ascii_end_;
    // Each field goes straight into its column; a bad field takes the row's
    // earlier values back out.
    for (int c = 0; c < ncols; ++c) {
      std::string_view text;
      bool quoted = false;
      const FieldRange& f = row.fields[c];
      ChunkColumn& col = r.columns[c];
      if (!f.has_quote) {
        // The common case, inline: no quote anywhere in the field.
        size_t e = f.end;
        if (c == ncols - 1 && e > f.begin && src_.data()[e - 1] == '\r') --e;
        text = Text(f.begin, e);
      } else if (!FieldText(f, c == ncols - 1, &text, &quoted, &unescaped_[c], &why_)) {
        Rollback(r, c);
        AddBad(row, r, "column " + names_[c] + ": " + why_, true);
        return;
      }
      if (!quoted && IsNullText(text)) {
        col.AppendNull();
        continue;
      }
      bool ok = true;
      switch (col.type) {
        case DataType::kInt64:
        case DataType::kTimestamp: {
          int64_t v;
          ok = col.type == DataType::kInt64 ? ParseInt64(text, &v) && (!HasLeadingZero(text) || declared_[c])
                                            : ParseTimestamp(text, &v);
          if (ok) {
            col.MarkValidity(true);
            col.AppendValue<int64_t>(v);
          }
          break;
        }
        case DataType::kFloat64: {
          double v;
          ok = ParseFloat64(text, &v) && (!HasLeadingZero(text) || declared_[c]);
          if (ok) {
            col.MarkValidity(true);
            col.AppendValue<double>(v);
          }
          break;
        }
        case DataType::kBool: {
          bool v;
          ok = ParseBool(text, &v);
          if (ok) {
            col.MarkValidity(true);
            col.AppendValue<uint8_t>(v ? 1 : 0);
          }
          break;
        }
        case DataType::kString:
          if (!utf8_checked && !simdjson::validate_utf8(text.data(), text.size())) {
            Rollback(r, c);
            AddBad(row, r, "column " + names_[c] + ": invalid UTF-8", true);
            return;
          }
          col.MarkValidity(true);
          AppendChars(col.chars, text);
          col.AppendValue<uint32_t>(static_cast<uint32_t>(col.chars.size()));
          break;
      }
      if (!ok) {
        Rollback(r, c);
        if (declared_[c]) {
          const std::string shown = ValidUtf8(Utf8Prefix(text, 40));
          AddBad(row, r,
                 "column " + names_[c] + ": '" + shown + "' is not of type " + std::string(TypeName(types_[c])),
                 true);
          return;
        }
        // An inferred type was too narrow: from here on only learn the types.
        r.needs_widening = true;
        Infer(row, r);
        return;
      }
    }
  }

  // Short strings from the file are copied as one 16-byte move (the buffer
  // has padding past its capacity; the file must have 16 bytes left).
  void AppendChars(Buffer& chars, std::string_view text) const {
    const size_t old = chars.size();
    chars.Resize(old + text.size());
    const auto* from = reinterpret_cast<const uint8_t*>(text.data());
    if (text.size() <= 16 && from >= src_.data() && from + 16 <= src_.data() + src_.size()) {
      std::memcpy(chars.data() + old, from, 16);
    } else if (!text.empty()) {
      std::memcpy(chars.data() + old, from, text.size());
    }
  }

  // Takes back the values of columns [0, upto) of the current row.
  static void Rollback(ChunkResult& r, int upto) {
    for (int c = 0; c < upto; ++c) r.columns[c].PopLast();
  }

  // Widening mode: records the type each inferred column needs.
  void Infer(const RawRow& row, ChunkResult& r) {
    const int ncols = static_cast<int>(types_.size());
    for (int c = 0; c < ncols; ++c) {
      if (declared_[c] || r.widened[c] == DataType::kString) continue;
      std::string_view text;
      bool quoted;
      std::string why;
      if (!FieldText(row.fields[c], c == ncols - 1, &text, &quoted, &unescaped_[c], &why)) continue;
      if (!quoted && IsNullText(text)) continue;
      r.widened[c] = WidenType(r.widened[c], InferType(text));
    }
  }

  const Source& src_;
  const Dialect& dialect_;
  const std::vector<DataType>& types_;
  const std::vector<bool>& declared_;
  const std::vector<std::string>& names_;
  bool quarantine_;
  bool ascii_ = false;
  size_t ascii_end_ = 0;
  std::vector<std::string> unescaped_;  // per column: a quoted field's text with quotes undoubled
  uint64_t null_lengths_ = 0;           // bit k: some null value has length k (< 64)
  std::string why_;                     // why FieldText refused a field
  size_t counted_pos_ = 0;
  int64_t counted_lines_ = 0;
};

ColumnPtr FinishColumn(ChunkColumn& col) {
  Buffer validity;
  if (col.any_null) {
    validity = std::move(col.validity);
    validity.Resize(static_cast<size_t>(BitmapWords(col.rows)) * 8);
  }
  return std::make_shared<Column>(col.type, col.rows, std::move(col.values), std::move(validity),
                                  std::move(col.chars));
}

struct FileLayout {
  std::vector<std::string> names;
  size_t data_begin = 0;  // offset of the first data row
  int64_t data_line = 1;  // its 1-based line number
};

// Reads the header row (or counts the columns of the first row).
FileLayout ReadLayout(const Source& src, const CsvOptions& options) {
  FileLayout layout;
  size_t begin = 0;
  if (src.size() >= 3 && std::memcmp(src.data(), "\xEF\xBB\xBF", 3) == 0) begin = 3;
  std::vector<std::string> fields;
  bool found = false;
  int64_t line = 0;
  size_t end = ScanRows(src.data(), src.size(), begin, begin + 1, options.quote, options.delimiter, 1 << 16,
                        [&](const RawRow& row) {
                          if (row.unterminated) {
                            throw FormatError(src.name() + ":" + std::to_string(1 + CountByte(src.data(), row.begin, '\n')) +
                                              ": unterminated quoted field in the first row");
                          }
                          if (row.num_fields > (1 << 16)) {
                            throw FormatError(src.name() + ": more than 65536 columns");
                          }
                          for (int i = 0; i < row.num_fields; ++i) {
                            FieldRange f = row.fields[i];
                            std::string t(reinterpret_cast<const char*>(src.data()) + f.begin, f.end - f.begin);
                            if (i == row.num_fields - 1 && !t.empty() && t.back() == '\r') t.pop_back();
                            // A CR outside quotes that ends no line: the lines end in CR
                            // alone (classic Mac OS, some Excel exports), which would read
                            // as one row of odd names and no data.
                            if ((t.empty() || t.front() != options.quote) && t.find('\r') != std::string::npos) {
                              throw FormatError(src.name() + ":" + std::to_string(1 + CountByte(src.data(), row.begin, '\n')) +
                                                ": the first row holds a carriage return (\\r) that ends no line: "
                                                "lines ending in CR alone are not read; convert them to LF "
                                                "(tr '\\r' '\\n') or CRLF");
                            }
                            if (t.size() >= 2 && t.front() == options.quote && t.back() == options.quote) {
                              std::string u;
                              for (size_t k = 1; k + 1 < t.size(); ++k) {
                                u += t[k];
                                if (t[k] == options.quote && k + 2 < t.size() && t[k + 1] == options.quote) ++k;
                              }
                              t = u;
                            }
                            fields.push_back(std::move(t));
                          }
                          line = static_cast<int64_t>(CountByte(src.data(), row.begin, '\n'));
                          found = true;
                          return false;
                        });
  if (!found) throw FormatError(src.name() + ": the file is empty (no header and no rows)");
  if (options.header) {
    for (size_t i = 0; i < fields.size(); ++i) {
      std::string name = fields[i].empty() ? "column" + std::to_string(i) : fields[i];
      if (!simdjson::validate_utf8(name.data(), name.size())) {
        throw FormatError(src.name() + ":" + std::to_string(line + 1) + ": column " + std::to_string(i + 1) +
                          " of the header is not valid UTF-8");
      }
      // Repeated names get a suffix, as DuckDB does: a, a_1, a_2.
      std::string unique = name;
      for (int k = 1; std::find(layout.names.begin(), layout.names.end(), unique) != layout.names.end(); ++k) {
        unique = name + "_" + std::to_string(k);
      }
      layout.names.push_back(unique);
    }
    layout.data_begin = end;
    layout.data_line = 1 + static_cast<int64_t>(CountByte(src.data(), end, '\n'));
  } else {
    for (size_t i = 0; i < fields.size(); ++i) layout.names.push_back("column" + std::to_string(i));
    layout.data_begin = begin;
    layout.data_line = 1;
  }
  return layout;
}

struct ChunkPlan {
  int file = 0;
  size_t nominal_begin = 0;
  size_t nominal_end = 0;
  ChunkResult result;
};

// The first row start at or after `nominal_begin` if no quoted field spans
// it: just past the first newline from nominal_begin - 1. Searches only the
// chunk's own range (a chunk without a newline starts no row), so a huge
// field costs one scan, not one per chunk.
size_t SpeculativeStart(const Source& src, size_t nominal_begin, size_t nominal_end, size_t data_begin) {
  if (nominal_begin <= data_begin) return data_begin;
  const void* nl = std::memchr(src.data() + nominal_begin - 1, '\n', nominal_end - (nominal_begin - 1));
  return nl ? static_cast<size_t>(static_cast<const uint8_t*>(nl) - src.data()) + 1 : nominal_end;
}

class CsvReader {
 public:
  CsvReader(std::vector<Source> sources, const CsvOptions& options)
      : sources_(std::move(sources)), options_(options) {
    dialect_ = {options.quote, options.delimiter, options.strict_quotes, options.null_values, options.max_row_bytes};
    threads_ = options.threads > 0 ? options.threads : DefaultThreads();
    if (options.delimiter == options.quote || options.delimiter == '\n' || options.quote == '\n') {
      throw FormatError("the CSV delimiter, quote and newline must differ");
    }
  }

  CsvReadResult Read() {
    if (sources_.empty()) throw FormatError("no input files");
    for (const Source& s : sources_) layouts_.push_back(ReadLayout(s, options_));
    const std::vector<std::string>& names = layouts_[0].names;
    for (size_t f = 1; f < sources_.size(); ++f) {
      if (layouts_[f].names != names) {
        throw FormatError(sources_[f].name() + ": its columns differ from those of " + sources_[0].name());
      }
    }
    for (const auto& [name, type] : options_.types) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        throw FormatError(sources_[0].name() + ": column " + name + " declared in the schema is not in the file");
      }
    }
    InferTypes();
    PlanChunks();
    for (int round = 0;; ++round) {
      ParseAll();
      if (!Widen() || round == 4) break;
    }
    return Assemble();
  }

 private:
  void InferTypes() {
    const std::vector<std::string>& names = layouts_[0].names;
    types_.assign(names.size(), DataType::kString);
    declared_.assign(names.size(), false);
    std::vector<std::optional<DataType>> seen(names.size());
    for (size_t c = 0; c < names.size(); ++c) {
      auto it = options_.types.find(names[c]);
      if (it != options_.types.end()) {
        types_[c] = it->second;
        declared_[c] = true;
      }
    }
    int64_t rows = 0;
    std::vector<std::optional<DataType>> row_types;
    // The first rows of the files in order: a file with no rows (a day that
    // delivered nothing) says nothing, and the next one is looked at.
    for (size_t file = 0; file < sources_.size() && rows < kSampleRows; ++file) {
      const Source& src = sources_[file];
      ScanRows(src.data(), src.size(), layouts_[file].data_begin, src.size(), options_.quote, options_.delimiter,
               static_cast<int>(names.size()), [&](const RawRow& row) {
                 if (row.unterminated || row.num_fields != static_cast<int>(names.size())) return ++rows < kSampleRows;
                 // A malformed row (a bad row when read) tells nothing of the types.
                 row_types.assign(names.size(), std::nullopt);
                 for (size_t c = 0; c < names.size(); ++c) {
                   if (declared_[c]) continue;
                   FieldRange f = row.fields[c];
                   std::string_view t(reinterpret_cast<const char*>(src.data()) + f.begin, f.end - f.begin);
                   if (c + 1 == names.size() && !t.empty() && t.back() == '\r') t.remove_suffix(1);
                   const char q = options_.quote;
                   bool quoted = !t.empty() && t.front() == q;
                   if (quoted) {
                     if (t.size() < 2 || t.back() != q) return ++rows < kSampleRows;  // text after its closing quote
                     t = t.substr(1, t.size() - 2);
                     // Inner quotes must come in pairs (an escaped quote); they
                     // make the field a string, which InferType says of them.
                     for (size_t at = t.find(q); at != std::string_view::npos; at = t.find(q, at + 2)) {
                       if (at + 1 >= t.size() || t[at + 1] != q) return ++rows < kSampleRows;
                     }
                   } else if (options_.strict_quotes && t.find(q) != std::string_view::npos) {
                     return ++rows < kSampleRows;
                   } else if (std::find(options_.null_values.begin(), options_.null_values.end(), t) !=
                              options_.null_values.end()) {
                     continue;
                   }
                   row_types[c] = InferType(t);
                 }
                 for (size_t c = 0; c < names.size(); ++c) {
                   if (row_types[c]) seen[c] = seen[c] ? WidenType(*seen[c], *row_types[c]) : *row_types[c];
                 }
                 return ++rows < kSampleRows;
               });
    }
    for (size_t c = 0; c < names.size(); ++c) {
      if (!declared_[c]) types_[c] = seen[c].value_or(DataType::kString);
    }
  }

  void PlanChunks() {
    const int64_t chunk = std::max<int64_t>(options_.chunk_bytes, 64);
    for (size_t f = 0; f < sources_.size(); ++f) {
      size_t begin = layouts_[f].data_begin, size = sources_[f].size();
      if (begin >= size) continue;
      for (size_t b = begin; b < size; b += static_cast<size_t>(chunk)) {
        chunks_.push_back(ChunkPlan{static_cast<int>(f), b, std::min(size, b + static_cast<size_t>(chunk)), {}});
      }
    }
  }

  ChunkResult ParseChunk(const ChunkPlan& plan, size_t begin) {
    ChunkParser parser(sources_[plan.file], dialect_, types_, declared_, layouts_[0].names,
                       options_.quarantine_bad_rows);
    return parser.Parse(begin, plan.nominal_end);
  }

  void ParseAll() {
    ParallelFor(chunks_.size(), threads_, [&](size_t i) {
      ChunkPlan& plan = chunks_[i];
      const Source& src = sources_[plan.file];
      plan.result = ParseChunk(plan, SpeculativeStart(src, plan.nominal_begin, plan.nominal_end, layouts_[plan.file].data_begin));
      src.Release(plan.nominal_begin, plan.nominal_end);
      Spill(plan.result);
    });
    // Check each speculative start against where the previous chunk stopped.
    // Without quarantine, stop at the first chunk with a bad row: Assemble
    // reports it.
    for (size_t i = 0; i < chunks_.size(); ++i) {
      ChunkPlan& cur = chunks_[i];
      if (i > 0 && chunks_[i - 1].file == cur.file && cur.result.begin != chunks_[i - 1].result.end) {
        cur.result = ParseChunk(cur, chunks_[i - 1].result.end);
        Spill(cur.result);
      }
      if (!options_.quarantine_bad_rows && !cur.result.bad_rows.empty()) {
        chunks_.resize(i + 1);
        break;
      }
    }
  }

  // Moves a parsed chunk's columns to the spill file, if there is one.
  void Spill(ChunkResult& r) const {
    if (!options_.spill) return;
    for (ChunkColumn& col : r.columns) {
      col.values = options_.spill->Move(col.values);
      col.validity = options_.spill->Move(col.validity);
      col.chars = options_.spill->Move(col.chars);
    }
  }

  // Merges the wider types the chunks asked for; true when any changed.
  bool Widen() {
    bool changed = false;
    for (const ChunkPlan& plan : chunks_) {
      if (!plan.result.needs_widening) continue;
      for (size_t c = 0; c < types_.size(); ++c) {
        DataType wider = WidenType(types_[c], plan.result.widened[c]);
        if (wider != types_[c]) {
          types_[c] = wider;
          changed = true;
        }
      }
    }
    return changed;
  }

  CsvReadResult Assemble() {
    const std::vector<std::string>& names = layouts_[0].names;
    Schema schema;
    for (size_t c = 0; c < names.size(); ++c) schema.Add({names[c], types_[c]});
    auto table = std::make_shared<Table>(schema);

    Schema qschema;
    for (const std::string& n : names) qschema.Add({n, DataType::kString});
    qschema.Add({"_source_file", DataType::kString});
    qschema.Add({"_source_line", DataType::kInt64});
    qschema.Add({"_reason", DataType::kString});
    auto quarantine = std::make_shared<Table>(qschema);
    std::vector<ColumnBuilder> qcols;
    for (const Field& f : qschema.fields()) qcols.emplace_back(f.type);

    CsvReadResult out;
    int64_t line = 0;
    int file = -1;
    for (ChunkPlan& plan : chunks_) {
      if (plan.file != file) {
        file = plan.file;
        line = layouts_[file].data_line;
      }
      ChunkResult& r = plan.result;
      if (r.needs_widening && r.bad_rows.empty()) {
        throw FormatError(sources_[file].name() + ": column types did not settle after widening");
      }
      // A chunk skipped by the fix-up (its rows belong to the previous one).
      if (r.end <= r.begin && r.rows_seen == 0) continue;
      for (BadRow& bad : r.bad_rows) {
        int64_t at = line + bad.line;
        if (!options_.quarantine_bad_rows) {
          throw FormatError(sources_[file].name() + ":" + std::to_string(at) + ": " + bad.reason);
        }
        for (size_t c = 0; c < names.size(); ++c) {
          if (c < bad.fields.size() && bad.fields[c]) {
            qcols[c].AppendString(*bad.fields[c]);
          } else {
            qcols[c].AppendNull();
          }
        }
        qcols[names.size()].AppendString(sources_[file].name());
        qcols[names.size() + 1].AppendInt(at);
        qcols[names.size() + 2].AppendString(bad.reason);
      }
      out.rows_read += r.rows_seen;
      line += r.lines;
      Batch batch;
      batch.num_rows = r.columns.empty() ? 0 : r.columns[0].rows;
      if (batch.num_rows == 0) continue;
      for (ChunkColumn& col : r.columns) batch.columns.push_back(FinishColumn(col));
      table->AddBatch(std::move(batch));
    }
    int64_t bad = qcols[0].length();
    if (bad > 0) {
      Batch qb;
      qb.num_rows = bad;
      for (ColumnBuilder& b : qcols) qb.columns.push_back(b.Finish());
      quarantine->AddBatch(std::move(qb));
    }
    out.table = table;
    out.quarantine = quarantine;
    return out;
  }

  std::vector<Source> sources_;
  const CsvOptions& options_;
  Dialect dialect_;
  int threads_;
  std::vector<FileLayout> layouts_;
  std::vector<DataType> types_;
  std::vector<bool> declared_;
  std::vector<ChunkPlan> chunks_;
};

}  // namespace

CsvReadResult ReadCsvFiles(const std::vector<std::string>& paths, const CsvOptions& options) {
  std::vector<Source> sources;
  for (const std::string& p : paths) sources.push_back(Source::Map(p));
  return CsvReader(std::move(sources), options).Read();
}

CsvReadResult ReadCsvText(std::string_view text, const std::string& name, const CsvOptions& options) {
  std::vector<Source> sources;
  sources.push_back(Source::Borrow(text, name));
  return CsvReader(std::move(sources), options).Read();
}

}  // namespace pipeline::columnar
