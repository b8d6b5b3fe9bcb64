#include "columnar/jsonl.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <simdjson.h>

#include "columnar/value_parse.h"

namespace pipeline::columnar {
namespace {

struct Line {
  std::string_view text;
  int64_t number;  // 1-based
};

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  int64_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    ++number;
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) lines.push_back({line, number});
    pos = end + 1;
  }
  return lines;
}

// What one value says about its column's type; nullopt for null.
std::optional<DataType> KindOf(simdjson::dom::element v, bool* nested) {
  using simdjson::dom::element_type;
  switch (v.type()) {
    case element_type::INT64: return DataType::kInt64;
    case element_type::UINT64:
    case element_type::DOUBLE: return DataType::kFloat64;
    case element_type::BOOL: return DataType::kBool;
    case element_type::STRING: {
      int64_t t;
      return ParseTimestamp(std::string_view(v.get_string().value_unsafe()), &t) ? DataType::kTimestamp
                                                                                 : DataType::kString;
    }
    case element_type::NULL_VALUE: return std::nullopt;
    case element_type::ARRAY:
    case element_type::OBJECT: *nested = true; return std::nullopt;
  }
  return std::nullopt;
}

struct Source {
  std::string name;
  simdjson::padded_string text;
};

class JsonlReader {
 public:
  JsonlReader(std::vector<Source> sources, const JsonlOptions& options)
      : sources_(std::move(sources)), options_(options) {}

  CsvReadResult Read() {
    size_t total = 0;
    for (const Source& s : sources_) {
      std::string_view text(s.text.data(), s.text.size());
      if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte-order mark, as CSV skips it
      lines_.push_back(SplitLines(text));
      total += lines_.back().size();
    }
    if (total == 0) throw FormatError(sources_.front().name + ": the file is empty (no JSON lines)");
    InferSchema();
    return Build();
  }

 private:
  // Parses a line; an error message when it is not a JSON object.
  std::optional<std::string> Parse(const Line& line, simdjson::dom::object* out) {
    auto doc = parser_.parse(line.text.data(), line.text.size(), false);
    if (doc.error() == simdjson::NUMBER_ERROR) {
      // simdjson refuses integers beyond 64 bits: read them as float64, as
      // Python's json and pandas do (a number beyond float64 stays an error).
      if (std::optional<std::string> widened = WidenBigIntegers(line.text)) {
        // The DOM keeps copies of what it reads: the text may go after the parse.
        const simdjson::padded_string text(*widened);
        doc = parser_.parse(text);
        if (doc.error() == simdjson::NUMBER_ERROR) return "invalid JSON: a number beyond float64's range";
      } else {
        return "invalid JSON: a number beyond float64's range, or malformed";
      }
    }
    if (doc.error()) return std::string("invalid JSON: ") + simdjson::error_message(doc.error());
    auto obj = doc.value_unsafe().get_object();
    if (obj.error()) return std::string("not a JSON object");
    *out = obj.value_unsafe();
    return std::nullopt;
  }

  // `text` with ".0" after each integer outside strings that fits neither
  // int64 nor uint64; nullopt when there is none.
  static std::optional<std::string> WidenBigIntegers(std::string_view text) {
    std::string out;
    bool changed = false, in_string = false;
    for (size_t i = 0; i < text.size();) {
      const char c = text[i];
      if (in_string) {
        out += c;
        if (c == '\\' && i + 1 < text.size()) {
          out += text[++i];
        } else if (c == '"') {
          in_string = false;
        }
        ++i;
        continue;
      }
      if (c == '"') in_string = true;
      if (c != '-' && (c < '0' || c > '9')) {
        out += c;
        ++i;
        continue;
      }
      size_t end = i + 1;
      while (end < text.size() && std::strchr("0123456789.eE+-", text[end]) != nullptr) ++end;
      const std::string_view token = text.substr(i, end - i);
      out += token;
      if (token.find_first_of(".eE") == std::string_view::npos) {
        int64_t s;
        uint64_t u;
        const char* b = token.data();
        const char* e = b + token.size();
        if (std::from_chars(b, e, s).ec == std::errc::result_out_of_range &&
            (token[0] == '-' || std::from_chars(b, e, u).ec == std::errc::result_out_of_range)) {
          out += ".0";
          changed = true;
        }
      }
      i = end;
    }
    if (!changed) return std::nullopt;
    return out;
  }

  void InferSchema() {
    std::map<std::string, std::optional<DataType>> seen;
    for (const auto& file : lines_) {
      for (const Line& line : file) {
        simdjson::dom::object obj;
        if (Parse(line, &obj)) continue;
        for (auto field : obj) {
          std::string key(field.key);
          if (std::find(names_.begin(), names_.end(), key) == names_.end()) names_.push_back(key);
          bool nested = false;
          auto kind = KindOf(field.value, &nested);
          if (!kind) continue;
          auto& s = seen[key];
          s = s ? WidenType(*s, *kind) : *kind;
        }
      }
    }
    for (const auto& [key, type] : options_.types) {
      if (std::find(names_.begin(), names_.end(), key) == names_.end()) names_.push_back(key);
    }
    for (const std::string& n : names_) {
      auto declared = options_.types.find(n);
      types_.push_back(declared != options_.types.end() ? declared->second
                                                        : seen[n].value_or(DataType::kString));
    }
  }

  // Appends `v` to `b` when it fits; false otherwise.
  static bool AppendValue(ColumnBuilder& b, simdjson::dom::element v) {
    using simdjson::dom::element_type;
    if (v.type() == element_type::NULL_VALUE) {
      b.AppendNull();
      return true;
    }
    switch (b.type()) {
      case DataType::kInt64:
        if (v.type() != element_type::INT64) return false;
        b.AppendInt(v.get_int64().value_unsafe());
        return true;
      case DataType::kFloat64:
        if (!v.is_number()) return false;
        b.AppendDouble(v.get_double().value_unsafe());
        return true;
      case DataType::kBool:
        if (v.type() != element_type::BOOL) return false;
        b.AppendBool(v.get_bool().value_unsafe());
        return true;
      case DataType::kTimestamp: {
        int64_t t;
        if (v.type() != element_type::STRING || !ParseTimestamp(std::string_view(v.get_string().value_unsafe()), &t)) {
          return false;
        }
        b.AppendInt(t);
        return true;
      }
      case DataType::kString:
        if (v.type() == element_type::STRING) {
          b.AppendString(std::string_view(v.get_string().value_unsafe()));
        } else if (v.type() == element_type::ARRAY || v.type() == element_type::OBJECT) {
          return false;
        } else {
          b.AppendString(simdjson::minify(v));
        }
        return true;
    }
    return false;
  }

  CsvReadResult Build() {
    Schema schema;
    for (size_t c = 0; c < names_.size(); ++c) schema.Add({names_[c], types_[c]});
    auto table = std::make_shared<Table>(schema);
    Schema qschema;
    qschema.Add({"_line_text", DataType::kString});
    qschema.Add({"_source_file", DataType::kString});
    qschema.Add({"_source_line", DataType::kInt64});
    qschema.Add({"_reason", DataType::kString});
    auto quarantine = std::make_shared<Table>(qschema);
    std::vector<ColumnBuilder> q;
    for (const Field& f : qschema.fields()) q.emplace_back(f.type);

    CsvReadResult out;
    std::vector<ColumnBuilder> cols;
    for (DataType t : types_) cols.emplace_back(t);
    auto flush = [&] {
      if (cols.empty() || cols[0].length() == 0) return;
      Batch b;
      b.num_rows = cols[0].length();
      for (ColumnBuilder& c : cols) b.columns.push_back(c.Finish());
      table->AddBatch(std::move(b));
    };
    for (size_t f = 0; f < sources_.size(); ++f) {
      for (const Line& line : lines_[f]) {
        ++out.rows_read;
        std::string why;
        simdjson::dom::object obj;
        if (auto err = Parse(line, &obj)) {
          why = *err;
        } else {
          why = CheckRow(obj);
        }
        if (!why.empty()) {
          if (!options_.quarantine_bad_rows) {
            throw FormatError(sources_[f].name + ":" + std::to_string(line.number) + ": " + why);
          }
          q[0].AppendString(ValidUtf8(line.text));
          q[1].AppendString(sources_[f].name);
          q[2].AppendInt(line.number);
          q[3].AppendString(why);
          continue;
        }
        for (size_t c = 0; c < names_.size(); ++c) {
          if (row_[c]) {
            AppendValue(cols[c], *row_[c]);
          } else {
            cols[c].AppendNull();
          }
        }
        if (cols.size() && cols[0].length() >= kDefaultBatchRows) flush();
      }
    }
    flush();
    if (q[0].length() > 0) {
      Batch b;
      b.num_rows = q[0].length();
      for (ColumnBuilder& c : q) b.columns.push_back(c.Finish());
      quarantine->AddBatch(std::move(b));
    }
    out.table = table;
    out.quarantine = quarantine;
    return out;
  }

  // Reads the row's value of each column into row_ (none when absent); a
  // key given twice counts with its last value, as in Python's json and
  // pandas. Then "" when every value fits its column.
  std::string CheckRow(simdjson::dom::object obj) {
    if (index_.empty()) {
      for (size_t c = 0; c < names_.size(); ++c) index_.emplace(names_[c], c);
    }
    row_.assign(names_.size(), std::nullopt);
    for (auto field : obj) {
      if (auto it = index_.find(field.key); it != index_.end()) row_[it->second] = field.value;
    }
    for (size_t c = 0; c < names_.size(); ++c) {
      if (!row_[c]) continue;
      ColumnBuilder probe(types_[c]);
      if (!AppendValue(probe, *row_[c])) {
        bool nested = false;
        KindOf(*row_[c], &nested);
        if (nested) return "column " + names_[c] + ": nested values are not supported";
        return "column " + names_[c] + ": " + std::string(Utf8Prefix(simdjson::minify(*row_[c]), 40)) +
               " is not of type " + std::string(TypeName(types_[c]));
      }
    }
    return "";
  }

  std::vector<Source> sources_;
  const JsonlOptions& options_;
  std::vector<std::vector<Line>> lines_;
  std::vector<std::string> names_;
  std::vector<DataType> types_;
  std::unordered_map<std::string_view, size_t> index_;  // names_ -> column (views of names_)
  std::vector<std::optional<simdjson::dom::element>> row_;  // the row CheckRow read
  simdjson::dom::parser parser_;
};

}  // namespace

CsvReadResult ReadJsonlFiles(const std::vector<std::string>& paths, const JsonlOptions& options) {
  std::vector<Source> sources;
  for (const std::string& p : paths) {
    auto text = simdjson::padded_string::load(p);
    if (text.error()) throw FormatError(p + ": cannot read: " + simdjson::error_message(text.error()));
    Source s;
    s.name = p;
    s.text = std::move(text).value_unsafe();
    sources.push_back(std::move(s));
  }
  return JsonlReader(std::move(sources), options).Read();
}

CsvReadResult ReadJsonlText(std::string_view text, const std::string& name, const JsonlOptions& options) {
  std::vector<Source> sources;
  Source s;
  s.name = name;
  s.text = simdjson::padded_string(text);
  sources.push_back(std::move(s));
  return JsonlReader(std::move(sources), options).Read();
}

}  // namespace pipeline::columnar
