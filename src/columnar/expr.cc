#include "columnar/expr.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <optional>

#include "columnar/value_parse.h"

namespace pipeline::columnar {

struct Expr::Node {
  enum class Kind { kLiteral, kColumn, kUnary, kBinary, kCall, kIsNull };
  Kind kind;
  std::string op;  // operator, function name, or column name
  // Literals.
  DataType literal_type = DataType::kFloat64;
  bool literal_null = false;
  double number = 0;
  std::optional<int64_t> integer;  // a number written as an integer within int64, exactly
  bool boolean = false;
  std::string text;
  bool negate = false;  // is not null
  std::vector<std::shared_ptr<const Node>> args;
  size_t position = 0;
};

namespace {

using NodePtr = std::shared_ptr<const Expr::Node>;
using Node = Expr::Node;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  NodePtr ParseAll() {
    NodePtr e = Or();
    Skip();
    if (pos_ < s_.size()) Fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return e;
  }

 private:
  [[noreturn]] void Fail(const std::string& why) {
    throw FormatError("position " + std::to_string(pos_ + 1) + ": " + why);
  }

  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }

  // Consumes `word` (a keyword, case-insensitive, not followed by a name char).
  bool Keyword(const char* word) {
    Skip();
    size_t n = std::strlen(word);
    if (pos_ + n > s_.size() || Lower(s_.substr(pos_, n)) != word) return false;
    if (pos_ + n < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_ + n])) || s_[pos_ + n] == '_')) {
      return false;
    }
    pos_ += n;
    return true;
  }

  bool Symbol(const char* sym) {
    Skip();
    size_t n = std::strlen(sym);
    if (s_.compare(pos_, n, sym) != 0) return false;
    pos_ += n;
    return true;
  }

  NodePtr Make(Node::Kind kind, std::string op, std::vector<NodePtr> args, size_t at) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->op = std::move(op);
    n->args = std::move(args);
    n->position = at;
    return n;
  }

  NodePtr Or() {
    NodePtr left = And();
    while (true) {
      size_t at = pos_;
      if (!Keyword("or")) return left;
      left = Make(Node::Kind::kBinary, "or", {left, And()}, at);
    }
  }

  NodePtr And() {
    NodePtr left = Not();
    while (true) {
      size_t at = pos_;
      if (!Keyword("and")) return left;
      left = Make(Node::Kind::kBinary, "and", {left, Not()}, at);
    }
  }

  NodePtr Not() {
    size_t at = pos_;
    if (Keyword("not")) return Make(Node::Kind::kUnary, "not", {Not()}, at);
    return Compare();
  }

  NodePtr Compare() {
    NodePtr left = Sum();
    size_t at = pos_;
    if (Keyword("is")) {
      bool negate = Keyword("not");
      if (!Keyword("null")) Fail("expected 'null' after 'is'");
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kIsNull;
      n->negate = negate;
      n->args = {left};
      n->position = at;
      return n;
    }
    for (const char* op : {"==", "!=", "<>", "<=", ">=", "=", "<", ">"}) {
      if (Symbol(op)) {
        std::string o = op;
        if (o == "=") o = "==";
        if (o == "<>") o = "!=";
        return Make(Node::Kind::kBinary, o, {left, Sum()}, at);
      }
    }
    return left;
  }

  NodePtr Sum() {
    NodePtr left = Product();
    while (true) {
      size_t at = pos_;
      if (Symbol("+")) {
        left = Make(Node::Kind::kBinary, "+", {left, Product()}, at);
      } else if (Symbol("-")) {
        left = Make(Node::Kind::kBinary, "-", {left, Product()}, at);
      } else {
        return left;
      }
    }
  }

  NodePtr Product() {
    NodePtr left = Unary();
    while (true) {
      size_t at = pos_;
      if (Symbol("*")) {
        left = Make(Node::Kind::kBinary, "*", {left, Unary()}, at);
      } else if (Symbol("/")) {
        left = Make(Node::Kind::kBinary, "/", {left, Unary()}, at);
      } else {
        return left;
      }
    }
  }

  NodePtr Unary() {
    size_t at = pos_;
    if (Symbol("-")) return Make(Node::Kind::kUnary, "-", {Unary()}, at);
    return Primary();
  }

  NodePtr Primary() {
    Skip();
    size_t at = pos_;
    if (pos_ >= s_.size()) Fail("unexpected end of expression");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      NodePtr e = Or();
      if (!Symbol(")")) Fail("expected ')'");
      return e;
    }
    if (c == '\'') return StringLiteral();
    if (c == '"' || c == '`') {
      char close = c;
      size_t end = s_.find(close, pos_ + 1);
      if (end == std::string::npos) Fail("unterminated quoted column name");
      auto n = Make(Node::Kind::kColumn, s_.substr(pos_ + 1, end - pos_ - 1), {}, at);
      pos_ = end + 1;
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t end = pos_;
      while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '.' ||
                                 ((s_[end] == '+' || s_[end] == '-') && (s_[end - 1] == 'e' || s_[end - 1] == 'E')))) {
        ++end;
      }
      double v;
      if (!ParseFloat64(std::string_view(s_).substr(pos_, end - pos_), &v)) {
        Fail("bad number '" + s_.substr(pos_, end - pos_) + "'");
      }
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kLiteral;
      n->literal_type = DataType::kFloat64;
      n->number = v;
      if (int64_t i; ParseInt64(std::string_view(s_).substr(pos_, end - pos_), &i)) n->integer = i;
      n->position = at;
      pos_ = end;
      return n;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) ++end;
      std::string word = s_.substr(pos_, end - pos_);
      std::string lower = Lower(word);
      pos_ = end;
      if (lower == "true" || lower == "false") {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::kLiteral;
        n->literal_type = DataType::kBool;
        n->boolean = lower == "true";
        n->position = at;
        return n;
      }
      if (lower == "null") {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::kLiteral;
        n->literal_null = true;
        n->position = at;
        return n;
      }
      if (Symbol("(")) {
        static const std::vector<std::string> kFuncs = {"log", "log1p", "exp", "sqrt", "abs", "min", "max"};
        if (std::find(kFuncs.begin(), kFuncs.end(), lower) == kFuncs.end()) {
          pos_ = at;
          Fail("unknown function '" + word + "' (functions: log, log1p, exp, sqrt, abs, min, max)");
        }
        std::vector<NodePtr> args = {Or()};
        while (Symbol(",")) args.push_back(Or());
        if (!Symbol(")")) Fail("expected ')' after the arguments of " + lower);
        size_t want = (lower == "min" || lower == "max") ? 2 : 1;
        if (args.size() != want) {
          pos_ = at;
          Fail(lower + " takes " + std::to_string(want) + (want == 1 ? " argument" : " arguments"));
        }
        return Make(Node::Kind::kCall, lower, std::move(args), at);
      }
      return Make(Node::Kind::kColumn, word, {}, at);
    }
    Fail("unexpected '" + std::string(1, c) + "'");
  }

  NodePtr StringLiteral() {
    size_t at = pos_;
    std::string text;
    ++pos_;
    while (true) {
      if (pos_ >= s_.size()) {
        pos_ = at;
        Fail("unterminated string");
      }
      if (s_[pos_] == '\'') {
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '\'') {
          text += '\'';
          pos_ += 2;
          continue;
        }
        ++pos_;
        break;
      }
      text += s_[pos_++];
    }
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kLiteral;
    n->literal_type = DataType::kString;
    n->text = std::move(text);
    n->position = at;
    return n;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

// A value during evaluation: a column-shaped array, or a constant.
struct Value {
  DataType type = DataType::kFloat64;
  bool is_null_constant = false;  // the literal null (any type)
  bool constant = false;
  // Numbers as doubles (int64 columns converted), bools and timestamps as
  // int64, strings by reference.
  std::vector<double> d;
  std::vector<int64_t> i;
  ColumnPtr strings;
  std::string text;  // a constant string
  double cd = 0;
  int64_t ci = 0;
  // A number whose exact int64 values are also in `i` (`ci`): an int64
  // column or an integer literal. Two such are compared as integers (ids
  // beyond 2^53 differ where their doubles do not).
  bool exact = false;
  std::vector<uint8_t> valid;  // per row (empty for constants)

  bool Valid(int64_t row) const { return !is_null_constant && (constant || valid[row]); }
  double D(int64_t row) const { return constant ? cd : d[row]; }
  int64_t I(int64_t row) const { return constant ? ci : i[row]; }
  std::string_view S(int64_t row) const { return constant ? std::string_view(text) : strings->StringAt(row); }
};

std::string Where(const Node& n) { return "position " + std::to_string(n.position + 1) + ": "; }

bool IsNumber(DataType t) { return t == DataType::kFloat64 || t == DataType::kInt64; }

// The static type of a node; throws FormatError for unknown columns or
// mismatched operands. Null literals have no type (nullopt).
std::optional<DataType> TypeOf(const Node& n, const Schema& schema) {
  switch (n.kind) {
    case Node::Kind::kLiteral:
      if (n.literal_null) return std::nullopt;
      return n.literal_type;
    case Node::Kind::kColumn: {
      auto idx = schema.IndexOf(n.op);
      if (!idx) {
        std::string cols;
        for (const auto& name : schema.names()) cols += (cols.empty() ? "" : ", ") + name;
        throw FormatError(Where(n) + "unknown column '" + n.op + "' (columns: " + cols + ")");
      }
      DataType t = schema.field(*idx).type;
      return t == DataType::kInt64 ? DataType::kFloat64 : t;
    }
    case Node::Kind::kIsNull:
      TypeOf(*n.args[0], schema);
      return DataType::kBool;
    case Node::Kind::kUnary: {
      auto t = TypeOf(*n.args[0], schema);
      if (n.op == "not") {
        if (t && *t != DataType::kBool) throw FormatError(Where(n) + "'not' needs a true/false operand");
        return DataType::kBool;
      }
      if (t && !IsNumber(*t)) throw FormatError(Where(n) + "'-' needs a number");
      return DataType::kFloat64;
    }
    case Node::Kind::kCall:
      for (const auto& a : n.args) {
        auto t = TypeOf(*a, schema);
        if (t && !IsNumber(*t)) throw FormatError(Where(n) + n.op + " needs numbers");
      }
      return DataType::kFloat64;
    case Node::Kind::kBinary: {
      auto l = TypeOf(*n.args[0], schema);
      auto r = TypeOf(*n.args[1], schema);
      const std::string& op = n.op;
      if (op == "and" || op == "or") {
        if ((l && *l != DataType::kBool) || (r && *r != DataType::kBool)) {
          throw FormatError(Where(n) + "'" + op + "' needs true/false operands (comparisons)");
        }
        return DataType::kBool;
      }
      if (op == "+" || op == "-" || op == "*" || op == "/") {
        if ((l && !IsNumber(*l)) || (r && !IsNumber(*r))) {
          throw FormatError(Where(n) + "'" + op + "' needs numbers");
        }
        return DataType::kFloat64;
      }
      // Comparison.
      if (l && r && *l != *r) {
        bool ts_vs_text = (*l == DataType::kTimestamp && *r == DataType::kString &&
                           n.args[1]->kind == Node::Kind::kLiteral) ||
                          (*r == DataType::kTimestamp && *l == DataType::kString &&
                           n.args[0]->kind == Node::Kind::kLiteral);
        if (!ts_vs_text) {
          throw FormatError(Where(n) + "cannot compare " + std::string(TypeName(*l)) + " with " +
                            std::string(TypeName(*r)));
        }
        const Node& lit = *n.args[*l == DataType::kString ? 0 : 1];
        int64_t t;
        if (!ParseTimestamp(lit.text, &t)) throw FormatError(Where(lit) + "'" + lit.text + "' is not a timestamp");
      }
      return DataType::kBool;
    }
  }
  return std::nullopt;
}

class Evaluator {
 public:
  Evaluator(const Schema& schema, const Batch& batch) : schema_(schema), batch_(batch), n_(batch.num_rows) {}

  Value Eval(const Node& n) {
    switch (n.kind) {
      case Node::Kind::kLiteral: return Literal(n);
      case Node::Kind::kColumn: return ColumnValue(n);
      case Node::Kind::kIsNull: {
        Value a = Eval(*n.args[0]);
        Value out = Bools();
        for (int64_t r = 0; r < n_; ++r) {
          out.i[r] = a.Valid(r) == n.negate;
          out.valid[r] = 1;
        }
        return out;
      }
      case Node::Kind::kUnary: {
        Value a = Eval(*n.args[0]);
        if (n.op == "not") {
          Value out = Bools();
          for (int64_t r = 0; r < n_; ++r) {
            out.valid[r] = a.Valid(r);
            out.i[r] = out.valid[r] ? !a.I(r) : 0;
          }
          return out;
        }
        if (a.constant && a.exact && a.ci != INT64_MIN) {  // -123: still an exact integer
          a.cd = -a.cd;
          a.ci = -a.ci;
          return a;
        }
        return Map1(a, [](double x) { return -x; });
      }
      case Node::Kind::kCall: return Call(n);
      case Node::Kind::kBinary: return Binary(n);
    }
    return {};
  }

 private:
  Value Bools() {
    Value v;
    v.type = DataType::kBool;
    v.i.assign(static_cast<size_t>(n_), 0);
    v.valid.assign(static_cast<size_t>(n_), 0);
    return v;
  }

  Value Doubles() {
    Value v;
    v.type = DataType::kFloat64;
    v.d.assign(static_cast<size_t>(n_), 0);
    v.valid.assign(static_cast<size_t>(n_), 0);
    return v;
  }

  Value Literal(const Node& n) {
    Value v;
    v.constant = true;
    v.is_null_constant = n.literal_null;
    v.type = n.literal_type;
    v.cd = n.number;
    v.ci = n.boolean;
    if (n.integer) {
      v.ci = *n.integer;
      v.exact = true;
    }
    v.text = n.text;
    return v;
  }

  Value ColumnValue(const Node& n) {
    int idx = *schema_.IndexOf(n.op);
    const Column& c = *batch_.columns[idx];
    Value v;
    v.valid.resize(static_cast<size_t>(n_));
    for (int64_t r = 0; r < n_; ++r) v.valid[r] = c.IsValid(r);
    switch (c.type()) {
      case DataType::kInt64:
        v.type = DataType::kFloat64;
        v.d.resize(static_cast<size_t>(n_));
        for (int64_t r = 0; r < n_; ++r) v.d[r] = static_cast<double>(c.ints()[r]);
        v.i.assign(c.ints(), c.ints() + n_);
        v.exact = true;
        break;
      case DataType::kFloat64:
        v.type = DataType::kFloat64;
        v.d.assign(c.doubles(), c.doubles() + n_);
        break;
      case DataType::kBool:
        v.type = DataType::kBool;
        v.i.assign(c.bools(), c.bools() + n_);
        break;
      case DataType::kTimestamp:
        v.type = DataType::kTimestamp;
        v.i.assign(c.ints(), c.ints() + n_);
        break;
      case DataType::kString:
        v.type = DataType::kString;
        v.strings = batch_.columns[idx];
        break;
    }
    return v;
  }

  template <class F>
  Value Map1(const Value& a, F f) {
    Value out = Doubles();
    for (int64_t r = 0; r < n_; ++r) {
      if (!a.Valid(r)) continue;
      out.valid[r] = 1;
      out.d[r] = f(a.D(r));
    }
    return out;
  }

  Value Call(const Node& n) {
    Value a = Eval(*n.args[0]);
    const std::string& f = n.op;
    if (f == "log") return Map1(a, [](double x) { return std::log(x); });
    if (f == "log1p") return Map1(a, [](double x) { return std::log1p(x); });
    if (f == "exp") return Map1(a, [](double x) { return std::exp(x); });
    if (f == "sqrt") return Map1(a, [](double x) { return std::sqrt(x); });
    if (f == "abs") return Map1(a, [](double x) { return std::fabs(x); });
    Value b = Eval(*n.args[1]);
    Value out = Doubles();
    const bool is_min = f == "min";
    for (int64_t r = 0; r < n_; ++r) {
      if (!a.Valid(r) || !b.Valid(r)) continue;
      out.valid[r] = 1;
      double x = a.D(r), y = b.D(r);
      out.d[r] = is_min ? (y < x ? y : x) : (y > x ? y : x);
    }
    return out;
  }

  Value Binary(const Node& n) {
    Value a = Eval(*n.args[0]);
    Value b = Eval(*n.args[1]);
    const std::string& op = n.op;
    if (op == "and" || op == "or") {
      Value out = Bools();
      const bool is_and = op == "and";
      for (int64_t r = 0; r < n_; ++r) {
        bool av = a.Valid(r), bv = b.Valid(r);
        int64_t x = av ? a.I(r) : 0, y = bv ? b.I(r) : 0;
        if (is_and) {
          // false wins over null; null otherwise.
          if ((av && !x) || (bv && !y)) {
            out.valid[r] = 1;
          } else if (av && bv) {
            out.valid[r] = 1;
            out.i[r] = 1;
          }
        } else {
          if ((av && x) || (bv && y)) {
            out.valid[r] = 1;
            out.i[r] = 1;
          } else if (av && bv) {
            out.valid[r] = 1;
          }
        }
      }
      return out;
    }
    if (op == "+" || op == "-" || op == "*" || op == "/") {
      Value out = Doubles();
      const char o = op[0];
      for (int64_t r = 0; r < n_; ++r) {
        if (!a.Valid(r) || !b.Valid(r)) continue;
        out.valid[r] = 1;
        double x = a.D(r), y = b.D(r);
        out.d[r] = o == '+' ? x + y : o == '-' ? x - y : o == '*' ? x * y : x / y;
      }
      return out;
    }
    // Comparisons.
    Value out = Bools();
    DataType t = a.is_null_constant ? b.type : a.type;
    if (a.type == DataType::kTimestamp || b.type == DataType::kTimestamp) {
      t = DataType::kTimestamp;
      // A string literal on either side stands for a timestamp.
      for (Value* v : {&a, &b}) {
        if (v->constant && v->type == DataType::kString) {
          ParseTimestamp(v->text, &v->ci);
          v->type = DataType::kTimestamp;
        }
      }
    }
    for (int64_t r = 0; r < n_; ++r) {
      if (!a.Valid(r) || !b.Valid(r)) continue;
      int cmp;
      if (t == DataType::kFloat64 && a.exact && b.exact) {
        int64_t x = a.I(r), y = b.I(r);
        cmp = x < y ? -1 : x > y ? 1 : 0;
      } else if (t == DataType::kFloat64) {
        double x = a.D(r), y = b.D(r);
        cmp = x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;  // 2: unordered (NaN)
      } else if (t == DataType::kString) {
        int c = a.S(r).compare(b.S(r));
        cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
      } else {
        int64_t x = a.I(r), y = b.I(r);
        cmp = x < y ? -1 : x > y ? 1 : 0;
      }
      bool res;
      if (op == "==") {
        res = cmp == 0;
      } else if (op == "!=") {
        res = cmp != 0;
      } else if (cmp == 2) {
        res = false;
      } else if (op == "<") {
        res = cmp < 0;
      } else if (op == "<=") {
        res = cmp <= 0;
      } else if (op == ">") {
        res = cmp > 0;
      } else {
        res = cmp >= 0;
      }
      out.valid[r] = 1;
      out.i[r] = res;
    }
    return out;
  }

  const Schema& schema_;
  const Batch& batch_;
  int64_t n_;
};

void CollectColumns(const Node& n, std::vector<std::string>* out) {
  if (n.kind == Node::Kind::kColumn && std::find(out->begin(), out->end(), n.op) == out->end()) out->push_back(n.op);
  for (const auto& a : n.args) CollectColumns(*a, out);
}

}  // namespace

Expr Expr::Parse(const std::string& text) {
  Expr e;
  e.text_ = text;
  e.root_ = Parser(text).ParseAll();
  return e;
}

DataType Expr::Check(const Schema& schema) const {
  auto t = TypeOf(*root_, schema);
  return t.value_or(DataType::kFloat64);
}

std::vector<std::string> Expr::Columns() const {
  std::vector<std::string> out;
  CollectColumns(*root_, &out);
  return out;
}

ColumnPtr Expr::Evaluate(const Schema& schema, const Batch& batch) const {
  DataType type = Check(schema);
  if (type != DataType::kBool && type != DataType::kFloat64) {
    throw FormatError("the expression gives a " + std::string(TypeName(type)) +
                      "; it must give a number or true/false");
  }
  Evaluator ev(schema, batch);
  Value v = ev.Eval(*root_);
  const int64_t n = batch.num_rows;
  auto col = std::make_shared<Column>(type == DataType::kBool ? DataType::kBool : DataType::kFloat64, n);
  Column& c = *col;
  for (int64_t r = 0; r < n; ++r) {
    if (!v.Valid(r)) {
      c.SetNull(r);
      continue;
    }
    if (type == DataType::kBool) {
      c.mutable_values().as<uint8_t>()[r] = static_cast<uint8_t>(v.I(r) != 0);
    } else {
      c.mutable_values().as<double>()[r] = v.D(r);
    }
  }
  return col;
}

}  // namespace pipeline::columnar
