#include "columnar/parquet_column_writer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

#include "columnar/parquet_encoding.h"
#include "kernels/kernels.h"

namespace pipeline::columnar::parquet {
namespace {

// Longer strings get no min/max statistics (they would bloat the footer).
constexpr size_t kMaxStatisticsBytes = 256;
constexpr int64_t kBoolPageRows = int64_t{1} << 20;
constexpr int64_t kIndexPageRows = int64_t{1} << 17;

int64_t ValidRows(const ColumnSlice& slice) {
  const uint64_t* validity = slice.column->validity();
  return validity ? CountSetBits(validity, slice.offset, slice.length) : slice.length;
}

template <class T>
std::string PlainBytes(T value) {
  std::string bytes(sizeof value, '\0');
  std::memcpy(bytes.data(), &value, sizeof value);
  return bytes;
}

// Copies the non-null values of rows [offset, offset + n) to out (room for
// n values, maybe unaligned); returns how many.
template <class T>
int64_t CompactValid(const T* values, const uint64_t* validity, int64_t offset, int64_t n, uint8_t* out) {
  if (!validity) {
    std::memcpy(out, values + offset, static_cast<size_t>(n) * sizeof(T));
    return n;
  }
  int64_t count = 0;
  for (int64_t row = offset; row < offset + n; ++row) {
    std::memcpy(out + count * sizeof(T), &values[row], sizeof(T));
    count += BitIsSet(validity, row);
  }
  return count;
}

// Min and max of a slice's non-null values (NaN ignored): the SIMD kernel
// when the slice's validity is whole words with nothing past its end (its
// contract), a scalar loop otherwise.
template <class T>
auto SliceMinMax(const ColumnSlice& slice) {
  const T* values = slice.column->data<T>() + slice.offset;
  const uint64_t* validity = slice.column->validity();
  int64_t end = slice.offset + slice.length;
  if (!validity || (slice.offset % 64 == 0 && (end % 64 == 0 || end == slice.column->length()))) {
    return kernels::MinMax(values, validity ? validity + slice.offset / 64 : nullptr, slice.length);
  }
  decltype(kernels::MinMax(values, validity, 0)) result;
  for (int64_t row = 0; row < slice.length; ++row) {
    T value = values[row];
    if (!BitIsSet(validity, slice.offset + row) || value != value) continue;  // null or NaN
    result.min = result.any && result.min < value ? result.min : value;
    result.max = result.any && result.max > value ? result.max : value;
    result.any = true;
  }
  return result;
}

// Min and max of the non-null values (NaN ignored); false when there are none.
template <class T>
bool MinMax(const std::vector<ColumnSlice>& slices, T* min, T* max) {
  bool any = false;
  for (const ColumnSlice& slice : slices) {
    auto part = SliceMinMax<T>(slice);
    if (!part.any) continue;
    *min = any && *min < part.min ? *min : part.min;
    *max = any && *max > part.max ? *max : part.max;
    any = true;
  }
  return any;
}

void SetStringStatistics(std::string_view min, std::string_view max, Statistics* stats) {
  if (min.size() > kMaxStatisticsBytes || max.size() > kMaxStatisticsBytes) return;
  stats->min_value = std::string(min);
  stats->max_value = std::string(max);
}

// Rows [row, end) of a string slice whose PLAIN bytes (nulls counted as
// 4) stay within kPageBytes; at least one row.
int64_t StringPageEnd(const uint32_t* offsets, int64_t row, int64_t end) {
  auto bytes = [&](int64_t stop) { return int64_t{offsets[stop] - offsets[row]} + 4 * (stop - row); };
  int64_t lo = row + 1;
  int64_t hi = end;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (bytes(mid) <= kPageBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

}  // namespace

ChunkEncoder::ChunkEncoder(Codec codec, int zstd_level, bool dictionary)
    : compressor_(codec, zstd_level), dictionary_(dictionary) {}

EncodedChunk ChunkEncoder::Encode(DataType type, const std::vector<ColumnSlice>& slices) {
  EncodedChunk chunk;
  int64_t valid = 0;
  size_t chars = 0;
  for (const ColumnSlice& slice : slices) {
    chunk.num_values += slice.length;
    valid += ValidRows(slice);
    if (type == DataType::kString) chars += slice.column->offsets()[slice.offset + slice.length] - slice.column->offsets()[slice.offset];
  }
  // Room for the PLAIN pages, so the buffer never regrows (untouched pages
  // of the reservation cost nothing).
  size_t width = type == DataType::kBool ? 1 : type == DataType::kString ? 4 : 8;
  chunk.bytes.Reserve(static_cast<size_t>(valid) * width + chars + static_cast<size_t>(chunk.num_values / 8) + 4096 +
                      kMaxDictionaryBytes);
  chunk.statistics.null_count = chunk.num_values - valid;
  switch (type) {
    case DataType::kInt64:
    case DataType::kTimestamp: EncodeFixed<int64_t>(slices, valid, &chunk); break;
    case DataType::kFloat64: EncodeFixed<double>(slices, valid, &chunk); break;
    case DataType::kBool: EncodeBool(slices, valid, &chunk); break;
    case DataType::kString: EncodeString(slices, valid, &chunk); break;
  }
  return chunk;
}

template <class T>
void ChunkEncoder::EncodeFixed(const std::vector<ColumnSlice>& slices, int64_t valid, EncodedChunk* chunk) {
  T min{};
  T max{};
  bool has_range = MinMax(slices, &min, &max);
  if (has_range) {
    if constexpr (std::is_floating_point_v<T>) {
      // parquet-format: a zero min is written -0.0, a zero max +0.0.
      if (min == 0) min = -0.0;
      if (max == 0) max = 0.0;
    }
    chunk->statistics.min_value = PlainBytes(min);
    chunk->statistics.max_value = PlainBytes(max);
  }
  bool use_dictionary = false;
  if (dictionary_ && valid > 0) {
    indices_.resize(static_cast<size_t>(valid));
    uint64_t range = std::numeric_limits<uint64_t>::max();
    int64_t base = 0;
    if constexpr (std::is_integral_v<T>) {
      if (has_range) range = static_cast<uint64_t>(max) - static_cast<uint64_t>(min), base = min;
    }
    use_dictionary = dictionary64_.Build(slices, base, range, &indices_);
  }
  if (!use_dictionary) {
    chunk->encodings = {Encoding::kPlain, Encoding::kRle};
    WritePlainPages<T>(slices, chunk);
    return;
  }
  const std::vector<uint64_t>& values = dictionary64_.values();
  body_.Resize(values.size() * 8);
  std::memcpy(body_.data(), values.data(), values.size() * 8);
  EmitPage(PageType::kDictionaryPage, body_.size(), static_cast<int32_t>(values.size()), Encoding::kPlain, chunk);
  chunk->dictionary_bytes = static_cast<int64_t>(chunk->bytes.size());
  chunk->encodings = {Encoding::kPlain, Encoding::kRle, Encoding::kRleDictionary};
  WriteIndexPages(slices, values.size(), chunk);
}

void ChunkEncoder::EncodeBool(const std::vector<ColumnSlice>& slices, int64_t valid, EncodedChunk* chunk) {
  chunk->encodings = {Encoding::kPlain, Encoding::kRle};
  std::vector<uint8_t> compact;
  bool any_true = false;
  bool any_false = false;
  for (const ColumnSlice& slice : slices) {
    for (int64_t offset = 0; offset < slice.length; offset += kBoolPageRows) {
      int64_t n = std::min(kBoolPageRows, slice.length - offset);
      compact.resize(static_cast<size_t>(n));
      int64_t k = CompactValid(slice.column->bools(), slice.column->validity(), slice.offset + offset, n,
                               compact.data());
      for (int64_t idx = 0; idx < k; ++idx) (compact[idx] ? any_true : any_false) = true;
      uint8_t* out = BeginDataPage(slice, slice.offset + offset, n, static_cast<size_t>((k + 7) / 8));
      PackBools(compact.data(), k, out);
      EmitPage(PageType::kDataPage, static_cast<size_t>(out - body_.data() + (k + 7) / 8), static_cast<int32_t>(n),
               Encoding::kPlain, chunk);
    }
  }
  if (valid > 0) {
    chunk->statistics.min_value = std::string(1, any_false ? '\0' : '\1');
    chunk->statistics.max_value = std::string(1, any_true ? '\1' : '\0');
  }
}

void ChunkEncoder::EncodeString(const std::vector<ColumnSlice>& slices, int64_t valid, EncodedChunk* chunk) {
  indices_.resize(static_cast<size_t>(valid));
  if (valid == 0 || !dictionary_ || !string_dictionary_.Build(slices, &indices_)) {
    chunk->encodings = {Encoding::kPlain, Encoding::kRle};
    WritePlainStringPages(slices, chunk);
    return;
  }
  const StringDictionary& dict = string_dictionary_;
  std::string_view min = dict.at(0);
  std::string_view max = dict.at(0);
  size_t bytes = 0;
  for (size_t idx = 0; idx < dict.size(); ++idx) {
    min = std::min(min, dict.at(idx));
    max = std::max(max, dict.at(idx));
    bytes += 4 + dict.at(idx).size();
  }
  SetStringStatistics(min, max, &chunk->statistics);
  body_.Resize(bytes);
  uint8_t* out = body_.data();
  for (size_t idx = 0; idx < dict.size(); ++idx) {
    uint32_t size = static_cast<uint32_t>(dict.at(idx).size());
    std::memcpy(out, &size, 4);
    std::memcpy(out + 4, dict.at(idx).data(), size);
    out += 4 + size;
  }
  EmitPage(PageType::kDictionaryPage, bytes, static_cast<int32_t>(dict.size()), Encoding::kPlain, chunk);
  chunk->dictionary_bytes = static_cast<int64_t>(chunk->bytes.size());
  chunk->encodings = {Encoding::kPlain, Encoding::kRle, Encoding::kRleDictionary};
  WriteIndexPages(slices, dict.size(), chunk);
}

template <class T>
void ChunkEncoder::WritePlainPages(const std::vector<ColumnSlice>& slices, EncodedChunk* chunk) {
  constexpr int64_t kRows = kPageBytes / sizeof(T);
  for (const ColumnSlice& slice : slices) {
    for (int64_t offset = 0; offset < slice.length; offset += kRows) {
      int64_t n = std::min(kRows, slice.length - offset);
      uint8_t* out = BeginDataPage(slice, slice.offset + offset, n, static_cast<size_t>(n) * sizeof(T));
      int64_t k = CompactValid(slice.column->data<T>(), slice.column->validity(), slice.offset + offset, n, out);
      EmitPage(PageType::kDataPage, static_cast<size_t>(out - body_.data()) + static_cast<size_t>(k) * sizeof(T),
               static_cast<int32_t>(n), Encoding::kPlain, chunk);
    }
  }
}

void ChunkEncoder::WritePlainStringPages(const std::vector<ColumnSlice>& slices, EncodedChunk* chunk) {
  std::string_view min;
  std::string_view max;
  bool any = false;
  for (const ColumnSlice& slice : slices) {
    const Column& column = *slice.column;
    const uint32_t* offsets = column.offsets();
    const uint64_t* validity = column.validity();
    int64_t end = slice.offset + slice.length;
    for (int64_t row = slice.offset; row < end;) {
      int64_t stop = StringPageEnd(offsets, row, end);
      size_t bytes = offsets[stop] - offsets[row] + 4 * static_cast<size_t>(stop - row);
      uint8_t* out = BeginDataPage(slice, row, stop - row, bytes);
      for (int64_t idx = row; idx < stop; ++idx) {
        if (validity && !BitIsSet(validity, idx)) continue;
        std::string_view value = column.StringAt(idx);
        uint32_t size = static_cast<uint32_t>(value.size());
        std::memcpy(out, &size, 4);
        std::memcpy(out + 4, value.data(), size);
        out += 4 + size;
        if (!any || value < min) min = value;
        if (!any || value > max) max = value;
        any = true;
      }
      EmitPage(PageType::kDataPage, static_cast<size_t>(out - body_.data()), static_cast<int32_t>(stop - row),
               Encoding::kPlain, chunk);
      row = stop;
    }
  }
  if (any) SetStringStatistics(min, max, &chunk->statistics);
}

void ChunkEncoder::WriteIndexPages(const std::vector<ColumnSlice>& slices, size_t dictionary_size,
                                   EncodedChunk* chunk) {
  // Width 0 is legal for one entry, but not every reader takes it.
  int width = std::max(1, BitWidth(dictionary_size - 1));
  const uint32_t* indices = indices_.data();
  for (const ColumnSlice& slice : slices) {
    const uint64_t* validity = slice.column->validity();
    for (int64_t offset = 0; offset < slice.length; offset += kIndexPageRows) {
      int64_t n = std::min(kIndexPageRows, slice.length - offset);
      int64_t k = validity ? CountSetBits(validity, slice.offset + offset, n) : n;
      uint8_t* out = BeginDataPage(slice, slice.offset + offset, n, 1 + MaxRleHybridSize(k, width));
      *out++ = static_cast<uint8_t>(width);
      out += EncodeRleHybrid(indices, k, width, out);
      indices += k;
      EmitPage(PageType::kDataPage, static_cast<size_t>(out - body_.data()), static_cast<int32_t>(n),
               Encoding::kRleDictionary, chunk);
    }
  }
}

uint8_t* ChunkEncoder::BeginDataPage(const ColumnSlice& slice, int64_t offset, int64_t n, size_t value_bytes) {
  body_.Resize(4 + MaxDefinitionLevelsSize(n) + value_bytes);
  uint8_t* levels = body_.data() + 4;
  uint32_t size = static_cast<uint32_t>(EncodeDefinitionLevels(slice.column->validity(), offset, n, levels));
  std::memcpy(body_.data(), &size, 4);
  return levels + size;
}

void ChunkEncoder::EmitPage(PageType type, size_t body_size, int32_t num_values, Encoding encoding,
                            EncodedChunk* chunk) {
  const uint8_t* data = body_.data();
  size_t size = body_size;
  if (compressor_.codec() != Codec::kUncompressed) {
    compressor_.Compress(body_.data(), body_size, &compressed_);
    data = compressed_.data();
    size = compressed_.size();
  }
  constexpr size_t kMaxPage = std::numeric_limits<int32_t>::max();
  if (body_size > kMaxPage || size > kMaxPage) throw FormatError("a page would hold more than 2 GiB");
  PageHeader header;
  header.type = type;
  header.uncompressed_page_size = static_cast<int32_t>(body_size);
  header.compressed_page_size = static_cast<int32_t>(size);
  if (type == PageType::kDictionaryPage) header.dictionary_page = DictionaryPageHeader{num_values, encoding};
  else header.data_page = DataPageHeader{num_values, encoding, Encoding::kRle, Encoding::kRle};
  header_.clear();
  Serialize(header, &header_);
  chunk->bytes.Append(header_.data(), header_.size());
  chunk->bytes.Append(data, size);
  chunk->uncompressed_size += static_cast<int64_t>(header_.size() + body_size);
}

}  // namespace pipeline::columnar::parquet
