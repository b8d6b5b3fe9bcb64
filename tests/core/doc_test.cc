#include "core/doc.h"

#include <gtest/gtest.h>

namespace pipeline {
namespace {

TEST(DocNodeTest, PlainScalarsHaveTypes) {
  EXPECT_EQ(DocNode::Scalar("42", false)->AsInt(), 42);
  EXPECT_EQ(DocNode::Scalar("-7", false)->AsInt(), -7);
  EXPECT_EQ(DocNode::Scalar("0.5", false)->AsDouble(), 0.5);
  EXPECT_EQ(DocNode::Scalar("3", false)->AsDouble(), 3.0);
  EXPECT_EQ(DocNode::Scalar("true", false)->AsBool(), true);
  EXPECT_EQ(DocNode::Scalar("False", false)->AsBool(), false);
  EXPECT_FALSE(DocNode::Scalar("yes", false)->AsBool().has_value());  // YAML 1.2
  EXPECT_FALSE(DocNode::Scalar("4x", false)->AsInt().has_value());
  EXPECT_FALSE(DocNode::Scalar("99999999999999999999", false)->AsInt().has_value());
}

TEST(DocNodeTest, QuotedScalarsAreStrings) {
  auto quoted = DocNode::Scalar("42", true);
  EXPECT_FALSE(quoted->AsInt().has_value());
  EXPECT_FALSE(quoted->AsBool().has_value());
  EXPECT_EQ(quoted->TypeName(), "a string");
}

TEST(DocNodeTest, FindReturnsFirstValue) {
  DocNode map(DocNode::Kind::kMap, {1, 1});
  map.add_entry(DocNode::Scalar("a", false), DocNode::Scalar("1", false));
  map.add_entry(DocNode::Scalar("b", false), DocNode::Scalar("2", false));
  ASSERT_NE(map.Find("b"), nullptr);
  EXPECT_EQ(map.Find("b")->text(), "2");
  EXPECT_EQ(map.Find("c"), nullptr);
  EXPECT_EQ(map.TypeName(), "a map");
}

}  // namespace
}  // namespace pipeline
