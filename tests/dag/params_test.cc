#include "dag/params.h"

#include <gtest/gtest.h>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"

namespace pipeline {
namespace {

DagSpec LoadDag() {
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  LoadResult r = DagLoader(ops).LoadText(R"(dag: p
params:
  source: data.csv
  min_auc: 0.8
  limit: 10
  verbose: false
  tags: [a, b]
tasks:
  a: {op: shell, run: 'true'}
)", "p.yaml");
  EXPECT_TRUE(r.dag);
  return *r.dag;
}

TEST(ParamsTest, DefaultsWhenNoOverrides) {
  DagSpec dag = LoadDag();
  std::string error;
  auto p = ResolveParams(dag, {}, &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(ParamText(*p->at("source")), "data.csv");
  EXPECT_EQ(ParamText(*p->at("tags")), R"(["a","b"])");
  EXPECT_EQ(ParamsToJson(*p),
            R"({"limit":10,"min_auc":0.8,"source":"data.csv","tags":["a","b"],"verbose":false})");
}

TEST(ParamsTest, OverridesAreTypeChecked) {
  DagSpec dag = LoadDag();
  std::string error;
  auto p = ResolveParams(dag, {{"min_auc", "0.9"}, {"limit", "20"}, {"tags", "[x]"},
                               {"source", "2026"}, {"verbose", "true"}}, &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(ParamText(*p->at("min_auc")), "0.9");
  EXPECT_EQ(ParamText(*p->at("source")), "2026");
  auto int_for_float = ResolveParams(dag, {{"min_auc", "1"}}, &error);
  EXPECT_TRUE(int_for_float) << error;
}

TEST(ParamsTest, JsonRoundTrip) {
  DagSpec dag = LoadDag();
  std::string error;
  auto p = ResolveParams(dag, {{"source", "'2026'"}}, &error);
  ASSERT_TRUE(p) << error;
  ParamValues back = ParamsFromJson(ParamsToJson(*p));
  EXPECT_EQ(ParamsToJson(back), ParamsToJson(*p));
  EXPECT_TRUE(back.at("source")->quoted());  // "2026" stays a string
  EXPECT_EQ(ParamText(*back.at("tags")), R"(["a","b"])");
}

TEST(ParamsTest, UnknownOrMistypedOverridesAreRefused) {
  DagSpec dag = LoadDag();
  std::string error;
  EXPECT_FALSE(ResolveParams(dag, {{"sourc", "x"}}, &error));
  EXPECT_EQ(error, "unknown parameter 'sourc' for DAG 'p' (known: source, min_auc, limit, verbose, tags)");
  EXPECT_FALSE(ResolveParams(dag, {{"limit", "ten"}}, &error));
  EXPECT_EQ(error, "parameter 'limit' expects an integer (default 10), got 'ten'");
  EXPECT_FALSE(ResolveParams(dag, {{"limit", "\"ten\""}}, &error));  // as the REST API's JSON gives it
  EXPECT_EQ(error, "parameter 'limit' expects an integer (default 10), got 'ten'");
  EXPECT_FALSE(ResolveParams(dag, {{"verbose", "1"}}, &error));
  EXPECT_EQ(error, "parameter 'verbose' expects a boolean (default false), got '1'");
  EXPECT_FALSE(ResolveParams(dag, {{"tags", "x"}}, &error));
  EXPECT_EQ(error, "parameter 'tags' expects a list (default [\"a\",\"b\"]), got 'x'");
  EXPECT_FALSE(ResolveParams(dag, {{"source", "{a: 1}"}}, &error));
  EXPECT_EQ(error,
            "parameter 'source': '{a: 1}' reads as a map, which no parameter takes (a scalar or a list); quote it to "
            "pass it as text: '\"{a: 1}\"'");
  EXPECT_FALSE(ResolveParams(dag, {{"source", "a: b"}}, &error));  // a colon and a space: a map in YAML
  EXPECT_NE(error.find("'a: b' reads as a map"), std::string::npos) << error;
  EXPECT_FALSE(ResolveParams(dag, {{"source", "[a"}}, &error));
  EXPECT_EQ(error.rfind("parameter 'source': cannot read value '[a' as YAML (", 0), 0u) << error;
  EXPECT_NE(error.find("; quote it to pass it as text"), std::string::npos) << error;
  EXPECT_TRUE(ResolveParams(dag, {{"source", "\"a: b\""}}, &error)) << error;
}

TEST(ParamsTest, ValuesRenderAsWrittenAfterJsonAndTheApi) {
  // Given scalars JSON would spell otherwise, then they are stored as their
  // text, so a run the daemon made, or a rerun, renders them as
  // `pipectl run` does; JSON's own spellings stay typed.
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  LoadResult r = DagLoader(ops).LoadText(R"(dag: w
params:
  zip: 007
  ratio: 0.80
  big: 12345678901234567890
  sci: 1e3
  flag: TRUE
  plus: +5
  items: [0.10, 007, 2, true]
  n: 42
  x: 0.5
  on: true
  text: "0.5"
tasks:
  a: {op: shell, run: 'true'}
)", "w.yaml");
  ASSERT_TRUE(r.dag);
  std::string error;
  auto p = ResolveParams(*r.dag, {}, &error);
  ASSERT_TRUE(p) << error;
  const std::string stored = ParamsToJson(*p);
  EXPECT_EQ(stored, R"({"big":"12345678901234567890","flag":"TRUE","items":["0.10","007",2,true],"n":42,"on":true,)"
                    R"("plus":"+5","ratio":"0.80","sci":"1e3","text":"0.5","x":0.5,"zip":"007"})");
  ParamValues back = ParamsFromJson(stored);
  for (const auto& [name, value] : *p) EXPECT_EQ(ParamText(*back.at(name)), ParamText(*value)) << name;
  EXPECT_EQ(ParamText(*back.at("ratio")), "0.80");
  EXPECT_EQ(ParamText(*back.at("items")), R"(["0.10","007",2,true])");

  // The API's JSON: a string that YAML reads back as itself goes plain
  // (typed as YAML reads it, rendered as written), any other quoted.
  EXPECT_EQ(JsonParamOverride(R"("007")"), "007");
  EXPECT_EQ(JsonParamOverride(R"("0.90")"), "0.90");
  EXPECT_EQ(JsonParamOverride(R"("a: b")"), R"("a: b")");
  EXPECT_EQ(JsonParamOverride(R"("null")"), R"("null")");
  EXPECT_EQ(JsonParamOverride(R"(" x")"), R"(" x")");
  EXPECT_EQ(JsonParamOverride(R"("")"), R"("")");
  EXPECT_EQ(JsonParamOverride("5"), "5");
  EXPECT_EQ(JsonParamOverride(R"(["a",1])"), R"(["a",1])");
  auto given = ResolveParams(*r.dag, {{"ratio", JsonParamOverride(R"("0.90")")}, {"n", JsonParamOverride(R"("007")")}},
                             &error);
  ASSERT_TRUE(given) << error;
  EXPECT_EQ(ParamText(*given->at("ratio")), "0.90");
  EXPECT_EQ(ParamText(*given->at("n")), "007");
  EXPECT_FALSE(ResolveParams(*r.dag, {{"n", JsonParamOverride(R"("ten")")}}, &error));
  EXPECT_EQ(error, "parameter 'n' expects an integer (default 42), got 'ten'");
}

TEST(ParamsTest, AListHoldsScalarsOnlyAndACommentIsNoValue) {
  DagSpec dag = LoadDag();
  std::string error;
  EXPECT_FALSE(ResolveParams(dag, {{"tags", "[a, {b: 1}]"}}, &error));
  EXPECT_EQ(error,
            "parameter 'tags': '[a, {b: 1}]' holds a map in its list, which no parameter takes (a list holds scalars); "
            "quote it to pass it as text: '\"[a, {b: 1}]\"'");
  EXPECT_FALSE(ResolveParams(dag, {{"tags", "[[2]]"}}, &error));
  EXPECT_NE(error.find("holds a list in its list"), std::string::npos) << error;
  EXPECT_FALSE(ResolveParams(dag, {{"source", "#comment"}}, &error));
  EXPECT_EQ(error,
            "parameter 'source': '#comment' reads as nothing (a YAML comment or blanks); quote it to pass it as text: "
            "'\"#comment\"'");
  EXPECT_TRUE(ResolveParams(dag, {{"tags", "[a, 'b: c']"}}, &error)) << error;
}

}  // namespace
}  // namespace pipeline
