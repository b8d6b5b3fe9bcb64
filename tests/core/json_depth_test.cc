#include "core/json_depth.h"

#include <gtest/gtest.h>

#include <string>

namespace pipeline {
namespace {

TEST(JsonDepthTest, CountsNestingOutsideStringsOnly) {
  EXPECT_EQ(JsonNestingDepth(""), 0);
  EXPECT_EQ(JsonNestingDepth("1"), 0);
  EXPECT_EQ(JsonNestingDepth("{}"), 1);
  EXPECT_EQ(JsonNestingDepth(R"({"a": [1, {"b": [2]}], "c": {}})"), 4);
  // Brackets in strings, escaped quotes and backslashes do not count.
  EXPECT_EQ(JsonNestingDepth(R"({"a": "[[[{{{", "b": "\"[[", "c": "\\", "d": [1]})"), 2);
  EXPECT_EQ(JsonNestingDepth(R"(["\\\"[", [[]]])"), 3);
  // Deep enough to overflow a recursive reader's stack, measured in a loop.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(JsonNestingDepth(deep), 100000);
  EXPECT_GT(JsonNestingDepth(deep), kMaxJsonDepth);
}

}  // namespace
}  // namespace pipeline
