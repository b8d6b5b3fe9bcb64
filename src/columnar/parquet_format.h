// The parts of the Parquet Thrift definitions (parquet-format's
// parquet.thrift) that flat tables need, with compact-protocol encoding and
// decoding. Field ids and enum values follow parquet.thrift; fields this
// module never reads or writes are skipped on input and absent on output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline::columnar::parquet {

enum class PhysicalType : int32_t {
  kBoolean = 0,
  kInt32 = 1,
  kInt64 = 2,
  kInt96 = 3,
  kFloat = 4,
  kDouble = 5,
  kByteArray = 6,
  kFixedLenByteArray = 7,
};

enum class Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };

// The subset of ConvertedType values this module interprets.
enum class ConvertedType : int32_t {
  kUtf8 = 0,
  kEnum = 4,
  kDecimal = 5,
  kDate = 6,
  kTimestampMillis = 9,
  kTimestampMicros = 10,
  kUint8 = 11,
  kUint16 = 12,
  kUint32 = 13,
  kUint64 = 14,
  kInt8 = 15,
  kInt16 = 16,
  kInt32 = 17,
  kInt64 = 18,
  kJson = 19,
};

enum class Encoding : int32_t {
  kPlain = 0,
  kPlainDictionary = 2,
  kRle = 3,
  kBitPacked = 4,
  kDeltaBinaryPacked = 5,
  kDeltaLengthByteArray = 6,
  kDeltaByteArray = 7,
  kRleDictionary = 8,
  kByteStreamSplit = 9,
};

enum class Codec : int32_t {
  kUncompressed = 0,
  kSnappy = 1,
  kGzip = 2,
  kLzo = 3,
  kBrotli = 4,
  kLz4 = 5,
  kZstd = 6,
  kLz4Raw = 7,
};

enum class PageType : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };

enum class TimeUnit : uint8_t { kMillis, kMicros, kNanos };

// "PLAIN", "SNAPPY", "INT64"...; "UNKNOWN(n)" for values outside the enums.
std::string EncodingName(Encoding encoding);
std::string CodecName(Codec codec);
std::string PhysicalTypeName(PhysicalType type);

// The LogicalType union, flattened to what flat tables use.
struct LogicalType {
  enum class Kind : uint8_t { kNone, kString, kEnum, kDecimal, kDate, kTime, kTimestamp, kInteger, kJson, kOther };
  Kind kind = Kind::kNone;
  bool adjusted_to_utc = false;  // kTimestamp
  TimeUnit unit = TimeUnit::kMicros;  // kTimestamp, kTime
  int8_t bit_width = 0;  // kInteger
  bool is_signed = true;  // kInteger
};

struct SchemaElement {
  std::optional<PhysicalType> type;
  std::optional<Repetition> repetition;
  std::string name;
  int32_t num_children = 0;
  std::optional<int32_t> converted_type;
  LogicalType logical_type;
};

struct Statistics {
  std::optional<int64_t> null_count;
  std::optional<std::string> min_value;
  std::optional<std::string> max_value;
};

struct ColumnMetaData {
  PhysicalType type = PhysicalType::kBoolean;
  std::vector<Encoding> encodings;
  std::vector<std::string> path_in_schema;
  Codec codec = Codec::kUncompressed;
  int64_t num_values = 0;
  int64_t total_uncompressed_size = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = 0;
  std::optional<int64_t> dictionary_page_offset;
  Statistics statistics;
};

struct ColumnChunk {
  std::optional<std::string> file_path;
  int64_t file_offset = 0;
  std::optional<ColumnMetaData> meta_data;
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t total_byte_size = 0;
  int64_t num_rows = 0;
  int64_t file_offset = 0;
  int64_t total_compressed_size = 0;
  int16_t ordinal = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
};

struct FileMetaData {
  int32_t version = 2;
  std::vector<SchemaElement> schema;
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::vector<KeyValue> key_value_metadata;
  std::string created_by;
  bool encrypted = false;  // encryption_algorithm present (read only)
};

struct DataPageHeader {
  int32_t num_values = 0;
  Encoding encoding = Encoding::kPlain;
  Encoding definition_level_encoding = Encoding::kRle;
  Encoding repetition_level_encoding = Encoding::kRle;
};

struct DataPageHeaderV2 {
  int32_t num_values = 0;
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  Encoding encoding = Encoding::kPlain;
  int32_t definition_levels_byte_length = 0;
  int32_t repetition_levels_byte_length = 0;
  bool is_compressed = true;
};

struct DictionaryPageHeader {
  int32_t num_values = 0;
  Encoding encoding = Encoding::kPlain;
};

struct PageHeader {
  PageType type = PageType::kDataPage;
  int32_t uncompressed_page_size = 0;
  int32_t compressed_page_size = 0;
  std::optional<DataPageHeader> data_page;
  std::optional<DictionaryPageHeader> dictionary_page;
  std::optional<DataPageHeaderV2> data_page_v2;
};

// Appends the compact encoding to `out`.
void Serialize(const FileMetaData& meta, std::string* out);
void Serialize(const PageHeader& header, std::string* out);

// Decode from [data, data + size). Throw columnar::FormatError (without a
// file name) on malformed input or a missing required field. ParsePageHeader
// returns the header's encoded length.
FileMetaData ParseFileMetaData(const uint8_t* data, size_t size);
size_t ParsePageHeader(const uint8_t* data, size_t size, PageHeader* header);

}  // namespace pipeline::columnar::parquet
