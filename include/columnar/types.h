// Column types and schemas of the columnar engine. The engine depends on
// nothing of the orchestration code; the operators (src/ops) adapt it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline::columnar {

// Physical layout per type (see Column):
//   kInt64     int64_t per row
//   kFloat64   double per row
//   kBool      uint8_t per row, 0 or 1
//   kString    uint32_t offsets[rows + 1] into a byte buffer (UTF-8)
//   kTimestamp int64_t microseconds since the Unix epoch, UTC
enum class DataType : uint8_t { kInt64, kFloat64, kBool, kString, kTimestamp };

// "int64", "float64", "bool", "string", "timestamp".
std::string_view TypeName(DataType type);
std::optional<DataType> ParseTypeName(std::string_view name);
bool IsNumeric(DataType type);  // int64 or float64

struct Field {
  std::string name;
  DataType type = DataType::kString;

  bool operator==(const Field&) const = default;
};

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Field> fields) : fields_(std::move(fields)) {}

  const std::vector<Field>& fields() const { return fields_; }
  int num_fields() const { return static_cast<int>(fields_.size()); }
  const Field& field(int index) const { return fields_[index]; }
  // Index of the column called `name`, or nullopt.
  std::optional<int> IndexOf(std::string_view name) const;
  void Add(Field field) { fields_.push_back(std::move(field)); }
  std::vector<std::string> names() const;

  bool operator==(const Schema&) const = default;

 private:
  std::vector<Field> fields_;
};

// What the engine throws for bad input it cannot represent as a value (an
// unreadable file, a corrupt Parquet footer). The operators translate it into
// the project's Error. `what()` names the file and the place when known.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pipeline::columnar
