#include "columnar/expr.h"

#include <gtest/gtest.h>

#include "columnar/compute.h"
#include "columnar/csv.h"

namespace pipeline::columnar {
namespace {

class ExprTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = ReadCsvText(
                 "a,b,s,ok,ts\n"
                 "1,2.5,x,true,2024-01-01T00:00:00\n"
                 "NA,4,y,false,2024-06-01T00:00:00\n"
                 "-3,NA,NA,NA,NA\n",
                 "t.csv")
                 .table;
  }

  // Each row's value as text, "NULL" for nulls.
  std::string Eval(const std::string& text) {
    Expr e = Expr::Parse(text);
    ColumnPtr c = e.Evaluate(table_->schema(), table_->batch(0));
    std::string out;
    for (int64_t r = 0; r < c->length(); ++r) out += (r ? "," : "") + (c->IsNull(r) ? "NULL" : ValueText(*c, r));
    return out;
  }

  std::string Error(const std::string& text) {
    try {
      Expr::Parse(text).Check(table_->schema());
    } catch (const FormatError& e) {
      return e.what();
    }
    return "no error";
  }

  TablePtr table_;
};

TEST_F(ExprTest, ArithmeticAndFunctionsPropagateNull) {
  EXPECT_EQ(Eval("a + b * 2"), "6,NULL,NULL");
  EXPECT_EQ(Eval("-(a) / 2"), "-0.5,NULL,1.5");
  EXPECT_EQ(Eval("max(a, 0)"), "1,NULL,0");
  EXPECT_EQ(Eval("log1p(abs(a)) - log1p(abs(a))"), "0,NULL,0");
  EXPECT_EQ(Eval("sqrt(4) + exp(0) + log(1)"), "3,3,3");
}

TEST_F(ExprTest, Int64ColumnsCompareWithIntegersExactly) {
  // Ids beyond 2^53 (Snowflake ids, hashes) that one double holds all of:
  // compared with an integer literal or another int64 column, exactly.
  table_ = ReadCsvText("id,other,x\n1234567890123456789,1234567890123456790,1.5\n1234567890123456790,1234567890123456790,2\n"
                       "1234567890123456800,1,NA\n-9223372036854775807,1,NA\n",
                       "t.csv")
               .table;
  EXPECT_EQ(Eval("id = 1234567890123456789"), "true,false,false,false");
  EXPECT_EQ(Eval("id != 1234567890123456789"), "false,true,true,true");
  EXPECT_EQ(Eval("id > 1234567890123456789"), "false,true,true,false");
  EXPECT_EQ(Eval("id <= 1234567890123456790"), "true,true,false,true");
  EXPECT_EQ(Eval("id == other"), "false,true,false,false");
  EXPECT_EQ(Eval("id = -9223372036854775807"), "false,false,false,true");
  // A fraction, or an integer beyond int64, compares as a double (as before).
  EXPECT_EQ(Eval("id < 1.5e18"), "true,true,true,true");
  EXPECT_EQ(Eval("x = 2"), "false,true,NULL,NULL");
}

TEST_F(ExprTest, ComparisonsWithThreeValuedLogic) {
  EXPECT_EQ(Eval("a > 0"), "true,NULL,false");
  EXPECT_EQ(Eval("a > 0 or b = 4"), "true,true,NULL");
  EXPECT_EQ(Eval("a > 0 AND s == 'x'"), "true,false,false");
  EXPECT_EQ(Eval("not (s <> 'y')"), "false,true,NULL");
  EXPECT_EQ(Eval("s is null or a is not null"), "true,false,true");
  EXPECT_EQ(Eval("ts >= '2024-03-01'"), "false,true,NULL");
  EXPECT_EQ(Eval("ok = true"), "true,false,NULL");
}

TEST_F(ExprTest, ErrorsNameTheProblemAndPosition) {
  EXPECT_EQ(Error("amount > 0"), "position 1: unknown column 'amount' (columns: a, b, s, ok, ts)");
  EXPECT_EQ(Error("a > 'x'"), "position 3: cannot compare float64 with string");
  EXPECT_EQ(Error("s + 1"), "position 3: '+' needs numbers");
  EXPECT_EQ(Error("(a > 1"), "position 7: expected ')'");
  EXPECT_EQ(Error("foo(a)"), "position 1: unknown function 'foo' (functions: log, log1p, exp, sqrt, abs, min, max)");
  EXPECT_EQ(Error("s = 'unterminated"), "position 5: unterminated string");
  EXPECT_EQ(Error("a > 1 b"), "position 7: unexpected 'b'");
  EXPECT_EQ(Error("ts > 'yesterday'"), "position 6: 'yesterday' is not a timestamp");
}

}  // namespace
}  // namespace pipeline::columnar
