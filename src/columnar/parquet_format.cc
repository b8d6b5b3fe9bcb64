#include "columnar/parquet_format.h"

#include "columnar/thrift_compact.h"
#include "columnar/types.h"

namespace pipeline::columnar::parquet {
namespace {

using thrift::CompactReader;
using thrift::CompactWriter;
using thrift::Type;

template <class E>
int32_t I32(E value) {
  return static_cast<int32_t>(value);
}

// ---- encoding ----

void WriteLogicalType(CompactWriter& w, const LogicalType& logical) {
  using Kind = LogicalType::Kind;
  if (logical.kind == Kind::kString) {
    w.StructField(1);  // StringType
    w.EndStruct();
  } else if (logical.kind == Kind::kTimestamp) {
    w.StructField(8);  // TimestampType
    w.BoolField(1, logical.adjusted_to_utc);
    w.StructField(2);  // TimeUnit union
    w.StructField(static_cast<int16_t>(logical.unit) + 1);
    w.EndStruct();
    w.EndStruct();
    w.EndStruct();
  }
}

void WriteSchemaElement(CompactWriter& w, const SchemaElement& element) {
  w.BeginStruct();
  if (element.type) w.I32Field(1, I32(*element.type));
  if (element.repetition) w.I32Field(3, I32(*element.repetition));
  w.BinaryField(4, element.name);
  if (element.num_children > 0) w.I32Field(5, element.num_children);
  if (element.converted_type) w.I32Field(6, *element.converted_type);
  if (element.logical_type.kind != LogicalType::Kind::kNone) {
    w.StructField(10);
    WriteLogicalType(w, element.logical_type);
    w.EndStruct();
  }
  w.EndStruct();
}

void WriteStatistics(CompactWriter& w, const Statistics& stats) {
  if (stats.null_count) w.I64Field(3, *stats.null_count);
  if (stats.max_value) w.BinaryField(5, *stats.max_value);
  if (stats.min_value) w.BinaryField(6, *stats.min_value);
}

void WriteColumnMetaData(CompactWriter& w, const ColumnMetaData& meta) {
  w.I32Field(1, I32(meta.type));
  w.ListField(2, Type::kI32, meta.encodings.size());
  for (Encoding encoding : meta.encodings) w.I32(I32(encoding));
  w.ListField(3, Type::kBinary, meta.path_in_schema.size());
  for (const std::string& part : meta.path_in_schema) w.Binary(part);
  w.I32Field(4, I32(meta.codec));
  w.I64Field(5, meta.num_values);
  w.I64Field(6, meta.total_uncompressed_size);
  w.I64Field(7, meta.total_compressed_size);
  w.I64Field(9, meta.data_page_offset);
  if (meta.dictionary_page_offset) w.I64Field(11, *meta.dictionary_page_offset);
  w.StructField(12);
  WriteStatistics(w, meta.statistics);
  w.EndStruct();
}

void WriteRowGroup(CompactWriter& w, const RowGroup& group) {
  w.BeginStruct();
  w.ListField(1, Type::kStruct, group.columns.size());
  for (const ColumnChunk& chunk : group.columns) {
    w.BeginStruct();
    w.I64Field(2, chunk.file_offset);
    w.StructField(3);
    WriteColumnMetaData(w, *chunk.meta_data);
    w.EndStruct();
    w.EndStruct();
  }
  w.I64Field(2, group.total_byte_size);
  w.I64Field(3, group.num_rows);
  w.I64Field(5, group.file_offset);
  w.I64Field(6, group.total_compressed_size);
  w.I16Field(7, group.ordinal);
  w.EndStruct();
}

// ---- decoding ----

[[noreturn]] void Missing(const char* what) { throw FormatError(std::string("missing ") + what); }

// Runs parse(), prefixing its errors with what was being parsed.
template <class Parse>
auto Parsing(const char* what, Parse parse) {
  try {
    return parse();
  } catch (const FormatError& error) {
    throw FormatError(std::string("corrupt ") + what + " (" + error.what() + ")");
  }
}

// Calls on_field(id, type) for every field; skips those it returns false for.
template <class Fn>
void ReadStruct(CompactReader& r, Fn&& on_field) {
  r.BeginStruct();
  int16_t id;
  Type type;
  while (r.NextField(&id, &type)) {
    if (!on_field(id, type)) r.Skip(type);
  }
  r.EndStruct();
}

// Calls each() per element when the elements have the expected type,
// skips them otherwise.
template <class Fn>
void ReadList(CompactReader& r, Type expected, Fn&& each) {
  Type element;
  uint32_t size;
  r.ListHeader(&element, &size);
  for (uint32_t idx = 0; idx < size; ++idx) {
    if (element == expected) each();
    else if (element == Type::kTrue || element == Type::kFalse) r.ElementBool();
    else r.Skip(element);
  }
}

bool IsBool(Type type) { return type == Type::kTrue || type == Type::kFalse; }

// TimeUnit union: 1 MILLIS, 2 MICROS, 3 NANOS (each an empty struct).
TimeUnit ReadTimeUnit(CompactReader& r) {
  TimeUnit unit = TimeUnit::kMicros;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (type != Type::kStruct || id < 1 || id > 3) return false;
    unit = static_cast<TimeUnit>(id - 1);
    r.Skip(type);
    return true;
  });
  return unit;
}

void ReadTimestampType(CompactReader& r, LogicalType* logical) {
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && IsBool(type)) logical->adjusted_to_utc = CompactReader::FieldBool(type);
    else if (id == 2 && type == Type::kStruct) logical->unit = ReadTimeUnit(r);
    else return false;
    return true;
  });
}

void ReadIntType(CompactReader& r, LogicalType* logical) {
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kByte) logical->bit_width = r.I8();
    else if (id == 2 && IsBool(type)) logical->is_signed = CompactReader::FieldBool(type);
    else return false;
    return true;
  });
}

LogicalType ReadLogicalType(CompactReader& r) {
  using Kind = LogicalType::Kind;
  LogicalType logical;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (type != Type::kStruct) return false;
    switch (id) {
      case 1: logical.kind = Kind::kString; break;
      case 4: logical.kind = Kind::kEnum; break;
      case 5: logical.kind = Kind::kDecimal; break;
      case 6: logical.kind = Kind::kDate; break;
      case 7: logical.kind = Kind::kTime; break;
      case 8: logical.kind = Kind::kTimestamp; ReadTimestampType(r, &logical); return true;
      case 10: logical.kind = Kind::kInteger; ReadIntType(r, &logical); return true;
      case 12: logical.kind = Kind::kJson; break;
      default: logical.kind = Kind::kOther; break;
    }
    r.Skip(type);
    return true;
  });
  return logical;
}

SchemaElement ReadSchemaElement(CompactReader& r) {
  SchemaElement element;
  bool has_name = false;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kI32) element.type = static_cast<PhysicalType>(r.I32());
    else if (id == 3 && type == Type::kI32) element.repetition = static_cast<Repetition>(r.I32());
    else if (id == 4 && type == Type::kBinary) element.name = r.String(), has_name = true;
    else if (id == 5 && type == Type::kI32) element.num_children = r.I32();
    else if (id == 6 && type == Type::kI32) element.converted_type = r.I32();
    else if (id == 10 && type == Type::kStruct) element.logical_type = ReadLogicalType(r);
    else return false;
    return true;
  });
  if (!has_name) Missing("schema element name");
  return element;
}

Statistics ReadStatistics(CompactReader& r) {
  Statistics stats;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 3 && type == Type::kI64) stats.null_count = r.I64();
    else if (id == 5 && type == Type::kBinary) stats.max_value = r.String();
    else if (id == 6 && type == Type::kBinary) stats.min_value = r.String();
    else return false;
    return true;
  });
  return stats;
}

ColumnMetaData ReadColumnMetaData(CompactReader& r) {
  ColumnMetaData meta;
  uint32_t seen = 0;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kI32) meta.type = static_cast<PhysicalType>(r.I32());
    else if (id == 2 && type == Type::kList) ReadList(r, Type::kI32, [&] { meta.encodings.push_back(static_cast<Encoding>(r.I32())); });
    else if (id == 3 && type == Type::kList) ReadList(r, Type::kBinary, [&] { meta.path_in_schema.push_back(r.String()); });
    else if (id == 4 && type == Type::kI32) meta.codec = static_cast<Codec>(r.I32());
    else if (id == 5 && type == Type::kI64) meta.num_values = r.I64();
    else if (id == 6 && type == Type::kI64) meta.total_uncompressed_size = r.I64();
    else if (id == 7 && type == Type::kI64) meta.total_compressed_size = r.I64();
    else if (id == 9 && type == Type::kI64) meta.data_page_offset = r.I64();
    else if (id == 11 && type == Type::kI64) meta.dictionary_page_offset = r.I64();
    else if (id == 12 && type == Type::kStruct) meta.statistics = ReadStatistics(r);
    else return false;
    if (id < 32) seen |= 1u << id;
    return true;
  });
  for (int id : {1, 4, 5, 7, 9}) {
    if (!(seen & (1u << id))) Missing("column metadata field");
  }
  return meta;
}

ColumnChunk ReadColumnChunk(CompactReader& r) {
  ColumnChunk chunk;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kBinary) chunk.file_path = r.String();
    else if (id == 2 && type == Type::kI64) chunk.file_offset = r.I64();
    else if (id == 3 && type == Type::kStruct) chunk.meta_data = ReadColumnMetaData(r);
    else return false;
    return true;
  });
  return chunk;
}

RowGroup ReadRowGroup(CompactReader& r) {
  RowGroup group;
  bool has_rows = false;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kList) ReadList(r, Type::kStruct, [&] { group.columns.push_back(ReadColumnChunk(r)); });
    else if (id == 2 && type == Type::kI64) group.total_byte_size = r.I64();
    else if (id == 3 && type == Type::kI64) group.num_rows = r.I64(), has_rows = true;
    else return false;
    return true;
  });
  if (!has_rows) Missing("row group num_rows");
  return group;
}

KeyValue ReadKeyValue(CompactReader& r) {
  KeyValue kv;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kBinary) kv.key = r.String();
    else if (id == 2 && type == Type::kBinary) kv.value = r.String();
    else return false;
    return true;
  });
  return kv;
}

DataPageHeader ReadDataPageHeader(CompactReader& r) {
  DataPageHeader page;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (type != Type::kI32) return false;
    if (id == 1) page.num_values = r.I32();
    else if (id == 2) page.encoding = static_cast<Encoding>(r.I32());
    else if (id == 3) page.definition_level_encoding = static_cast<Encoding>(r.I32());
    else if (id == 4) page.repetition_level_encoding = static_cast<Encoding>(r.I32());
    else return false;
    return true;
  });
  return page;
}

DataPageHeaderV2 ReadDataPageHeaderV2(CompactReader& r) {
  DataPageHeaderV2 page;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 7 && IsBool(type)) {
      page.is_compressed = CompactReader::FieldBool(type);
      return true;
    }
    if (type != Type::kI32) return false;
    if (id == 1) page.num_values = r.I32();
    else if (id == 2) page.num_nulls = r.I32();
    else if (id == 3) page.num_rows = r.I32();
    else if (id == 4) page.encoding = static_cast<Encoding>(r.I32());
    else if (id == 5) page.definition_levels_byte_length = r.I32();
    else if (id == 6) page.repetition_levels_byte_length = r.I32();
    else return false;
    return true;
  });
  return page;
}

DictionaryPageHeader ReadDictionaryPageHeader(CompactReader& r) {
  DictionaryPageHeader page;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (type != Type::kI32) return false;
    if (id == 1) page.num_values = r.I32();
    else if (id == 2) page.encoding = static_cast<Encoding>(r.I32());
    else return false;
    return true;
  });
  return page;
}

FileMetaData ParseFooterStruct(const uint8_t* data, size_t size) {
  CompactReader r(data, size);
  FileMetaData meta;
  bool has_schema = false;
  bool has_rows = false;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kI32) meta.version = r.I32();
    else if (id == 2 && type == Type::kList) has_schema = true, ReadList(r, Type::kStruct, [&] { meta.schema.push_back(ReadSchemaElement(r)); });
    else if (id == 3 && type == Type::kI64) meta.num_rows = r.I64(), has_rows = true;
    else if (id == 4 && type == Type::kList) ReadList(r, Type::kStruct, [&] { meta.row_groups.push_back(ReadRowGroup(r)); });
    else if (id == 5 && type == Type::kList) ReadList(r, Type::kStruct, [&] { meta.key_value_metadata.push_back(ReadKeyValue(r)); });
    else if (id == 6 && type == Type::kBinary) meta.created_by = r.String();
    else if (id == 8) meta.encrypted = true, r.Skip(type);
    else return false;
    return true;
  });
  if (!has_schema) Missing("schema");
  if (!has_rows) Missing("num_rows");
  return meta;
}

size_t ParsePageHeaderStruct(const uint8_t* data, size_t size, PageHeader* header) {
  CompactReader r(data, size);
  *header = PageHeader();
  uint32_t seen = 0;
  ReadStruct(r, [&](int16_t id, Type type) {
    if (id == 1 && type == Type::kI32) header->type = static_cast<PageType>(r.I32());
    else if (id == 2 && type == Type::kI32) header->uncompressed_page_size = r.I32();
    else if (id == 3 && type == Type::kI32) header->compressed_page_size = r.I32();
    else if (id == 5 && type == Type::kStruct) header->data_page = ReadDataPageHeader(r);
    else if (id == 7 && type == Type::kStruct) header->dictionary_page = ReadDictionaryPageHeader(r);
    else if (id == 8 && type == Type::kStruct) header->data_page_v2 = ReadDataPageHeaderV2(r);
    else return false;
    seen |= 1u << id;
    return true;
  });
  if ((seen & 0b1110) != 0b1110) Missing("page header field");
  return r.position();
}

}  // namespace

std::string EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kPlain: return "PLAIN";
    case Encoding::kPlainDictionary: return "PLAIN_DICTIONARY";
    case Encoding::kRle: return "RLE";
    case Encoding::kBitPacked: return "BIT_PACKED";
    case Encoding::kDeltaBinaryPacked: return "DELTA_BINARY_PACKED";
    case Encoding::kDeltaLengthByteArray: return "DELTA_LENGTH_BYTE_ARRAY";
    case Encoding::kDeltaByteArray: return "DELTA_BYTE_ARRAY";
    case Encoding::kRleDictionary: return "RLE_DICTIONARY";
    case Encoding::kByteStreamSplit: return "BYTE_STREAM_SPLIT";
  }
  return "UNKNOWN(" + std::to_string(static_cast<int32_t>(encoding)) + ")";
}

std::string CodecName(Codec codec) {
  switch (codec) {
    case Codec::kUncompressed: return "UNCOMPRESSED";
    case Codec::kSnappy: return "SNAPPY";
    case Codec::kGzip: return "GZIP";
    case Codec::kLzo: return "LZO";
    case Codec::kBrotli: return "BROTLI";
    case Codec::kLz4: return "LZ4";
    case Codec::kZstd: return "ZSTD";
    case Codec::kLz4Raw: return "LZ4_RAW";
  }
  return "UNKNOWN(" + std::to_string(static_cast<int32_t>(codec)) + ")";
}

std::string PhysicalTypeName(PhysicalType type) {
  switch (type) {
    case PhysicalType::kBoolean: return "BOOLEAN";
    case PhysicalType::kInt32: return "INT32";
    case PhysicalType::kInt64: return "INT64";
    case PhysicalType::kInt96: return "INT96";
    case PhysicalType::kFloat: return "FLOAT";
    case PhysicalType::kDouble: return "DOUBLE";
    case PhysicalType::kByteArray: return "BYTE_ARRAY";
    case PhysicalType::kFixedLenByteArray: return "FIXED_LEN_BYTE_ARRAY";
  }
  return "UNKNOWN(" + std::to_string(static_cast<int32_t>(type)) + ")";
}

void Serialize(const FileMetaData& meta, std::string* out) {
  CompactWriter w(out);
  w.BeginStruct();
  w.I32Field(1, meta.version);
  w.ListField(2, Type::kStruct, meta.schema.size());
  for (const SchemaElement& element : meta.schema) WriteSchemaElement(w, element);
  w.I64Field(3, meta.num_rows);
  w.ListField(4, Type::kStruct, meta.row_groups.size());
  for (const RowGroup& group : meta.row_groups) WriteRowGroup(w, group);
  if (!meta.key_value_metadata.empty()) {
    w.ListField(5, Type::kStruct, meta.key_value_metadata.size());
    for (const KeyValue& kv : meta.key_value_metadata) {
      w.BeginStruct();
      w.BinaryField(1, kv.key);
      w.BinaryField(2, kv.value);
      w.EndStruct();
    }
  }
  w.BinaryField(6, meta.created_by);
  // column_orders: TYPE_ORDER for every leaf, so readers trust min/max_value.
  size_t leaves = meta.schema.empty() ? 0 : meta.schema.size() - 1;
  w.ListField(7, Type::kStruct, leaves);
  for (size_t idx = 0; idx < leaves; ++idx) {
    w.BeginStruct();
    w.StructField(1);
    w.EndStruct();
    w.EndStruct();
  }
  w.EndStruct();
}

void Serialize(const PageHeader& header, std::string* out) {
  CompactWriter w(out);
  w.BeginStruct();
  w.I32Field(1, I32(header.type));
  w.I32Field(2, header.uncompressed_page_size);
  w.I32Field(3, header.compressed_page_size);
  if (header.data_page) {
    w.StructField(5);
    w.I32Field(1, header.data_page->num_values);
    w.I32Field(2, I32(header.data_page->encoding));
    w.I32Field(3, I32(header.data_page->definition_level_encoding));
    w.I32Field(4, I32(header.data_page->repetition_level_encoding));
    w.EndStruct();
  }
  if (header.dictionary_page) {
    w.StructField(7);
    w.I32Field(1, header.dictionary_page->num_values);
    w.I32Field(2, I32(header.dictionary_page->encoding));
    w.EndStruct();
  }
  w.EndStruct();
}

FileMetaData ParseFileMetaData(const uint8_t* data, size_t size) {
  return Parsing("footer", [&] { return ParseFooterStruct(data, size); });
}

size_t ParsePageHeader(const uint8_t* data, size_t size, PageHeader* header) {
  return Parsing("page header", [&] { return ParsePageHeaderStruct(data, size, header); });
}

}  // namespace pipeline::columnar::parquet
