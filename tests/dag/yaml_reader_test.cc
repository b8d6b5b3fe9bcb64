#include "dag/yaml_reader.h"

#include <gtest/gtest.h>

namespace pipeline {
namespace {

TEST(YamlReaderTest, KeepsPositionsAndQuoting) {
  Diagnostics diags("t.yaml");
  auto root = ReadYaml("a: 1\nb:\n  - 'x'\n  - ~\n", diags);
  ASSERT_TRUE(root) << diags.items()[0].ToString();
  ASSERT_TRUE(root->is_map());
  const DocNode* a = root->Find("a");
  EXPECT_EQ(a->mark().line, 1);
  EXPECT_EQ(a->mark().column, 4);
  EXPECT_FALSE(a->quoted());
  const DocNode* b = root->Find("b");
  ASSERT_TRUE(b->is_sequence());
  EXPECT_TRUE(b->items()[0]->quoted());
  EXPECT_EQ(b->items()[0]->mark().line, 3);
  EXPECT_TRUE(b->items()[1]->is_null());
}

TEST(YamlReaderTest, DuplicateKeysAreKept) {
  Diagnostics diags("t.yaml");
  auto root = ReadYaml("a: 1\na: 2\n", diags);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->entries().size(), 2u);  // the loader reports the second
}

TEST(YamlReaderTest, AliasesShareNodes) {
  Diagnostics diags("t.yaml");
  auto root = ReadYaml("a: &x [1, 2]\nb: *x\n", diags);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->Find("a"), root->Find("b"));
}

TEST(YamlReaderTest, BadUtf8IsReportedWhereItIs) {
  // Given a Latin-1 byte on line 3 (after a two-byte character on the same
  // line), then the error names line 3 and its column in characters, not 1:1.
  Diagnostics diags("t.yaml");
  EXPECT_FALSE(ReadYaml("a: 1\nb: 2\nc: \xc3\xa9t\xe9\n", diags));
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].mark.line, 3);
  EXPECT_EQ(diags.items()[0].mark.column, 6);
  EXPECT_NE(diags.items()[0].message.find("UTF-8"), std::string::npos) << diags.items()[0].message;
}

TEST(YamlReaderTest, ErrorsAreDiagnostics) {
  Diagnostics diags("t.yaml");
  EXPECT_FALSE(ReadYaml("a: [1, 2\n", diags));
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].message.rfind("YAML syntax error: ", 0), 0u);

  Diagnostics two("t.yaml");
  EXPECT_FALSE(ReadYaml("a: 1\n---\nb: 2\n", two));
  EXPECT_EQ(two.items()[0].ToString(), "t.yaml:3:1: a DAG file holds one YAML document; found another here");

  Diagnostics empty("t.yaml");
  EXPECT_FALSE(ReadYaml("# only a comment\n", empty));
  EXPECT_EQ(empty.items()[0].ToString(), "t.yaml: empty file: expected a DAG document");
}

TEST(YamlReaderTest, BlockScalarsAndStringTagsStayStrings) {
  Diagnostics diags("t.yaml");
  auto root = ReadYaml("a: |\n  1\nb: !!str 2\nc:\nd: null\n", diags);
  ASSERT_TRUE(root) << diags.items()[0].ToString();
  EXPECT_TRUE(root->Find("a")->quoted());
  EXPECT_EQ(root->Find("a")->text(), "1\n");
  EXPECT_TRUE(root->Find("b")->quoted());
  EXPECT_TRUE(root->Find("c")->is_null());
  EXPECT_TRUE(root->Find("d")->is_null());
}

TEST(YamlReaderTest, AnAliasWithoutItsAnchorIsAnError) {
  Diagnostics diags("t.yaml");
  EXPECT_FALSE(ReadYaml("a: 1\nb: *nowhere\n", diags));
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].ToString(), "t.yaml:2:4: alias *nowhere refers to no anchor &nowhere before it");
  Diagnostics self("t.yaml");
  EXPECT_FALSE(ReadYaml("a: &x [1, *x]\n", self));
  EXPECT_EQ(self.items()[0].message, "alias *x refers to a node that contains it");
}

TEST(YamlReaderTest, NestingDeeperThanAThousandLevelsIsRefused) {
  Diagnostics diags("t.yaml");
  EXPECT_FALSE(ReadYaml("a: " + std::string(100000, '['), diags));
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].ToString(), "t.yaml:1:1003: YAML nesting deeper than 1000 levels");
  Diagnostics ok("t.yaml");
  EXPECT_TRUE(ReadYaml("a: " + std::string(998, '[') + std::string(998, ']') + "\n", ok));
}

TEST(YamlReaderTest, ExpansionBeyondTheLimitIsRefused) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char name = 'b'; name <= 'h'; ++name) {
    std::string n(1, name);
    text += n + ": &" + n + " [";
    for (int idx = 0; idx < 10; ++idx) text += (idx ? ", *" : "*") + prev;
    text += "]\n";
    prev = n;
  }
  Diagnostics diags("t.yaml");
  EXPECT_FALSE(ReadYaml(text, diags));
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].message, "YAML aliases expand to more than 100000 nodes");
}

}  // namespace
}  // namespace pipeline
