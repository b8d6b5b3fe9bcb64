#include "ml/predictor.h"

#include <cmath>
#include <fstream>

#include <simdjson.h>

#include "columnar/compute.h"
#include "ml/xgboost.h"

namespace pipeline::ml {

namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;
using nlohmann::json;

json ParseJson(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw ModelError(what + " is not JSON");
  return j;
}

std::vector<columnar::Field> Fields(const json& list, const std::string& what) {
  if (!list.is_array()) throw ModelError(what + " is not a list of columns");
  std::vector<columnar::Field> out;
  for (const json& f : list) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string()) throw ModelError(what + ": a column has no name");
    auto type = columnar::ParseTypeName(f.value("type", ""));
    if (!type) throw ModelError(what + ": column '" + f["name"].get<std::string>() + "' has no known type");
    out.push_back({f["name"].get<std::string>(), *type});
  }
  return out;
}

const char* JsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "an object";
    default: return "null";
  }
}

// Appends `v` to `b` (a column of `field`'s type), or says why it does not fit.
bool Append(columnar::ColumnBuilder& b, const columnar::Field& field, const json& v, std::string* why) {
  if (v.is_null()) {
    b.AppendNull();
    return true;
  }
  switch (field.type) {
    case DataType::kInt64:
      if (v.is_number_integer()) {
        b.AppendInt(v.get<int64_t>());
        return true;
      }
      if (v.is_number_float()) {  // 3.0 is the integer 3; 3.5 is not one
        double d = v.get<double>();
        if (std::floor(d) == d && std::abs(d) < 9.2e18) {
          b.AppendInt(static_cast<int64_t>(d));
          return true;
        }
      }
      break;
    case DataType::kFloat64:
      if (v.is_number()) {
        b.AppendDouble(v.get<double>());
        return true;
      }
      break;
    case DataType::kBool:
      if (v.is_boolean()) {
        b.AppendBool(v.get<bool>());
        return true;
      }
      break;
    case DataType::kString:
      if (v.is_string()) {
        b.AppendString(v.get<std::string>());
        return true;
      }
      break;
    case DataType::kTimestamp:
      if (v.is_string()) {
        try {
          ColumnPtr t = ValueColumn(v, DataType::kTimestamp, field.name);
          b.AppendInt(t->ints()[0]);
          return true;
        } catch (const ModelError&) {
          *why = "\"" + v.get<std::string>() + "\" is not an ISO-8601 timestamp";
          return false;
        }
      }
      break;
  }
  const std::string type(columnar::TypeName(field.type));
  *why = std::string(JsonTypeName(v)) + " is not " + (type[0] == 'i' ? "an " : "a ") + type + " value";
  return false;
}

}  // namespace

Predictor::~Predictor() = default;

std::shared_ptr<const Predictor> Predictor::Load(const ModelFiles& files, int threads) {
  std::shared_ptr<Predictor> p(new Predictor());
  p->threads_ = threads;
  p->classifier_ = files.kind == "classification";
  if (!p->classifier_ && files.kind != "regression") throw ModelError("unknown model kind '" + files.kind + "'");
  p->features_ = Fields(ParseJson(files.features_json, "the features"), "the features");
  p->chain_ = TransformChain(ParseJson(files.transforms_json.empty() ? "[]" : files.transforms_json, "the transform chain"));
  p->inputs_ = p->chain_.Inputs(p->features_);
  for (size_t j = 0; j < p->inputs_.size(); ++j) p->input_index_[p->inputs_[j].name] = j;
  if (files.format == "xgboost-json") {
    p->xgboost_ = true;
    p->booster_ = std::make_unique<XgbModel>(XgbModel::Load(files.uri, threads));
  } else if (files.format == "pipe-linear-v1") {
    std::ifstream in(files.uri, std::ios::binary);
    if (!in) throw ModelError("cannot read model file " + files.uri);
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("coef") || !doc["coef"].is_array() ||
        !doc.contains("intercept") || !doc["intercept"].is_number()) {
      throw ModelError("model file " + files.uri + " is not a pipe-linear-v1 model");
    }
    for (const json& c : doc["coef"]) {
      if (!c.is_number()) throw ModelError("model file " + files.uri + " has a coefficient that is not a number");
      p->linear_.coef.push_back(c.get<double>());
    }
    p->linear_.intercept = doc["intercept"].get<double>();
    if (p->linear_.coef.size() != p->features_.size()) {
      throw ModelError("model file " + files.uri + " has " + std::to_string(p->linear_.coef.size()) +
                       " coefficients for " + std::to_string(p->features_.size()) + " features");
    }
  } else {
    throw ModelError("unknown model format '" + files.format + "'");
  }
  return p;
}

std::vector<double> Predictor::Predict(const columnar::Table& raw) const {
  for (const columnar::Field& f : inputs_) {
    if (!raw.schema().IndexOf(f.name)) {
      throw RowError(0, f.name, "the rows have no column '" + f.name + "', which the model's features come from");
    }
  }
  columnar::TablePtr table = chain_.empty() ? nullptr : chain_.Apply(raw);
  const columnar::Table& t = table ? *table : raw;
  const int64_t n = t.num_rows();
  // The features, each as a column of doubles.
  std::vector<double> values(features_.size() * static_cast<size_t>(n));
  std::vector<const double*> columns;
  for (size_t j = 0; j < features_.size(); ++j) {
    const columnar::Field& f = features_[j];
    auto idx = t.schema().IndexOf(f.name);
    if (!idx) throw RowError(0, f.name, "feature '" + f.name + "' is missing (after the transform chain)");
    const DataType type = t.schema().field(*idx).type;
    double* dst = values.data() + j * static_cast<size_t>(n);
    columns.push_back(dst);
    int64_t offset = 0;
    for (const columnar::Batch& b : t.batches()) {
      const Column& c = *b.columns[size_t(*idx)];
      double* out = dst + offset;
      switch (type) {
        case DataType::kFloat64: std::copy(c.doubles(), c.doubles() + b.num_rows, out); break;
        case DataType::kInt64:
          for (int64_t i = 0; i < b.num_rows; ++i) out[i] = static_cast<double>(c.ints()[i]);
          break;
        case DataType::kBool:
          for (int64_t i = 0; i < b.num_rows; ++i) out[i] = c.bools()[i] ? 1.0 : 0.0;
          break;
        default:
          throw RowError(0, f.name, "feature '" + f.name + "' is " + std::string(columnar::TypeName(type)) +
                                        ", not a number or bool");
      }
      if (c.has_nulls()) {
        for (int64_t i = 0; i < b.num_rows; ++i) {
          if (c.IsValid(i)) continue;
          if (!xgboost_) {
            throw RowError(offset + i, f.name, "row " + std::to_string(offset + i) + ": feature '" + f.name +
                                                   "' is null, and a linear model cannot score a missing value");
          }
          out[i] = std::nan("");
        }
      }
      offset += b.num_rows;
    }
  }
  std::vector<double> out(static_cast<size_t>(n));
  if (xgboost_) {
    // Small requests, or a request thread: in place, no DMatrix.
    if (threads_ == 1 || n <= 1024) {
      booster_->PredictInPlace(columns, n, out.data());
    } else {
      booster_->Predict(columns, n, out.data());
    }
  } else if (classifier_) {
    PredictLogistic(linear_, columns, n, out.data());
  } else {
    PredictLinear(linear_, columns, n, out.data());
  }
  return out;
}

namespace {

const char* ElementTypeName(simdjson::dom::element v) {
  using simdjson::dom::element_type;
  switch (v.type()) {
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::INT64:
    case element_type::UINT64: return "an integer";
    case element_type::DOUBLE: return "a number";
    case element_type::ARRAY: return "a list";
    case element_type::OBJECT: return "an object";
    default: return "null";
  }
}

// Appends `v` to `b` (a column of `field`'s type), or says why it does not
// fit: the rules of Append() above, on a simdjson value.
bool AppendElement(columnar::ColumnBuilder& b, const columnar::Field& field, simdjson::dom::element v, std::string* why) {
  using simdjson::dom::element_type;
  const element_type t = v.type();
  if (t == element_type::NULL_VALUE) {
    b.AppendNull();
    return true;
  }
  switch (field.type) {
    case DataType::kInt64:
      if (t == element_type::INT64) {
        b.AppendInt(int64_t(v));
        return true;
      }
      if (t == element_type::UINT64 && uint64_t(v) <= uint64_t(INT64_MAX)) {
        b.AppendInt(int64_t(uint64_t(v)));
        return true;
      }
      if (t == element_type::DOUBLE) {  // 3.0 is the integer 3; 3.5 is not one
        double d = double(v);
        if (std::floor(d) == d && std::abs(d) < 9.2e18) {
          b.AppendInt(static_cast<int64_t>(d));
          return true;
        }
      }
      break;
    case DataType::kFloat64:
      if (t == element_type::DOUBLE || t == element_type::INT64 || t == element_type::UINT64) {
        b.AppendDouble(t == element_type::DOUBLE ? double(v) : t == element_type::INT64 ? double(int64_t(v)) : double(uint64_t(v)));
        return true;
      }
      break;
    case DataType::kBool:
      if (t == element_type::BOOL) {
        b.AppendBool(bool(v));
        return true;
      }
      break;
    case DataType::kString:
      if (t == element_type::STRING) {
        b.AppendString(std::string_view(v));
        return true;
      }
      break;
    case DataType::kTimestamp:
      if (t == element_type::STRING) {
        const std::string text{std::string_view(v)};
        try {
          b.AppendInt(ValueColumn(json(text), DataType::kTimestamp, field.name)->ints()[0]);
          return true;
        } catch (const ModelError&) {
          *why = "\"" + text + "\" is not an ISO-8601 timestamp";
          return false;
        }
      }
      break;
  }
  const std::string type(columnar::TypeName(field.type));
  *why = std::string(ElementTypeName(v)) + " is not " + (type[0] == 'i' ? "an " : "a ") + type + " value";
  return false;
}

}  // namespace

columnar::TablePtr Predictor::RowsToTable(std::string_view body, const Extra& extra) const {
  thread_local simdjson::dom::parser parser;  // reused: its buffers grow once per thread
  simdjson::padded_string text(body);
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc)) throw RowError(-1, "", "the body is not valid JSON");
  simdjson::dom::array rows;
  if (doc.type() == simdjson::dom::element_type::OBJECT) {
    if (doc["rows"].get_array().get(rows)) throw RowError(-1, "", "the body must be {\"rows\": [{column: value, ...}, ...]}");
  } else if (doc.get_array().get(rows)) {
    throw RowError(-1, "", "the body must be {\"rows\": [{column: value, ...}, ...]}");
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<columnar::ColumnBuilder> builders;
  for (const auto& f : inputs_) {
    builders.emplace_back(f.type);
    builders.back().Reserve(n);
  }
  std::vector<char> present(inputs_.size());
  int64_t r = 0;
  for (simdjson::dom::element row : rows) {
    simdjson::dom::object fields;
    if (row.get_object().get(fields)) {
      throw RowError(r, "", "row " + std::to_string(r) + " is " + ElementTypeName(row) + ", not an object");
    }
    std::fill(present.begin(), present.end(), 0);
    size_t found = 0;
    for (auto [key, value] : fields) {
      auto it = input_index_.find(key);
      if (it == input_index_.end() || present[it->second]) continue;  // another key, or a repeat
      std::string why;
      if (!AppendElement(builders[it->second], inputs_[it->second], value, &why)) {
        throw RowError(r, inputs_[it->second].name, "row " + std::to_string(r) + ": column '" + inputs_[it->second].name + "': " + why);
      }
      present[it->second] = 1;
      ++found;
    }
    if (found < inputs_.size()) {
      // The inputs the row lacks: online features, else an error. Appended
      // in column order, so the builders stay one value per row.
      json row_json;
      if (extra) row_json = json::parse(simdjson::minify(row), nullptr, false);
      for (size_t j = 0; j < inputs_.size(); ++j) {
        if (present[j]) continue;
        const json* v = extra ? extra(r, row_json, inputs_[j].name) : nullptr;
        if (!v) throw RowError(r, inputs_[j].name, "row " + std::to_string(r) + ": missing column '" + inputs_[j].name + "'");
        std::string why;
        if (!Append(builders[j], inputs_[j], *v, &why)) {
          throw RowError(r, inputs_[j].name, "row " + std::to_string(r) + ": column '" + inputs_[j].name + "': " + why);
        }
      }
    }
    ++r;
  }
  auto table = std::make_shared<columnar::Table>(columnar::Schema(inputs_));
  columnar::Batch batch{n, {}};
  for (auto& b : builders) batch.columns.push_back(b.Finish());
  table->AddBatch(std::move(batch));
  return table;
}

columnar::TablePtr Predictor::ColumnsToTable(const json& columns, int64_t rows) const {
  std::vector<columnar::ColumnBuilder> builders;
  columnar::Batch batch{rows, {}};
  for (const auto& f : inputs_) {
    auto it = columns.find(f.name);
    if (it == columns.end()) throw RowError(0, f.name, "missing input '" + f.name + "'");
    if (!it->is_array() || static_cast<int64_t>(it->size()) != rows) {
      throw RowError(0, f.name, "input '" + f.name + "' must hold " + std::to_string(rows) + " values");
    }
    columnar::ColumnBuilder b(f.type);
    b.Reserve(rows);
    for (int64_t r = 0; r < rows; ++r) {
      std::string why;
      if (!Append(b, f, (*it)[size_t(r)], &why)) {
        throw RowError(r, f.name, "input '" + f.name + "', value " + std::to_string(r) + ": " + why);
      }
    }
    batch.columns.push_back(b.Finish());
  }
  auto table = std::make_shared<columnar::Table>(columnar::Schema(inputs_));
  table->AddBatch(std::move(batch));
  return table;
}

}  // namespace pipeline::ml
