#include "columnar/thrift_compact.h"

#include <cstring>

#include "columnar/types.h"

namespace pipeline::columnar::thrift {

void CompactWriter::Varint(uint64_t value) {
  while (value >= 0x80) {
    out_->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out_->push_back(static_cast<char>(value));
}

void CompactWriter::FieldHeader(int16_t id, Type type) {
  int16_t& last = last_ids_.back();
  int delta = id - last;
  if (delta > 0 && delta <= 15) {
    out_->push_back(static_cast<char>((delta << 4) | static_cast<int>(type)));
  } else {
    out_->push_back(static_cast<char>(type));
    Varint(ZigZag(id));
  }
  last = id;
}

void CompactWriter::I16Field(int16_t id, int16_t value) {
  FieldHeader(id, Type::kI16);
  Varint(ZigZag(value));
}

void CompactWriter::I32Field(int16_t id, int32_t value) {
  FieldHeader(id, Type::kI32);
  Varint(ZigZag(value));
}

void CompactWriter::I64Field(int16_t id, int64_t value) {
  FieldHeader(id, Type::kI64);
  Varint(ZigZag(value));
}

void CompactWriter::BoolField(int16_t id, bool value) { FieldHeader(id, value ? Type::kTrue : Type::kFalse); }

void CompactWriter::BinaryField(int16_t id, std::string_view value) {
  FieldHeader(id, Type::kBinary);
  Binary(value);
}

void CompactWriter::Binary(std::string_view value) {
  Varint(value.size());
  out_->append(value);
}

void CompactWriter::StructField(int16_t id) {
  FieldHeader(id, Type::kStruct);
  last_ids_.push_back(0);
}

void CompactWriter::ListField(int16_t id, Type element, size_t size) {
  FieldHeader(id, Type::kList);
  if (size < 15) {
    out_->push_back(static_cast<char>((size << 4) | static_cast<int>(element)));
  } else {
    out_->push_back(static_cast<char>(0xF0 | static_cast<int>(element)));
    Varint(size);
  }
}

void CompactWriter::BeginStruct() { last_ids_.push_back(0); }

void CompactWriter::EndStruct() {
  out_->push_back(0);
  last_ids_.pop_back();
}

void CompactReader::Need(size_t bytes) const {
  if (static_cast<size_t>(end_ - pos_) < bytes) throw FormatError("truncated Thrift data");
}

uint8_t CompactReader::Byte() {
  Need(1);
  return *pos_++;
}

uint64_t CompactReader::Varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t byte = Byte();
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return value;
  }
  throw FormatError("Thrift varint too long");
}

void CompactReader::BeginStruct() {
  if (last_ids_.size() >= kMaxDepth) throw FormatError("Thrift data nested too deeply");
  last_ids_.push_back(0);
}

void CompactReader::EndStruct() { last_ids_.pop_back(); }

bool CompactReader::NextField(int16_t* id, Type* type) {
  uint8_t byte = Byte();
  if (byte == 0) return false;
  *type = static_cast<Type>(byte & 0x0F);
  int delta = byte >> 4;
  int64_t field = delta ? last_ids_.back() + delta : I64();
  if (field < INT16_MIN || field > INT16_MAX) throw FormatError("Thrift field id out of range");
  *id = static_cast<int16_t>(field);
  last_ids_.back() = *id;
  return true;
}

int64_t CompactReader::I64() {
  uint64_t raw = Varint();
  return static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
}

int32_t CompactReader::I32() {
  int64_t value = I64();
  if (value < INT32_MIN || value > INT32_MAX) throw FormatError("Thrift i32 out of range");
  return static_cast<int32_t>(value);
}

bool CompactReader::ElementBool() { return Byte() == static_cast<uint8_t>(Type::kTrue); }

std::string CompactReader::String() {
  uint64_t size = Varint();
  Need(size);
  std::string value(reinterpret_cast<const char*>(pos_), size);
  pos_ += size;
  return value;
}

void CompactReader::ListHeader(Type* element, uint32_t* size) {
  uint8_t byte = Byte();
  *element = static_cast<Type>(byte & 0x0F);
  uint64_t count = byte >> 4;
  if (count == 15) count = Varint();
  // Every element but a bool-typed empty struct takes at least one byte.
  if (count > static_cast<uint64_t>(end_ - pos_)) throw FormatError("Thrift list longer than its data");
  *size = static_cast<uint32_t>(count);
}

void CompactReader::Skip(Type type) { SkipDepth(type, static_cast<int>(last_ids_.size())); }

void CompactReader::SkipDepth(Type type, int depth) {
  if (depth >= kMaxDepth) throw FormatError("Thrift data nested too deeply");
  switch (type) {
    case Type::kTrue:
    case Type::kFalse: return;  // a field's bool lives in its header
    case Type::kByte: Byte(); return;
    case Type::kI16:
    case Type::kI32:
    case Type::kI64: Varint(); return;
    case Type::kDouble: Need(8); pos_ += 8; return;
    case Type::kBinary: {
      uint64_t size = Varint();
      Need(size);
      pos_ += size;
      return;
    }
    case Type::kList:
    case Type::kSet: {
      Type element;
      uint32_t size;
      ListHeader(&element, &size);
      for (uint32_t idx = 0; idx < size; ++idx) {
        if (element == Type::kTrue || element == Type::kFalse) Byte();
        else SkipDepth(element, depth + 1);
      }
      return;
    }
    case Type::kMap: {
      uint64_t size = Varint();
      if (size == 0) return;
      if (size > static_cast<uint64_t>(end_ - pos_)) throw FormatError("Thrift map longer than its data");
      uint8_t types = Byte();
      for (uint64_t idx = 0; idx < size; ++idx) {
        for (Type t : {static_cast<Type>(types >> 4), static_cast<Type>(types & 0x0F)}) {
          if (t == Type::kTrue || t == Type::kFalse) Byte();
          else SkipDepth(t, depth + 1);
        }
      }
      return;
    }
    case Type::kStruct: {
      BeginStruct();
      int16_t id;
      Type field_type;
      while (NextField(&id, &field_type)) SkipDepth(field_type, depth + 1);
      EndStruct();
      return;
    }
    case Type::kStop: break;
  }
  throw FormatError("unknown Thrift type " + std::to_string(static_cast<int>(type)));
}

}  // namespace pipeline::columnar::thrift
