// A minimal Thrift compact protocol encoder and decoder, enough for the
// Parquet footer and page headers (private to the columnar module).
//
// Wire format (thrift/doc/specs/thrift-compact-protocol.md): field headers
// carry a 4-bit id delta and a 4-bit type; integers are zigzag varints;
// binary is a varint length plus bytes; booleans in fields live in the type
// nibble; lists carry their size and element type in one byte when short.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline::columnar::thrift {

// Compact protocol type ids.
enum class Type : uint8_t {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

// Appends compact-protocol bytes to a std::string. Structs nest: every
// BeginStruct (or StructField / a struct list element) needs its EndStruct.
class CompactWriter {
 public:
  explicit CompactWriter(std::string* out) : out_(out) {}

  void I16Field(int16_t id, int16_t value);
  void I32Field(int16_t id, int32_t value);
  void I64Field(int16_t id, int64_t value);
  void BoolField(int16_t id, bool value);
  void BinaryField(int16_t id, std::string_view value);
  // Opens a struct-valued field; close it with EndStruct.
  void StructField(int16_t id);
  // Opens a list-valued field of `size` elements of `element` type; write
  // the elements with I32/Binary/BeginStruct right after.
  void ListField(int16_t id, Type element, size_t size);

  void I32(int32_t value) { Varint(ZigZag(value)); }
  void Binary(std::string_view value);
  // Opens a struct that is not a field (the top level or a list element).
  void BeginStruct();
  // Writes the stop byte and returns to the enclosing struct.
  void EndStruct();

 private:
  static uint64_t ZigZag(int64_t value) {
    return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  }
  void FieldHeader(int16_t id, Type type);
  void Varint(uint64_t value);

  std::string* out_;
  std::vector<int16_t> last_ids_{0};
};

// Reads compact-protocol bytes from a bounded span. Every read checks the
// bounds; lists and strings are checked against the bytes left before
// anything is allocated; nesting is limited to kMaxDepth. Errors throw
// columnar::FormatError saying what is wrong ("truncated Thrift data"); the
// callers add where.
class CompactReader {
 public:
  static constexpr int kMaxDepth = 32;

  CompactReader(const uint8_t* data, size_t size) : pos_(data), end_(data + size), begin_(data) {}

  void BeginStruct();
  // Reads the next field header: false at the struct's stop byte.
  bool NextField(int16_t* id, Type* type);
  void EndStruct();

  int8_t I8() { return static_cast<int8_t>(Byte()); }
  int32_t I32();
  int64_t I64();
  // A field's bool lives in its type; a list element's in one byte.
  static bool FieldBool(Type type) { return type == Type::kTrue; }
  bool ElementBool();
  std::string String();
  // Element type and size of a list or set; the size is at most the bytes
  // left (every element takes one byte or more, except bool-less empties).
  void ListHeader(Type* element, uint32_t* size);
  // Skips one value of `type`, any type, recursing at most kMaxDepth deep.
  void Skip(Type type);

  size_t position() const { return static_cast<size_t>(pos_ - begin_); }

 private:
  uint8_t Byte();
  uint64_t Varint();
  void Need(size_t bytes) const;
  void SkipDepth(Type type, int depth);

  const uint8_t* pos_;
  const uint8_t* end_;
  const uint8_t* begin_;
  std::vector<int16_t> last_ids_;
};

}  // namespace pipeline::columnar::thrift
