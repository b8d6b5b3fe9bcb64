#include "ml/predictor.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include <simdjson.h>

#include "columnar/compute.h"
#include "columnar/file_hash.h"
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

// A JSON value as the type rules below see it, from either JSON library:
// simdjson for request bodies, nlohmann for OIP inputs and online features.
struct Scalar {
  enum Kind { kNull, kInt, kUint, kDouble, kBool, kString, kList, kObject } kind = kNull;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::string_view s;
};

Scalar Of(const json& v) {
  Scalar x;
  switch (v.type()) {
    case json::value_t::number_integer: x.kind = Scalar::kInt; x.i = v.get<int64_t>(); break;
    case json::value_t::number_unsigned: x.kind = Scalar::kUint; x.u = v.get<uint64_t>(); break;
    case json::value_t::number_float: x.kind = Scalar::kDouble; x.d = v.get<double>(); break;
    case json::value_t::boolean: x.kind = Scalar::kBool; x.b = v.get<bool>(); break;
    case json::value_t::string: x.kind = Scalar::kString; x.s = v.get_ref<const std::string&>(); break;
    case json::value_t::array: x.kind = Scalar::kList; break;
    case json::value_t::object: x.kind = Scalar::kObject; break;
    default: break;
  }
  return x;
}

Scalar Of(simdjson::dom::element v) {
  using simdjson::dom::element_type;
  Scalar x;
  switch (v.type()) {
    case element_type::INT64: x.kind = Scalar::kInt; x.i = int64_t(v); break;
    case element_type::UINT64: x.kind = Scalar::kUint; x.u = uint64_t(v); break;
    case element_type::DOUBLE: x.kind = Scalar::kDouble; x.d = double(v); break;
    case element_type::BOOL: x.kind = Scalar::kBool; x.b = bool(v); break;
    case element_type::STRING: x.kind = Scalar::kString; x.s = std::string_view(v); break;
    case element_type::ARRAY: x.kind = Scalar::kList; break;
    case element_type::OBJECT: x.kind = Scalar::kObject; break;
    default: break;
  }
  return x;
}

const char* KindName(Scalar::Kind kind) {
  switch (kind) {
    case Scalar::kString: return "a string";
    case Scalar::kBool: return "a boolean";
    case Scalar::kInt:
    case Scalar::kUint: return "an integer";
    case Scalar::kDouble: return "a number";
    case Scalar::kList: return "a list";
    case Scalar::kObject: return "an object";
    default: return "null";
  }
}

// The int64 a JSON number stands for: an integral number (3.0 is 3) in range.
bool IntOf(const Scalar& v, int64_t* out) {
  if (v.kind == Scalar::kInt) {
    *out = v.i;
    return true;
  }
  if (v.kind == Scalar::kUint && v.u <= uint64_t(INT64_MAX)) {
    *out = int64_t(v.u);
    return true;
  }
  if (v.kind == Scalar::kDouble && std::floor(v.d) == v.d && std::abs(v.d) < 9.2e18) {
    *out = static_cast<int64_t>(v.d);
    return true;
  }
  return false;
}

bool IsNumber(const Scalar& v) { return v.kind == Scalar::kInt || v.kind == Scalar::kUint || v.kind == Scalar::kDouble; }
double DoubleOf(const Scalar& v) { return v.kind == Scalar::kDouble ? v.d : v.kind == Scalar::kInt ? double(v.i) : double(v.u); }

std::string Mismatch(const columnar::Field& field, const Scalar& v) {
  const std::string type(columnar::TypeName(field.type));
  return std::string(KindName(v.kind)) + " is not " + (type[0] == 'i' ? "an " : "a ") + type + " value";
}

// Appends `v` to `b` (a column of `field`'s type), or says why it does not
// fit. Null is a null value; an integral number is an int64 (3.0 is 3).
bool Append(columnar::ColumnBuilder& b, const columnar::Field& field, const Scalar& v, std::string* why) {
  if (v.kind == Scalar::kNull) {
    b.AppendNull();
    return true;
  }
  switch (field.type) {
    case DataType::kInt64:
      if (int64_t i; IntOf(v, &i)) {
        b.AppendInt(i);
        return true;
      }
      break;
    case DataType::kFloat64:
      if (IsNumber(v)) {
        b.AppendDouble(DoubleOf(v));
        return true;
      }
      break;
    case DataType::kBool:
      if (v.kind == Scalar::kBool) {
        b.AppendBool(v.b);
        return true;
      }
      break;
    case DataType::kString:
      if (v.kind == Scalar::kString) {
        b.AppendString(v.s);
        return true;
      }
      break;
    case DataType::kTimestamp:
      if (v.kind == Scalar::kString) {
        const std::string text(v.s);
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
  *why = Mismatch(field, v);
  return false;
}

// What a non-null `v` is as a feature of `field`'s type (int64, float64 or
// bool): the double the column Append fills would give PredictFeatures.
bool FeatureOf(const columnar::Field& field, const Scalar& v, double* out, std::string* why) {
  switch (field.type) {
    case DataType::kInt64:
      if (int64_t i; IntOf(v, &i)) {
        *out = static_cast<double>(i);
        return true;
      }
      break;
    case DataType::kFloat64:
      if (IsNumber(v)) {
        *out = DoubleOf(v);
        return true;
      }
      break;
    case DataType::kBool:
      if (v.kind == Scalar::kBool) {
        *out = v.b ? 1.0 : 0.0;
        return true;
      }
      break;
    default: break;
  }
  *why = Mismatch(field, v);
  return false;
}

// Whether a row's key is a feature's name (inline: most keys are short).
inline bool SameKey(const std::string& name, std::string_view key) {
  if (name.size() != key.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (name[i] != key[i]) return false;
  }
  return true;
}

// The rows of a request body: {"rows": [...]} or the list itself.
simdjson::dom::array RequestRows(simdjson::dom::parser& parser, const simdjson::padded_string& text) {
  simdjson::dom::element doc;
  if (auto error = parser.parse(text).get(doc)) {
    // Valid JSON that simdjson refuses: an integer beyond 64 bits (a float
    // beyond a double is refused by both).
    if (error == simdjson::NUMBER_ERROR && json::accept(std::string_view(text.data(), text.size()))) {
      throw RowError(-1, "", "the body holds an integer beyond 64 bits (no feature takes one; write it as a float, "
                             "1.5e30)");
    }
    // simdjson's reason ("The JSON number is too large or too small to fit
    // within the requested type.", say): a number beyond a double.
    throw RowError(-1, "", "the body is not valid JSON: " + std::string(simdjson::error_message(error)));
  }
  simdjson::dom::array rows;
  if (doc.type() == simdjson::dom::element_type::OBJECT) {
    if (doc["rows"].get_array().get(rows)) throw RowError(-1, "", "the body must be {\"rows\": [{column: value, ...}, ...]}");
  } else if (doc.get_array().get(rows)) {
    throw RowError(-1, "", "the body must be {\"rows\": [{column: value, ...}, ...]}");
  }
  return rows;
}

// A key twice in a row: which value is meant is not for us to guess.
RowError Twice(int64_t r, const std::string& column) {
  return RowError(r, column, "row " + std::to_string(r) + ": column '" + column + "' is given twice");
}

RowError NotAnObject(int64_t r, simdjson::dom::element row) {
  return RowError(r, "", "row " + std::to_string(r) + " is " + KindName(Of(row).kind) + ", not an object");
}

RowError BadValue(int64_t r, const std::string& column, const std::string& why) {
  return RowError(r, column, "row " + std::to_string(r) + ": column '" + column + "': " + why);
}

// One batch's column of a table to score as the model's input `field`
// takes it, the way the request path reads the same values: int64 for a
// float64 input (an integer is a number), float64 of integral values for
// an int64 one (3.0 is 3), a column of nulls whatever its type (a CSV column
// of empty fields reads as string). Anything else is a RowError naming the
// first row that does not fit (a bool is not a number, 2.5 not an int64).
ColumnPtr AsInput(const ColumnPtr& c, const columnar::Field& field, DataType raw, int64_t offset) {
  if (raw == field.type) return c;
  const int64_t n = c->length();
  if (c->null_count() == n) return columnar::NullColumn(field.type, n);
  auto out = std::make_shared<Column>(field.type, n);
  const std::string type(columnar::TypeName(field.type));
  auto refuse = [&](int64_t row, const std::string& what) {
    return RowError(offset + row, field.name,
                    "row " + std::to_string(offset + row) + ": column '" + field.name + "': " + what + " is not " +
                        (type[0] == 'i' ? "an " : "a ") + type + " value (the model was trained on " + type + ")");
  };
  if (field.type == DataType::kFloat64 && raw == DataType::kInt64) {
    for (int64_t i = 0; i < n; ++i) out->mutable_values().as<double>()[i] = double(c->ints()[i]);
  } else if (field.type == DataType::kInt64 && raw == DataType::kFloat64) {
    for (int64_t i = 0; i < n; ++i) {
      const double v = c->doubles()[i];
      if (c->IsNull(i)) continue;
      if (!(std::floor(v) == v && std::abs(v) < 9.2e18)) {
        char text[32];
        std::snprintf(text, sizeof text, "%.17g", v);
        throw refuse(i, text);
      }
      out->mutable_values().as<int64_t>()[i] = static_cast<int64_t>(v);
    }
  } else {
    int64_t first = 0;
    while (c->IsNull(first)) ++first;
    throw refuse(first, "a " + std::string(columnar::TypeName(raw)));
  }
  if (c->has_nulls()) {
    uint64_t* bits = out->EnsureValidity();
    std::copy(c->validity(), c->validity() + columnar::BitmapWords(n), bits);  // null slots stay 0
    out->FinishValidity();
  }
  return out;
}

// `raw` with its model inputs of the types the model was trained on (see
// AsInput); nullptr when they are already.
columnar::TablePtr Conform(const columnar::Table& raw, const std::vector<columnar::Field>& inputs) {
  std::vector<std::pair<int, const columnar::Field*>> changed;
  for (const columnar::Field& f : inputs) {
    const int idx = *raw.schema().IndexOf(f.name);
    if (raw.schema().field(idx).type != f.type) changed.emplace_back(idx, &f);
  }
  if (changed.empty()) return nullptr;
  std::vector<columnar::Field> fields = raw.schema().fields();
  for (const auto& [idx, f] : changed) fields[size_t(idx)].type = f->type;
  auto out = std::make_shared<columnar::Table>(columnar::Schema(std::move(fields)));
  int64_t offset = 0;
  for (const columnar::Batch& b : raw.batches()) {
    columnar::Batch nb = b;
    for (const auto& [idx, f] : changed) {
      nb.columns[size_t(idx)] = AsInput(b.columns[size_t(idx)], *f, raw.schema().field(idx).type, offset);
    }
    out->AddBatch(std::move(nb));
    offset += b.num_rows;
  }
  for (const auto& [k, v] : raw.metadata()) out->SetMetadata(k, v);
  return out;
}

RowError Missing(int64_t r, const std::string& column) {
  return RowError(r, column, "row " + std::to_string(r) + ": missing column '" + column + "'");
}

RowError BeyondFloat32(int64_t r, const std::string& feature, double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return RowError(r, feature, "row " + std::to_string(r) + ": feature '" + feature + "' is " +
                                  (std::isinf(value) ? std::string(value < 0 ? "-inf" : "inf") : std::string(text)) +
                                  ": xgboost takes finite float32 values (up to 3.4e38)");
}

RowError NullForLinear(int64_t r, const std::string& feature) {
  return RowError(r, feature, "row " + std::to_string(r) + ": feature '" + feature +
                                  "' is null, and a linear model cannot score a missing value");
}

RowError NotFiniteForLinear(int64_t r, const std::string& feature, double value) {
  return RowError(r, feature, "row " + std::to_string(r) + ": feature '" + feature + "' is " +
                                  (std::isnan(value) ? "NaN" : value > 0 ? "infinity" : "-infinity") +
                                  ", and a linear model can only score finite numbers");
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
  // Without a chain the inputs are the features (in another order).
  p->direct_ = p->chain_.empty() && p->inputs_.size() == p->features_.size() &&
               std::all_of(p->features_.begin(), p->features_.end(), [](const columnar::Field& f) {
                 return f.type == DataType::kFloat64 || f.type == DataType::kInt64 || f.type == DataType::kBool;
               });
  for (size_t k = 0; k < p->inputs_.size() && p->direct_; ++k) {
    auto f = std::find(p->features_.begin(), p->features_.end(), p->inputs_[k]);
    p->direct_ = f != p->features_.end();
    p->input_feature_.push_back(size_t(f - p->features_.begin()));
  }
  if (!files.content_hash.empty()) {
    std::optional<std::string> hash = columnar::FileContentHash(files.uri);
    if (!hash) throw ModelError("cannot read model file " + files.uri);
    if (*hash != files.content_hash) {
      throw ModelError("model file " + files.uri + " is not the file the registry recorded: its content hash is " +
                       *hash + ", recorded " + files.content_hash);
    }
  }
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
  columnar::TablePtr conformed = Conform(raw, inputs_);
  const columnar::Table& input = conformed ? *conformed : raw;
  columnar::TablePtr table = chain_.empty() ? nullptr : chain_.Apply(input);
  return PredictFeatures(table ? *table : input);
}

std::vector<double> Predictor::PredictFeatures(const columnar::Table& t) const {
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
          if (!xgboost_) throw NullForLinear(offset + i, f.name);
          out[i] = std::nan("");
        }
      }
      offset += b.num_rows;
    }
  }
  return Score(columns, n);
}

std::vector<double> Predictor::Score(const std::vector<const double*>& columns, int64_t n) const {
  std::vector<double> out(static_cast<size_t>(n));
  if (xgboost_) {
    // What training refuses: XGBoost reads float32 and has no meaning for an
    // infinity (NaN is its missing value).
    for (size_t j = 0; j < columns.size(); ++j) {
      for (int64_t r = 0; r < n; ++r) {
        const double v = columns[j][r];
        if (std::fabs(v) > double(std::numeric_limits<float>::max())) throw BeyondFloat32(r, features_[j].name, v);
      }
    }
    // A request thread, or too few rows to share: this thread only.
    if (threads_ == 1 || n <= 1024) {
      booster_->PredictInPlace(columns, n, out.data());
    } else {
      booster_->Predict(columns, n, out.data());
    }
  } else {
    // What scikit-learn refuses too ("Input X contains NaN/infinity"): a
    // linear model has no meaning for them, and would answer NaN silently.
    for (size_t j = 0; j < columns.size(); ++j) {
      for (int64_t r = 0; r < n; ++r) {
        if (!std::isfinite(columns[j][r])) throw NotFiniteForLinear(r, features_[j].name, columns[j][r]);
      }
    }
    if (classifier_) {
      PredictLogistic(linear_, columns, n, out.data());
    } else {
      PredictLinear(linear_, columns, n, out.data());
    }
    for (int64_t r = 0; r < n; ++r) {
      if (!std::isfinite(out[size_t(r)])) {
        throw RowError(r, "", "row " + std::to_string(r) +
                                  ": the prediction is not a finite number (the feature values overflow the model)");
      }
    }
  }
  return out;
}

columnar::TablePtr Predictor::RowsToTable(std::string_view body, const Extra& extra) const {
  thread_local simdjson::dom::parser parser;  // reused: its buffers grow once per thread
  simdjson::padded_string text(body);
  simdjson::dom::array rows = RequestRows(parser, text);
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
    if (row.get_object().get(fields)) throw NotAnObject(r, row);
    std::fill(present.begin(), present.end(), 0);
    size_t found = 0;
    for (auto [key, value] : fields) {
      auto it = input_index_.find(key);
      if (it == input_index_.end()) continue;  // another key
      if (present[it->second]) throw Twice(r, inputs_[it->second].name);
      std::string why;
      if (!Append(builders[it->second], inputs_[it->second], Of(value), &why)) throw BadValue(r, inputs_[it->second].name, why);
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
        if (!v) throw Missing(r, inputs_[j].name);
        std::string why;
        if (!Append(builders[j], inputs_[j], Of(*v), &why)) throw BadValue(r, inputs_[j].name, why);
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

std::vector<double> Predictor::PredictRows(std::string_view body, const Extra& extra) const {
  if (!direct_) return Predict(*RowsToTable(body, extra));
  // The features are the inputs, numbers or bools: each value goes straight
  // where PredictFeatures would copy it from its column (column-major, NaN
  // for null), under the rules RowsToTable applies.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string text(body);
  simdjson::dom::array rows = RequestRows(parser, text);
  const size_t n = rows.size();
  const size_t p = features_.size();
  thread_local std::vector<double> values;  // every slot below is written before it is read
  if (values.size() < n * p) values.resize(n * p);
  std::vector<int64_t> first_null(xgboost_ ? 0 : p, -1);  // per feature: what a linear model refuses
  std::vector<char> present(p);
  auto set = [&](size_t r, size_t j, const Scalar& v) {
    double& slot = values[j * n + r];
    if (v.kind == Scalar::kNull) {
      slot = std::nan("");
      if (!xgboost_ && first_null[j] < 0) first_null[j] = int64_t(r);
      return;
    }
    if (std::string why; !FeatureOf(features_[j], v, &slot, &why)) throw BadValue(int64_t(r), features_[j].name, why);
  };
  size_t r = 0;
  for (simdjson::dom::element row : rows) {
    simdjson::dom::object fields;
    if (row.get_object().get(fields)) throw NotAnObject(int64_t(r), row);
    std::fill(present.begin(), present.end(), 0);
    size_t found = 0, next = 0;  // rows usually name the features in order: `next` is tried first
    for (auto [key, value] : fields) {
      size_t j;
      if (next < p && SameKey(features_[next].name, key)) {
        j = next;
      } else if (auto it = input_index_.find(key); it != input_index_.end()) {
        j = input_feature_[it->second];
      } else {
        continue;  // another key
      }
      next = j + 1;
      if (present[j]) throw Twice(int64_t(r), features_[j].name);
      // The common case first: a number for a float64 feature.
      if (double d; features_[j].type == DataType::kFloat64 && value.get_double().get(d) == simdjson::SUCCESS) {
        values[j * n + r] = d;
      } else {
        set(r, j, Of(value));
      }
      present[j] = 1;
      ++found;
    }
    if (found < p) {
      json row_json;
      if (extra) row_json = json::parse(simdjson::minify(row), nullptr, false);
      for (size_t j : input_feature_) {  // in the order RowsToTable looks for them
        if (present[j]) continue;
        const json* v = extra ? extra(int64_t(r), row_json, features_[j].name) : nullptr;
        if (!v) throw Missing(int64_t(r), features_[j].name);
        set(r, j, Of(*v));
      }
    }
    ++r;
  }
  for (size_t j = 0; j < first_null.size(); ++j) {
    if (first_null[j] >= 0) throw NullForLinear(first_null[j], features_[j].name);
  }
  std::vector<const double*> columns(p);
  for (size_t j = 0; j < p; ++j) columns[j] = values.data() + j * n;
  return Score(columns, int64_t(n));
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
      if (!Append(b, f, Of((*it)[size_t(r)]), &why)) {
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
