#include "columnar/parquet_column_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "columnar/parquet_compression.h"
#include "columnar/parquet_encoding.h"
#include "columnar/parquet_values.h"

namespace pipeline::columnar::parquet {
namespace {

[[noreturn]] void Truncated() { throw FormatError("truncated page"); }
[[noreturn]] void Corrupt(const std::string& what) { throw FormatError("corrupt page (" + what + ")"); }

uint32_t LoadU32(const uint8_t* p) {
  uint32_t value;
  std::memcpy(&value, p, 4);
  return value;
}

// Spreads k dense W-byte values at base over n rows: row i of the page gets
// the next value when valid, zero when null. Works backwards, in place.
template <size_t W>
void ExpandFixed(uint8_t* base, int64_t n, int64_t k, const uint64_t* bitmap, int64_t bit0) {
  int64_t dense = k;
  for (int64_t row = n - 1; row >= 0 && dense != row + 1; --row) {
    if (BitIsSet(bitmap, bit0 + row)) std::memcpy(base + row * W, base + --dense * W, W);
    else std::memset(base + row * W, 0, W);
  }
}

// offsets[0] is the page's first offset and offsets[1..k] the dense ends;
// spreads them over rows 1..n (a null row ends where the previous row ends).
void ExpandOffsets(uint32_t* offsets, int64_t n, int64_t k, const uint64_t* bitmap, int64_t bit0) {
  int64_t dense = k;
  for (int64_t row = n - 1; row >= 0 && dense != row + 1; --row) {
    offsets[row + 1] = offsets[dense];
    if (BitIsSet(bitmap, bit0 + row)) --dense;
  }
}

class ChunkDecoder {
 public:
  ChunkDecoder(const ColumnPlan& plan, int64_t rows, DecodeScratch* scratch);
  ColumnPtr Run(const uint8_t* data, size_t size);

 private:
  void Page(const PageHeader& header, const uint8_t* body);
  void DictionaryPage(const PageHeader& header, const uint8_t* body);
  void DataPage(const PageHeader& header, const uint8_t* body);
  void DataPageV2(const PageHeader& header, const uint8_t* body);
  const uint8_t* Decompressed(const uint8_t* data, int64_t compressed, int64_t uncompressed);
  int64_t PageRows(int64_t num_values) const;
  void Values(Encoding encoding, const uint8_t* data, size_t size, int64_t n, int64_t k);
  void FixedValues(Encoding encoding, const uint8_t* data, size_t size, int64_t k);
  void BoolValues(Encoding encoding, const uint8_t* data, size_t size, int64_t k);
  void StringValues(Encoding encoding, const uint8_t* data, size_t size, int64_t k);
  void PlainStrings(const uint8_t* data, size_t size, int64_t k, uint32_t* ends);
  void DictionaryStrings(int64_t k, uint32_t* ends);
  void DeltaLengthStrings(const uint8_t* data, size_t size, int64_t k, uint32_t* ends);
  void DeltaStrings(const uint8_t* data, size_t size, int64_t k, uint32_t* ends);
  void AppendChars(const uint8_t* bytes, size_t n, uint32_t* end);
  uint32_t CharsEnd(uint64_t end) const;
  const uint32_t* Indices(const uint8_t* data, size_t size, int64_t k);
  int64_t PhysicalWidth() const;

  const ColumnPlan& plan_;
  const int64_t rows_;
  const size_t width_;  // bytes per row of values_ (strings: offsets)
  int64_t row_ = 0;     // rows decoded so far
  Buffer values_;
  Buffer validity_;
  Buffer chars_;
  int64_t dictionary_size_ = -1;  // -1 until a dictionary page arrives
  // Borrowed from the DecodeScratch:
  Buffer& dictionary_;  // values (width_ bytes each) or string offsets
  Buffer& dictionary_chars_;
  Buffer& page_;
  Buffer& scratch_;
  std::vector<uint32_t>& indices_;
  std::vector<uint64_t>& deltas_;
};

ChunkDecoder::ChunkDecoder(const ColumnPlan& plan, int64_t rows, DecodeScratch* scratch)
    : plan_(plan), rows_(rows), width_(plan.type == DataType::kBool ? 1 : plan.type == DataType::kString ? 4 : 8),
      dictionary_(scratch->dictionary), dictionary_chars_(scratch->dictionary_chars), page_(scratch->page),
      scratch_(scratch->values), indices_(scratch->indices), deltas_(scratch->deltas) {
  values_.Resize(static_cast<size_t>(rows + (plan.type == DataType::kString ? 1 : 0)) * width_);
  if (plan.type == DataType::kString) values_.as<uint32_t>()[0] = 0;
  if (plan.optional) validity_.ResizeZeroed(static_cast<size_t>(BitmapWords(rows)) * 8);
}

ColumnPtr ChunkDecoder::Run(const uint8_t* data, size_t size) {
  const uint8_t* pos = data;
  const uint8_t* end = data + size;
  while (pos < end && !(row_ == rows_ && rows_ > 0)) {
    PageHeader header;
    pos += ParsePageHeader(pos, static_cast<size_t>(end - pos), &header);
    if (header.compressed_page_size < 0 || header.compressed_page_size > end - pos) Truncated();
    Page(header, pos);
    pos += header.compressed_page_size;
  }
  if (row_ != rows_) {
    throw FormatError("column chunk holds " + std::to_string(row_) + " values, its row group " +
                      std::to_string(rows_) + " rows");
  }
  return std::make_shared<Column>(plan_.type, rows_, std::move(values_), std::move(validity_), std::move(chars_));
}

void ChunkDecoder::Page(const PageHeader& header, const uint8_t* body) {
  switch (header.type) {
    case PageType::kDictionaryPage: return DictionaryPage(header, body);
    case PageType::kDataPage: return DataPage(header, body);
    case PageType::kDataPageV2: return DataPageV2(header, body);
    case PageType::kIndexPage: return;
  }
  throw FormatError("unsupported page type " + std::to_string(static_cast<int>(header.type)));
}

const uint8_t* ChunkDecoder::Decompressed(const uint8_t* data, int64_t compressed, int64_t uncompressed) {
  if (uncompressed < 0) Corrupt("negative size");
  if (plan_.codec == Codec::kUncompressed) {
    if (compressed != uncompressed) Corrupt("sizes differ");
    return data;
  }
  // No codec here expands more than this; a bigger claim is corrupt.
  constexpr int64_t kMaxRatio = 1 << 15;
  if (uncompressed > compressed * kMaxRatio + (int64_t{1} << 20)) Corrupt("implausible uncompressed size");
  page_.Resize(static_cast<size_t>(uncompressed));
  Decompress(plan_.codec, data, static_cast<size_t>(compressed), page_.data(), static_cast<size_t>(uncompressed));
  return page_.data();
}

int64_t ChunkDecoder::PageRows(int64_t num_values) const {
  if (num_values < 0 || num_values > rows_ - row_) {
    throw FormatError("pages hold more values than the row group has rows (" + std::to_string(rows_) + ")");
  }
  return num_values;
}

void ChunkDecoder::DictionaryPage(const PageHeader& header, const uint8_t* body) {
  if (!header.dictionary_page) throw FormatError("dictionary page without its header");
  if (dictionary_size_ >= 0 || row_ > 0) throw FormatError("dictionary page after data pages");
  Encoding encoding = header.dictionary_page->encoding;
  if (encoding != Encoding::kPlain && encoding != Encoding::kPlainDictionary) {
    throw FormatError("unsupported dictionary encoding " + EncodingName(encoding));
  }
  int64_t n = header.dictionary_page->num_values;
  const uint8_t* data = Decompressed(body, header.compressed_page_size, header.uncompressed_page_size);
  size_t size = static_cast<size_t>(header.uncompressed_page_size);
  if (n < 0 || static_cast<uint64_t>(n) > size * 8) Corrupt("dictionary size");
  if (plan_.type == DataType::kString) {
    dictionary_.Resize(static_cast<size_t>(n + 1) * 4);
    uint32_t* ends = dictionary_.as<uint32_t>();
    ends[0] = 0;
    std::swap(chars_, dictionary_chars_);
    chars_.Clear();
    PlainStrings(data, size, n, ends);
    std::swap(chars_, dictionary_chars_);
  } else if (plan_.type == DataType::kBool) {
    if (static_cast<size_t>((n + 7) / 8) > size) Truncated();
    dictionary_.Resize(static_cast<size_t>(n));
    UnpackBools(data, n, dictionary_.data());
  } else {
    if (static_cast<uint64_t>(n) * PhysicalWidth() > size) Truncated();
    dictionary_.Resize(static_cast<size_t>(n) * 8);
    ConvertFixed(plan_.conversion, data, n, dictionary_.data());
  }
  dictionary_size_ = n;
}

void ChunkDecoder::DataPage(const PageHeader& header, const uint8_t* body) {
  if (!header.data_page) throw FormatError("data page without its header");
  const DataPageHeader& page = *header.data_page;
  int64_t n = PageRows(page.num_values);
  const uint8_t* data = Decompressed(body, header.compressed_page_size, header.uncompressed_page_size);
  size_t size = static_cast<size_t>(header.uncompressed_page_size);
  int64_t k = n;
  if (plan_.optional) {
    if (page.definition_level_encoding != Encoding::kRle) {
      throw FormatError("unsupported definition level encoding " + EncodingName(page.definition_level_encoding));
    }
    if (size < 4) Truncated();
    uint32_t length = LoadU32(data);
    if (length > size - 4) Truncated();
    k = DecodeDefinitionLevels(data + 4, length, n, validity_.as<uint64_t>(), row_);
    data += 4 + length;
    size -= 4 + length;
  }
  Values(page.encoding, data, size, n, k);
}

void ChunkDecoder::DataPageV2(const PageHeader& header, const uint8_t* body) {
  if (!header.data_page_v2) throw FormatError("data page v2 without its header");
  const DataPageHeaderV2& page = *header.data_page_v2;
  int64_t n = PageRows(page.num_values);
  int64_t def = page.definition_levels_byte_length;
  int64_t rep = page.repetition_levels_byte_length;
  if (def < 0 || rep < 0 || def + rep > header.compressed_page_size || def + rep > header.uncompressed_page_size) {
    Corrupt("level lengths");
  }
  int64_t k = n;
  if (plan_.optional) k = DecodeDefinitionLevels(body + rep, static_cast<size_t>(def), n, validity_.as<uint64_t>(), row_);
  if (n - k != page.num_nulls) Corrupt("null count differs from the definition levels");
  const uint8_t* values = body + rep + def;
  int64_t compressed = header.compressed_page_size - rep - def;
  int64_t uncompressed = header.uncompressed_page_size - rep - def;
  if (page.is_compressed) values = Decompressed(values, compressed, uncompressed);
  else uncompressed = compressed;
  Values(page.encoding, values, static_cast<size_t>(uncompressed), n, k);
}

void ChunkDecoder::Values(Encoding encoding, const uint8_t* data, size_t size, int64_t n, int64_t k) {
  const uint64_t* bitmap = validity_.as<uint64_t>();
  if (plan_.type == DataType::kString) {
    StringValues(encoding, data, size, k);
    if (k < n) ExpandOffsets(values_.as<uint32_t>() + row_, n, k, bitmap, row_);
  } else if (plan_.type == DataType::kBool) {
    BoolValues(encoding, data, size, k);
    if (k < n) ExpandFixed<1>(values_.data() + row_, n, k, bitmap, row_);
  } else {
    FixedValues(encoding, data, size, k);
    if (k < n) ExpandFixed<8>(values_.data() + row_ * 8, n, k, bitmap, row_);
  }
  row_ += n;
}

int64_t ChunkDecoder::PhysicalWidth() const {
  switch (plan_.physical) {
    case PhysicalType::kInt32:
    case PhysicalType::kFloat: return 4;
    case PhysicalType::kInt96: return 12;
    default: return 8;
  }
}

const uint32_t* ChunkDecoder::Indices(const uint8_t* data, size_t size, int64_t k) {
  if (dictionary_size_ < 0) throw FormatError("dictionary-encoded page without a dictionary page");
  indices_.resize(static_cast<size_t>(k));
  if (k == 0) return indices_.data();
  if (size < 1) Truncated();
  RleHybridDecoder(data + 1, size - 1, data[0]).Decode(indices_.data(), k);
  uint32_t max = *std::max_element(indices_.begin(), indices_.end());
  if (max >= dictionary_size_) Corrupt("dictionary index out of range");
  return indices_.data();
}

void ChunkDecoder::FixedValues(Encoding encoding, const uint8_t* data, size_t size, int64_t k) {
  uint8_t* out = values_.data() + row_ * 8;
  const int64_t width = PhysicalWidth();
  switch (encoding) {
    case Encoding::kPlain:
      if (static_cast<uint64_t>(k) * width > size) Truncated();
      return ConvertFixed(plan_.conversion, data, k, out);
    case Encoding::kPlainDictionary:
    case Encoding::kRleDictionary: {
      const uint32_t* indices = Indices(data, size, k);
      const uint8_t* dictionary = dictionary_.data();
      for (int64_t idx = 0; idx < k; ++idx) std::memcpy(out + idx * 8, dictionary + indices[idx] * 8, 8);
      return;
    }
    case Encoding::kDeltaBinaryPacked: {
      if (plan_.physical != PhysicalType::kInt32 && plan_.physical != PhysicalType::kInt64) break;
      deltas_.resize(static_cast<size_t>(k));
      DecodeDeltaBinaryPacked(data, size, k, deltas_.data());
      if (plan_.physical == PhysicalType::kInt32) {
        scratch_.Resize(static_cast<size_t>(k) * 4);
        for (int64_t idx = 0; idx < k; ++idx) {
          uint32_t low = static_cast<uint32_t>(deltas_[idx]);
          std::memcpy(scratch_.data() + idx * 4, &low, 4);
        }
        return ConvertFixed(plan_.conversion, scratch_.data(), k, out);
      }
      return ConvertFixed(plan_.conversion, reinterpret_cast<const uint8_t*>(deltas_.data()), k, out);
    }
    case Encoding::kByteStreamSplit: {
      if (plan_.physical == PhysicalType::kInt96) break;
      int64_t stride = static_cast<int64_t>(size) / width;
      if (stride < k) Truncated();
      scratch_.Resize(static_cast<size_t>(k * width));
      DecodeByteStreamSplit(data, stride, k, static_cast<int>(width), scratch_.data());
      return ConvertFixed(plan_.conversion, scratch_.data(), k, out);
    }
    default: break;
  }
  throw FormatError("unsupported encoding " + EncodingName(encoding) + " for " + PhysicalTypeName(plan_.physical));
}

void ChunkDecoder::BoolValues(Encoding encoding, const uint8_t* data, size_t size, int64_t k) {
  uint8_t* out = values_.data() + row_;
  switch (encoding) {
    case Encoding::kPlain:
      if (static_cast<uint64_t>((k + 7) / 8) > size) Truncated();
      return UnpackBools(data, k, out);
    case Encoding::kRle: {
      if (size < 4) Truncated();
      uint32_t length = LoadU32(data);
      if (length > size - 4) Truncated();
      indices_.resize(static_cast<size_t>(k));
      RleHybridDecoder(data + 4, length, 1).Decode(indices_.data(), k);
      for (int64_t idx = 0; idx < k; ++idx) out[idx] = static_cast<uint8_t>(indices_[idx]);
      return;
    }
    case Encoding::kPlainDictionary:
    case Encoding::kRleDictionary: {
      const uint32_t* indices = Indices(data, size, k);
      for (int64_t idx = 0; idx < k; ++idx) out[idx] = dictionary_.data()[indices[idx]];
      return;
    }
    default: break;
  }
  throw FormatError("unsupported encoding " + EncodingName(encoding) + " for BOOLEAN");
}

void ChunkDecoder::StringValues(Encoding encoding, const uint8_t* data, size_t size, int64_t k) {
  uint32_t* ends = values_.as<uint32_t>() + row_;  // ends[0]: where this page starts
  switch (encoding) {
    case Encoding::kPlain: return PlainStrings(data, size, k, ends);
    case Encoding::kPlainDictionary:
    case Encoding::kRleDictionary:
      Indices(data, size, k);
      return DictionaryStrings(k, ends);
    case Encoding::kDeltaLengthByteArray: return DeltaLengthStrings(data, size, k, ends);
    case Encoding::kDeltaByteArray: return DeltaStrings(data, size, k, ends);
    default: break;
  }
  throw FormatError("unsupported encoding " + EncodingName(encoding) + " for BYTE_ARRAY");
}

uint32_t ChunkDecoder::CharsEnd(uint64_t end) const {
  if (end > std::numeric_limits<uint32_t>::max()) throw FormatError("more than 4 GiB of strings in one row group");
  return static_cast<uint32_t>(end);
}

void ChunkDecoder::AppendChars(const uint8_t* bytes, size_t n, uint32_t* end) {
  *end = CharsEnd(chars_.size() + n);
  chars_.Append(bytes, n);
}

// The strings of a page fit in the page: grow the chars once by its size,
// write in place, then trim.
void ChunkDecoder::PlainStrings(const uint8_t* data, size_t size, int64_t k, uint32_t* ends) {
  const uint8_t* pos = data;
  const uint8_t* end = data + size;
  const size_t base = chars_.size();
  chars_.Resize(base + size);
  uint8_t* out = chars_.data() + base;
  for (int64_t idx = 0; idx < k; ++idx) {
    if (end - pos < 4) Truncated();
    uint32_t length = LoadU32(pos);
    pos += 4;
    if (length > static_cast<size_t>(end - pos)) Truncated();
    std::memcpy(out, pos, length);
    out += length;
    pos += length;
    ends[idx + 1] = CharsEnd(static_cast<uint64_t>(out - chars_.data()));
  }
  chars_.Resize(static_cast<size_t>(out - chars_.data()));
  if (!ValidUtf8Strings(chars_.data(), ends, k)) throw FormatError("invalid UTF-8 in a string");
}

void ChunkDecoder::DictionaryStrings(int64_t k, uint32_t* ends) {
  const uint32_t* offsets = dictionary_.as<uint32_t>();
  const uint8_t* chars = dictionary_chars_.data();
  uint64_t total = chars_.size();
  for (int64_t idx = 0; idx < k; ++idx) total += offsets[indices_[idx] + 1] - offsets[indices_[idx]];
  CharsEnd(total);
  size_t at = chars_.size();
  chars_.Resize(total);
  uint8_t* out = chars_.data();
  for (int64_t idx = 0; idx < k; ++idx) {
    uint32_t begin = offsets[indices_[idx]];
    uint32_t length = offsets[indices_[idx] + 1] - begin;
    std::memcpy(out + at, chars + begin, length);
    at += length;
    ends[idx + 1] = static_cast<uint32_t>(at);
  }
}

void ChunkDecoder::DeltaLengthStrings(const uint8_t* data, size_t size, int64_t k, uint32_t* ends) {
  deltas_.resize(static_cast<size_t>(k));
  size_t used = DecodeDeltaBinaryPacked(data, size, k, deltas_.data());
  const uint8_t* pos = data + used;
  size_t left = size - used;
  for (int64_t idx = 0; idx < k; ++idx) {
    if (deltas_[idx] > left) Truncated();
    AppendChars(pos, deltas_[idx], &ends[idx + 1]);
    pos += deltas_[idx];
    left -= deltas_[idx];
  }
  if (!ValidUtf8Strings(chars_.data(), ends, k)) throw FormatError("invalid UTF-8 in a string");
}

void ChunkDecoder::DeltaStrings(const uint8_t* data, size_t size, int64_t k, uint32_t* ends) {
  std::vector<uint64_t> prefixes(static_cast<size_t>(k));
  size_t used = DecodeDeltaBinaryPacked(data, size, k, prefixes.data());
  deltas_.resize(static_cast<size_t>(k));
  used += DecodeDeltaBinaryPacked(data + used, size - used, k, deltas_.data());
  const uint8_t* pos = data + used;
  size_t left = size - used;
  // Shared prefixes can expand a page a lot, but not without bound.
  const uint64_t limit = chars_.size() + (uint64_t{size} << 10) + (uint64_t{1} << 20);
  uint64_t previous = 0;  // length of the previous value
  for (int64_t idx = 0; idx < k; ++idx) {
    uint64_t prefix = prefixes[idx];
    uint64_t suffix = deltas_[idx];
    if (prefix > previous || suffix > left) Corrupt("DELTA_BYTE_ARRAY lengths");
    if (chars_.size() + prefix + suffix > limit) Corrupt("DELTA_BYTE_ARRAY expands too much");
    size_t start = chars_.size() - previous;
    chars_.Reserve(chars_.size() + prefix + suffix);
    AppendChars(chars_.data() + start, prefix, &ends[idx + 1]);
    AppendChars(pos, suffix, &ends[idx + 1]);
    pos += suffix;
    left -= suffix;
    previous = prefix + suffix;
  }
  if (!ValidUtf8Strings(chars_.data(), ends, k)) throw FormatError("invalid UTF-8 in a string");
}

}  // namespace

ColumnPtr DecodeColumnChunk(const ColumnPlan& plan, const uint8_t* data, size_t size, int64_t rows,
                            DecodeScratch* scratch) {
  return ChunkDecoder(plan, rows, scratch).Run(data, size);
}

}  // namespace pipeline::columnar::parquet
