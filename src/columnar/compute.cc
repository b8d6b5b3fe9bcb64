#include "columnar/compute.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "columnar/value_parse.h"
#include "kernels/kernels.h"

namespace pipeline::columnar {
namespace {

size_t Width(DataType type) { return type == DataType::kBool ? 1 : 8; }

}  // namespace

ColumnPtr Filter(const Column& column, const uint64_t* selection) {
  const int64_t n = column.length();
  const int64_t m = kernels::CountSet(selection, n);
  Buffer validity;
  if (column.has_nulls()) {
    validity.Resize(static_cast<size_t>(BitmapWords(m)) * 8 + 8);
    kernels::CompactBitmap(column.validity(), selection, n, validity.as<uint64_t>());
    validity.Resize(static_cast<size_t>(BitmapWords(m)) * 8);
  }
  switch (column.type()) {
    case DataType::kInt64:
    case DataType::kTimestamp: {
      Buffer values = Buffer::Uninitialized(static_cast<size_t>(m) * 8);
      kernels::Compact(column.ints(), selection, n, values.as<int64_t>());
      return std::make_shared<Column>(column.type(), m, std::move(values), std::move(validity));
    }
    case DataType::kFloat64: {
      Buffer values = Buffer::Uninitialized(static_cast<size_t>(m) * 8);
      kernels::Compact(column.doubles(), selection, n, values.as<double>());
      return std::make_shared<Column>(column.type(), m, std::move(values), std::move(validity));
    }
    case DataType::kBool: {
      Buffer values = Buffer::Uninitialized(static_cast<size_t>(m));
      kernels::Compact(column.bools(), selection, n, values.as<uint8_t>());
      return std::make_shared<Column>(column.type(), m, std::move(values), std::move(validity));
    }
    case DataType::kString: {
      Buffer offsets = Buffer::Uninitialized(static_cast<size_t>(m + 1) * 4);
      Buffer chars;
      chars.Resize(static_cast<size_t>(column.chars_size()));
      kernels::CompactStrings(column.offsets(), column.chars(), selection, n, offsets.as<uint32_t>(),
                              reinterpret_cast<char*>(chars.data()));
      chars.Resize(offsets.as<uint32_t>()[m]);
      return std::make_shared<Column>(column.type(), m, std::move(offsets), std::move(validity), std::move(chars));
    }
  }
  return nullptr;
}

Batch FilterBatch(const Batch& batch, const uint64_t* selection, int64_t selected) {
  Batch out;
  out.num_rows = selected;
  for (const ColumnPtr& c : batch.columns) {
    out.columns.push_back(selected == batch.num_rows ? c : Filter(*c, selection));
  }
  return out;
}

ColumnPtr Take(const Column& column, const std::vector<int64_t>& indices) {
  const int64_t m = static_cast<int64_t>(indices.size());
  Buffer validity;
  if (column.has_nulls()) {
    validity.ResizeZeroed(static_cast<size_t>(BitmapWords(m)) * 8);
    uint64_t* v = validity.as<uint64_t>();
    for (int64_t i = 0; i < m; ++i) {
      if (column.IsValid(indices[i])) SetBit(v, i);
    }
  }
  if (column.type() == DataType::kString) {
    Buffer offsets(static_cast<size_t>(m + 1) * 4);
    uint32_t* o = offsets.as<uint32_t>();
    Buffer chars;
    for (int64_t i = 0; i < m; ++i) {
      std::string_view s = column.StringAt(indices[i]);
      chars.Append(s.data(), s.size());
      if (chars.size() > UINT32_MAX) throw FormatError("a string column would hold more than 4 GiB of text");
      o[i + 1] = static_cast<uint32_t>(chars.size());
    }
    return std::make_shared<Column>(column.type(), m, std::move(offsets), std::move(validity), std::move(chars));
  }
  const size_t w = Width(column.type());
  Buffer values = Buffer::Uninitialized(static_cast<size_t>(m) * w);
  const uint8_t* src = column.values_buffer().data();
  uint8_t* dst = values.data();
  if (w == 8) {
    for (int64_t i = 0; i < m; ++i) std::memcpy(dst + i * 8, src + indices[i] * 8, 8);
  } else {
    for (int64_t i = 0; i < m; ++i) dst[i] = src[indices[i]];
  }
  return std::make_shared<Column>(column.type(), m, std::move(values), std::move(validity));
}

ColumnPtr ConcatColumns(DataType type, const std::vector<ColumnPtr>& parts, const std::string& name) {
  if (parts.size() == 1) return parts[0];
  int64_t n = 0;
  bool nulls = false;
  int64_t char_bytes = 0;
  for (const ColumnPtr& c : parts) {
    n += c->length();
    nulls |= c->has_nulls();
    char_bytes += c->chars_size();
  }
  if (type == DataType::kString && char_bytes > UINT32_MAX) {
    throw FormatError("column " + name + " holds more than 4 GiB of text");
  }
  Buffer validity;
  if (nulls) validity.ResizeZeroed(static_cast<size_t>(BitmapWords(n)) * 8);
  Buffer values = Buffer::Uninitialized(type == DataType::kString ? static_cast<size_t>(n + 1) * 4
                                                                  : static_cast<size_t>(n) * Width(type));
  Buffer chars;
  if (type == DataType::kString) {
    chars.Reserve(static_cast<size_t>(char_bytes));
    values.as<uint32_t>()[0] = 0;
  }
  int64_t at = 0;
  for (const ColumnPtr& part : parts) {
    const Column& c = *part;
    if (nulls) {
      uint64_t* v = validity.as<uint64_t>();
      for (int64_t row = 0; row < c.length(); ++row) {
        if (c.IsValid(row)) SetBit(v, at + row);
      }
    }
    if (type == DataType::kString) {
      uint32_t base = static_cast<uint32_t>(chars.size());
      uint32_t* o = values.as<uint32_t>();
      for (int64_t row = 0; row < c.length(); ++row) o[at + row + 1] = base + c.offsets()[row + 1];
      chars.Append(c.chars(), static_cast<size_t>(c.chars_size()));
    } else {
      size_t w = Width(type);
      std::memcpy(values.data() + at * w, c.values_buffer().data(), static_cast<size_t>(c.length()) * w);
    }
    at += c.length();
  }
  return std::make_shared<Column>(type, n, std::move(values), std::move(validity), std::move(chars));
}

ColumnPtr ConcatColumn(const Table& table, int index) {
  std::vector<ColumnPtr> parts;
  for (const Batch& b : table.batches()) parts.push_back(b.columns[index]);
  const Field& f = table.schema().field(index);
  return ConcatColumns(f.type, parts, f.name);
}

ColumnPtr Slice(const Column& column, int64_t offset, int64_t length) {
  if (offset == 0 && length == column.length()) {
    return std::make_shared<Column>(column.type(), length, column.values_buffer().Clone(),
                                    column.validity_buffer().Clone(), column.chars_buffer().Clone());
  }
  Buffer validity;
  if (column.has_nulls()) {
    validity.ResizeZeroed(static_cast<size_t>(BitmapWords(length)) * 8);
    uint64_t* v = validity.as<uint64_t>();
    for (int64_t row = 0; row < length; ++row) {
      if (column.IsValid(offset + row)) SetBit(v, row);
    }
  }
  if (column.type() == DataType::kString) {
    const uint32_t* in = column.offsets() + offset;
    Buffer offsets = Buffer::Uninitialized(static_cast<size_t>(length + 1) * 4);
    uint32_t* o = offsets.as<uint32_t>();
    for (int64_t row = 0; row <= length; ++row) o[row] = in[row] - in[0];
    Buffer chars;
    chars.Append(column.chars() + in[0], in[length] - in[0]);
    return std::make_shared<Column>(column.type(), length, std::move(offsets), std::move(validity), std::move(chars));
  }
  const size_t w = Width(column.type());
  Buffer values = Buffer::Uninitialized(static_cast<size_t>(length) * w);
  std::memcpy(values.data(), column.values_buffer().data() + offset * w, static_cast<size_t>(length) * w);
  return std::make_shared<Column>(column.type(), length, std::move(values), std::move(validity));
}

TablePtr Concatenate(const Table& table) {
  auto out = std::make_shared<Table>(table.schema());
  for (const auto& [k, v] : table.metadata()) out->SetMetadata(k, v);
  if (table.num_rows() == 0) return out;
  Batch b;
  b.num_rows = table.num_rows();
  for (int c = 0; c < table.num_columns(); ++c) b.columns.push_back(ConcatColumn(table, c));
  out->AddBatch(std::move(b));
  return out;
}

std::string ValueText(const Column& c, int64_t row) {
  if (c.IsNull(row)) return "";
  char buf[64];
  switch (c.type()) {
    case DataType::kInt64: {
      auto r = std::to_chars(buf, buf + sizeof buf, c.ints()[row]);
      return std::string(buf, r.ptr);
    }
    case DataType::kFloat64: {
      if (std::isnan(c.doubles()[row])) return "nan";  // never "-nan"
      auto r = std::to_chars(buf, buf + sizeof buf, c.doubles()[row]);
      return std::string(buf, r.ptr);
    }
    case DataType::kBool: return c.bools()[row] ? "true" : "false";
    case DataType::kString: return std::string(c.StringAt(row));
    case DataType::kTimestamp: return FormatTimestamp(c.ints()[row]);
  }
  return "";
}

ColumnPtr Cast(const Column& c, DataType type, int64_t* failed_row, std::string* failed_text) {
  if (c.type() == type) return std::make_shared<Column>(c.type(), c.length(), c.values_buffer().Clone(),
                                                        c.validity_buffer().Clone(), c.chars_buffer().Clone());
  ColumnBuilder b(type);
  b.Reserve(c.length());
  for (int64_t row = 0; row < c.length(); ++row) {
    if (c.IsNull(row)) {
      b.AppendNull();
      continue;
    }
    bool ok = true;
    if (type == DataType::kString) {
      b.AppendString(ValueText(c, row));
      continue;
    }
    double d = 0;
    int64_t i = 0;
    bool is_float = false;
    switch (c.type()) {
      case DataType::kInt64:
      case DataType::kTimestamp: i = c.ints()[row]; break;
      case DataType::kBool: i = c.bools()[row]; break;
      case DataType::kFloat64: d = c.doubles()[row]; is_float = true; break;
      case DataType::kString: {
        std::string_view s = c.StringAt(row);
        switch (type) {
          case DataType::kInt64: ok = ParseInt64(s, &i); break;
          case DataType::kTimestamp: ok = ParseTimestamp(s, &i); break;
          case DataType::kFloat64: ok = ParseFloat64(s, &d); is_float = true; break;
          case DataType::kBool: {
            bool v;
            ok = ParseBool(s, &v);
            i = v;
            break;
          }
          case DataType::kString: break;
        }
        break;
      }
    }
    if (ok && is_float && type != DataType::kFloat64) {
      ok = std::isfinite(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18;
      i = ok ? static_cast<int64_t>(d) : 0;
    }
    if (!ok) {
      *failed_row = row;
      *failed_text = ValueText(c, row);
      return nullptr;
    }
    switch (type) {
      case DataType::kInt64:
      case DataType::kTimestamp: b.AppendInt(i); break;
      case DataType::kFloat64: b.AppendDouble(is_float ? d : static_cast<double>(i)); break;
      case DataType::kBool: b.AppendBool(is_float ? d != 0 : i != 0); break;
      case DataType::kString: break;
    }
  }
  return b.Finish();
}

ColumnPtr FillNulls(const Column& c, const Column& fill_value) {
  if (!c.has_nulls()) return nullptr;
  const int64_t n = c.length();
  if (c.type() == DataType::kString) {
    std::string_view v = fill_value.StringAt(0);
    ColumnBuilder b(DataType::kString);
    b.Reserve(n);
    for (int64_t r = 0; r < n; ++r) b.AppendString(c.IsValid(r) ? c.StringAt(r) : v);
    return b.Finish();
  }
  Buffer values = c.values_buffer().Clone();
  const size_t w = c.type() == DataType::kBool ? 1 : 8;
  for (int64_t r = 0; r < n; ++r) {
    if (c.IsNull(r)) std::memcpy(values.data() + r * w, fill_value.values_buffer().data(), w);
  }
  return std::make_shared<Column>(c.type(), n, std::move(values), Buffer());
}

NumberBound NumberBoundOf(double value, std::string_view text) {
  int64_t i;
  return ParseInt64(text, &i) ? NumberBound(value, i) : NumberBound(value);
}

std::string NumberBoundText(const std::optional<NumberBound>& bound) {
  if (!bound) return "null";
  if (bound->integer) return std::to_string(*bound->integer);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", bound->value);
  return buf;
}

std::optional<std::pair<int64_t, int64_t>> IntRange(const std::optional<NumberBound>& min,
                                                    const std::optional<NumberBound>& max) {
  constexpr double kTwo63 = 9223372036854775808.0;  // 2^63, exact as a double
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  if (min && min->integer) {
    lo = *min->integer;
  } else if (min) {
    const double c = std::ceil(min->value);
    if (std::isnan(c) || c >= kTwo63) return std::nullopt;
    if (c > -kTwo63) lo = static_cast<int64_t>(c);
  }
  if (max && max->integer) {
    hi = *max->integer;
  } else if (max) {
    const double f = std::floor(max->value);
    if (std::isnan(f) || f < -kTwo63) return std::nullopt;
    if (f < kTwo63) hi = static_cast<int64_t>(f);
  }
  if (lo > hi) return std::nullopt;
  return std::pair{lo, hi};
}

ColumnPtr Clip(const Column& c, const std::optional<NumberBound>& lo, const std::optional<NumberBound>& hi) {
  const int64_t n = c.length();
  if (c.type() == DataType::kFloat64) {
    Buffer out(static_cast<size_t>(n) * 8);
    kernels::Clip(c.doubles(), c.validity(), n, lo ? lo->value : -INFINITY, hi ? hi->value : INFINITY, out.as<double>());
    return std::make_shared<Column>(c.type(), n, std::move(out), c.validity_buffer().Clone());
  }
  if (c.type() == DataType::kInt64) {
    auto range = IntRange(lo, hi);
    if (!range) {
      throw FormatError("no int64 lies within the bounds [" + NumberBoundText(lo) + ", " + NumberBoundText(hi) + "]");
    }
    const auto [l, h] = *range;
    Buffer out(static_cast<size_t>(n) * 8);
    for (int64_t r = 0; r < n; ++r) out.as<int64_t>()[r] = c.IsValid(r) ? std::clamp(c.ints()[r], l, h) : 0;
    return std::make_shared<Column>(c.type(), n, std::move(out), c.validity_buffer().Clone());
  }
  throw FormatError(std::string(TypeName(c.type())) + ", not a number");
}

}  // namespace pipeline::columnar
