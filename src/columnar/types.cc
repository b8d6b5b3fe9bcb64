#include "columnar/types.h"

namespace pipeline::columnar {

std::string_view TypeName(DataType type) {
  switch (type) {
    case DataType::kInt64: return "int64";
    case DataType::kFloat64: return "float64";
    case DataType::kBool: return "bool";
    case DataType::kString: return "string";
    case DataType::kTimestamp: return "timestamp";
  }
  return "?";
}

std::optional<DataType> ParseTypeName(std::string_view name) {
  for (DataType t : {DataType::kInt64, DataType::kFloat64, DataType::kBool, DataType::kString,
                     DataType::kTimestamp}) {
    if (TypeName(t) == name) return t;
  }
  return std::nullopt;
}

bool IsNumeric(DataType type) { return type == DataType::kInt64 || type == DataType::kFloat64; }

std::optional<int> Schema::IndexOf(std::string_view name) const {
  for (int i = 0; i < num_fields(); ++i) {
    if (fields_[i].name == name) return i;
  }
  return std::nullopt;
}

std::vector<std::string> Schema::names() const {
  std::vector<std::string> out;
  out.reserve(fields_.size());
  for (const Field& f : fields_) out.push_back(f.name);
  return out;
}

}  // namespace pipeline::columnar
