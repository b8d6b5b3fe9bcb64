// The mask rules (ml/mask.h): HMAC-SHA256 against RFC 4231's test vectors,
// and each rule's values, nulls, type errors and its replay in a chain.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "ml/chain.h"
#include "ml/linear.h"
#include "ml/mask.h"

namespace pipeline::ml {
namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;

// A column of `type` from texts (nullopt: null), cast as a CSV reader would.
ColumnPtr Of(DataType type, const std::vector<std::optional<std::string>>& values) {
  columnar::ColumnBuilder b(DataType::kString);
  for (const auto& v : values) v ? b.AppendString(*v) : b.AppendNull();
  ColumnPtr text = b.Finish();
  if (type == DataType::kString) return text;
  int64_t bad = -1;
  std::string bad_text;
  ColumnPtr c = columnar::Cast(*text, type, &bad, &bad_text);
  EXPECT_TRUE(c) << bad_text;
  return c;
}

std::vector<std::optional<std::string>> Texts(const Column& c) {
  std::vector<std::optional<std::string>> out;
  for (int64_t r = 0; r < c.length(); ++r) {
    out.push_back(c.IsValid(r) ? std::optional(columnar::ValueText(c, r)) : std::nullopt);
  }
  return out;
}

MaskRule Rule(const nlohmann::json& j) {
  std::string error;
  auto rule = MaskFromJson(j, &error);
  EXPECT_TRUE(rule) << error;
  return rule.value_or(MaskRule{});
}

TEST(MaskTest, HmacMatchesRfc4231) {
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(MaskTest, HashIsKeyedDeterministicAndKeepsNulls) {
  const std::string key = "0123456789abcdef-key";
  ColumnPtr emails = Of(DataType::kString, {"a@x.org", std::nullopt, "b@x.org", "a@x.org"});
  ColumnPtr h = Mask(*emails, Rule("hash"), key, "email");
  ASSERT_EQ(h->type(), DataType::kString);
  auto t = Texts(*h);
  EXPECT_EQ(t[0], HmacSha256Hex(key, "a@x.org"));
  EXPECT_FALSE(t[1]);
  EXPECT_EQ(t[2], HmacSha256Hex(key, "b@x.org"));
  EXPECT_EQ(t[0], t[3]);  // the same value, the same hash: joins still work
  EXPECT_NE(Texts(*Mask(*emails, Rule("hash"), "another key 12345", "email"))[0], t[0]);
  // Other types hash their text.
  ColumnPtr ids = Of(DataType::kInt64, {"42", "-7"});
  EXPECT_EQ(Texts(*Mask(*ids, Rule("hash"), key, "id"))[0], HmacSha256Hex(key, "42"));
  EXPECT_EQ(Texts(*Mask(*ids, Rule("hash"), key, "id"))[1], HmacSha256Hex(key, "-7"));
}

TEST(MaskTest, HashWithoutAKeyIsAnError) {
  ColumnPtr emails = Of(DataType::kString, {"a@x.org"});
  try {
    Mask(*emails, Rule("hash"), "", "email");
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "mask: hash of column 'email' needs a key: add a line 'mask_key:SECRET' to the secrets file "
                           "(--secrets or PIPE_SECRETS)");
  }
}

TEST(MaskTest, RedactAndTruncate) {
  ColumnPtr names = Of(DataType::kString, {"Zoë Quinn", std::nullopt, "Al", ""});
  EXPECT_EQ(Texts(*Mask(*names, Rule("redact"), "", "name")),
            (std::vector<std::optional<std::string>>{"REDACTED", std::nullopt, "REDACTED", "REDACTED"}));
  // Characters, not bytes: "ë" is two bytes and is kept whole.
  EXPECT_EQ(Texts(*Mask(*names, Rule({{"truncate", 3}}), "", "name")),
            (std::vector<std::optional<std::string>>{"Zoë", std::nullopt, "Al", ""}));
  ColumnPtr salary = Of(DataType::kFloat64, {"1.5"});
  EXPECT_EQ(Mask(*salary, Rule("redact"), "", "salary")->type(), DataType::kString);
  try {
    Mask(*salary, Rule({{"truncate", 2}}), "", "salary");
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "mask: column 'salary' is float64, truncate takes a string");
  }
}

TEST(MaskTest, GeneralizeFloorsToTheDayOrMonth) {
  ColumnPtr t = Of(DataType::kTimestamp,
                   {"2024-03-15T13:45:10Z", "1969-12-31T23:00:00Z", std::nullopt, "2024-02-29 00:00:00"});
  EXPECT_EQ(Texts(*Mask(*t, Rule({{"generalize", "day"}}), "", "at")),
            (std::vector<std::optional<std::string>>{"2024-03-15 00:00:00", "1969-12-31 00:00:00", std::nullopt,
                                                     "2024-02-29 00:00:00"}));
  EXPECT_EQ(Texts(*Mask(*t, Rule({{"generalize", "month"}}), "", "at")),
            (std::vector<std::optional<std::string>>{"2024-03-01 00:00:00", "1969-12-01 00:00:00", std::nullopt,
                                                     "2024-02-01 00:00:00"}));
  try {
    Mask(*Of(DataType::kString, {"x"}), Rule({{"generalize", "day"}}), "", "at");
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "mask: column 'at' is string, generalize takes a timestamp");
  }
}

TEST(MaskTest, DatesOfAnyYearAreGeneralizedAndTakenApart) {
  // Timestamps beyond the years date's year_month_day holds (-32767..32767):
  // year 290000 (DuckDB writes it), year -100, int64's ends (infinity).
  columnar::ColumnBuilder b(DataType::kTimestamp);
  const int64_t y290000 = 9'089'348'860'800'000000 + 3'723'000000;  // 290000-01-01 01:02:03
  const int64_t y_100 = -65'322'892'800'000000 + 3'600'000000;      // -0100-01-01 01:00:00
  for (int64_t v : {y290000, y_100, INT64_MAX, INT64_MIN}) b.AppendInt(v);
  ColumnPtr t = b.Finish();
  EXPECT_EQ(Texts(*t), (std::vector<std::optional<std::string>>{"290000-01-01 01:02:03", "-0100-01-01 01:00:00",
                                                              "294247-01-10 04:00:54.775807",
                                                              "-290308-12-21 19:59:05.224192"}));
  EXPECT_EQ(Texts(*Mask(*t, Rule({{"generalize", "month"}}), "", "at")),
            (std::vector<std::optional<std::string>>{"290000-01-01 00:00:00", "-0100-01-01 00:00:00",
                                                     "294247-01-01 00:00:00", "-290308-12-21 19:59:05.224192"}));
  auto part = [&](const char* name) {
    ColumnPtr p = DatetimePart(*t, name);
    return std::vector<int64_t>(p->ints(), p->ints() + p->length());
  };
  EXPECT_EQ(part("year"), (std::vector<int64_t>{290000, -100, 294247, -290308}));
  EXPECT_EQ(part("month"), (std::vector<int64_t>{1, 1, 1, 12}));
  EXPECT_EQ(part("day"), (std::vector<int64_t>{1, 1, 10, 21}));
  EXPECT_EQ(part("hour"), (std::vector<int64_t>{1, 1, 4, 19}));
}

TEST(MaskTest, RulesReadFromJson) {
  for (const nlohmann::json& j : {nlohmann::json("hash"), nlohmann::json("redact"), nlohmann::json{{"truncate", 5}},
                                  nlohmann::json{{"generalize", "month"}}}) {
    EXPECT_EQ(MaskJson(Rule(j)), j);
  }
  std::string error;
  EXPECT_FALSE(MaskFromJson("scramble", &error));
  EXPECT_EQ(error, "a mask is hash, redact, {truncate: N} or {generalize: day|month}");
  EXPECT_FALSE(MaskFromJson({{"truncate", 0}}, &error));
  EXPECT_EQ(error, "truncate takes a number of characters from 1 to 1000000");
  EXPECT_FALSE(MaskFromJson({{"generalize", "week"}}, &error));
  EXPECT_EQ(error, "generalize takes day or month");
}

// Serving replays a mask on request rows; a hash's key stays with the
// pipeline, so the raw column is dropped rather than passed on.
TEST(MaskTest, ChainReplaysMasks) {
  TransformChain chain(nlohmann::json::parse(R"([
    {"step": "mask", "params": {"columns": [["email", "hash"], ["at", {"generalize": "day"}], ["zip", {"truncate": 2}]]}}
  ])"));
  columnar::Schema schema;
  schema.Add({"email", DataType::kString});
  schema.Add({"at", DataType::kTimestamp});
  schema.Add({"zip", DataType::kString});
  auto table = std::make_shared<columnar::Table>(schema);
  table->AddBatch({1, {Of(DataType::kString, {"a@x.org"}), Of(DataType::kTimestamp, {"2024-03-15T13:45:10Z"}),
                       Of(DataType::kString, {"75011"})}});
  columnar::TablePtr out = chain.Apply(*table);
  EXPECT_EQ(out->schema().names(), (std::vector<std::string>{"at", "zip"}));
  EXPECT_EQ(columnar::ValueText(*out->batch(0).columns[0], 0), "2024-03-15 00:00:00");
  EXPECT_EQ(columnar::ValueText(*out->batch(0).columns[1], 0), "75");
  EXPECT_THROW(TransformChain(nlohmann::json::parse(R"([{"step": "mask", "params": {"columns": [["a", "x"]]}}])")),
               ModelError);
}

}  // namespace
}  // namespace pipeline::ml
