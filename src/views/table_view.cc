#include "views/table_view.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "columnar/compute.h"
#include "columnar/parquet.h"
#include "core/error.h"

namespace pipeline::views {

using nlohmann::json;

json CellJson(const columnar::Column& column, int64_t row) {
  if (column.IsNull(row)) return nullptr;
  switch (column.type()) {
    case columnar::DataType::kInt64:
      return column.ints()[row];
    case columnar::DataType::kFloat64:
      return std::isfinite(column.doubles()[row]) ? json(column.doubles()[row]) : json(nullptr);
    case columnar::DataType::kBool:
      return column.bools()[row] != 0;
    default:
      return columnar::ValueText(column, row);
  }
}

json ArtifactRowsJson(const ArtifactRecord& artifact, int64_t offset, int64_t limit, bool hide_pii) {
  const std::string& uri = artifact.uri;
  if (uri.size() < 8 || uri.compare(uri.size() - 8, 8, ".parquet") != 0) {
    throw Error::InvalidArgument("artifact '" + artifact.name + "' of task '" + artifact.task_id +
                                 "' is not a table (" + std::filesystem::path(uri).filename().string() + ")");
  }
  if (!std::filesystem::exists(uri)) {
    throw Error::NotFound("the file of artifact '" + artifact.name + "' of task '" + artifact.task_id + "' is gone: " +
                          uri);
  }
  columnar::ParquetReadOptions options;
  options.row_offset = offset;
  options.row_limit = limit;
  options.threads = 1;
  columnar::TablePtr table;
  try {
    table = columnar::ReadParquetFile(uri, options);
  } catch (const columnar::FormatError& e) {
    throw Error::Corruption(std::string("cannot read artifact '") + artifact.name + "': " + e.what());
  }
  json columns = json::array();
  for (const columnar::Field& f : table->schema().fields()) {
    columns.push_back({{"name", f.name}, {"type", std::string(columnar::TypeName(f.type))}});
  }
  std::vector<char> hidden(table->schema().fields().size(), 0);
  if (hide_pii) {
    const json schema = json::parse(artifact.schema_json, nullptr, false);
    if (schema.is_object() && schema.contains("pii") && schema["pii"].is_array()) {
      for (const json& name : schema["pii"]) {
        if (!name.is_string()) continue;
        if (auto idx = table->schema().IndexOf(name.get<std::string>())) hidden[size_t(*idx)] = 1;
      }
    }
  }
  json rows = json::array();
  for (const columnar::Batch& batch : table->batches()) {
    for (int64_t r = 0; r < batch.num_rows; ++r) {
      json row = json::array();
      for (size_t c = 0; c < batch.columns.size(); ++c) {
        json cell = CellJson(*batch.columns[c], r);
        row.push_back(hidden[c] && !cell.is_null() ? json("(personal data)") : std::move(cell));
      }
      rows.push_back(std::move(row));
    }
  }
  return {{"task_id", artifact.task_id}, {"name", artifact.name},  {"total_rows", artifact.row_count},
          {"offset", offset},            {"limit", limit},         {"columns", columns},
          {"rows", rows}};
}

json ArtifactDocumentJson(const ArtifactRecord& artifact, uintmax_t max_bytes) {
  const std::string& uri = artifact.uri;
  const std::string what = "artifact '" + artifact.name + "' of task '" + artifact.task_id + "'";
  if (uri.size() < 5 || uri.compare(uri.size() - 5, 5, ".json") != 0) {
    throw Error::InvalidArgument(what + " is not a JSON document (" + std::filesystem::path(uri).filename().string() +
                                 "); a table's rows are under .../rows");
  }
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(uri, ec);
  if (ec) throw Error::NotFound("the file of " + what + " is gone: " + uri);
  if (size > max_bytes) {
    throw Error::InvalidArgument(what + " has " + std::to_string(size) + " bytes, more than the " +
                                 std::to_string(max_bytes) + " the API returns");
  }
  std::ifstream in(uri, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  json content = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (content.is_discarded()) throw Error::Corruption(what + " is not valid JSON: " + uri);
  return {{"task_id", artifact.task_id},
          {"name", artifact.name},
          {"content_hash", artifact.content_hash},
          {"content", std::move(content)}};
}

}  // namespace pipeline::views
