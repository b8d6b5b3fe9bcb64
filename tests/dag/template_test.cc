#include "dag/template.h"

#include <gtest/gtest.h>

#include "core/doc.h"

namespace pipeline {
namespace {

std::string Lookup(std::string_view name) { return "<" + std::string(name) + ">"; }

std::string RenderText(const std::string& text) {
  std::string error;
  auto t = Template::Parse(text, &error);
  EXPECT_TRUE(t) << error;
  return t ? t->Render(Lookup) : "";
}

std::string ParseError(const std::string& text) {
  std::string error;
  EXPECT_FALSE(Template::Parse(text, &error)) << text;
  return error;
}

TEST(TemplateTest, SubstitutesWithOrWithoutSpaces) {
  EXPECT_EQ(RenderText("a {{ params.x }} b {{run.id}} c"), "a <params.x> b <run.id> c");
  EXPECT_EQ(RenderText("{{   task.try   }}"), "<task.try>");
  EXPECT_EQ(RenderText("no placeholders"), "no placeholders");
  EXPECT_EQ(RenderText(""), "");
}

TEST(TemplateTest, QuotedLiteralWritesBraces) {
  EXPECT_EQ(RenderText("{{ '{{' }} x }}"), "{{ x }}");
  EXPECT_EQ(RenderText("{{ \"}}\" }}"), "}}");
  EXPECT_EQ(RenderText("lone }} stays"), "lone }} stays");
}

TEST(TemplateTest, VariablesAreListed) {
  std::string error;
  auto t = Template::Parse("{{ a.b }}x{{ c }}", &error);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->parts().size(), 3u);
  EXPECT_TRUE(t->parts()[0].is_variable);
  EXPECT_EQ(t->parts()[0].text, "a.b");
  EXPECT_FALSE(t->parts()[1].is_variable);
  EXPECT_TRUE(t->has_variables());
}

TEST(TemplateTest, MalformedPlaceholdersAreErrors) {
  EXPECT_EQ(ParseError("x {{ params.a"),
            "unterminated '{{' at offset 2 (write a literal '{{' as {{ '{{' }})");
  EXPECT_EQ(ParseError("{{ }}"), "empty placeholder '{{}}'");
  EXPECT_EQ(ParseError("{{ a | upper }}"),
            "placeholder '{{ a | upper }}' is not a variable name (templates have no logic)");
  EXPECT_EQ(ParseError("{{ a..b }}"),
            "placeholder '{{ a..b }}' is not a variable name (templates have no logic)");
  EXPECT_EQ(ParseError("{{ 'open }}"), "unterminated quoted literal in placeholder at offset 0");
}

TEST(TemplateTest, ValidationGetsEveryErrorOfAStringAndItsWellFormedVariables) {
  std::vector<std::string> errors;
  Template t = Template::ParseAll("{{ a | b }} {{ c }} {{ }} {{ d }} {{ e", &errors);
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "placeholder '{{ a | b }}' is not a variable name (templates have no logic)",
                        "empty placeholder '{{}}'",
                        "unterminated '{{' at offset 34 (write a literal '{{' as {{ '{{' }})"}));
  std::vector<std::string> variables;
  for (const Template::Part& part : t.parts()) {
    if (part.is_variable) variables.push_back(part.text);
  }
  EXPECT_EQ(variables, (std::vector<std::string>{"c", "d"}));
}

TEST(TemplateTest, RenderDocRendersScalarsOnly) {
  auto map = std::make_shared<DocNode>(DocNode::Kind::kMap, Mark{1, 1});
  map->add_entry(DocNode::Scalar("{{ k }}", false), DocNode::Scalar("v={{ x }}", false));
  auto seq = std::make_shared<DocNode>(DocNode::Kind::kSequence, Mark{2, 1});
  seq->add_item(DocNode::Scalar("{{ y }}", true));
  map->add_entry(DocNode::Scalar("list", false), seq);
  auto out = RenderDoc(*map, Lookup);
  ASSERT_EQ(out->entries().size(), 2u);
  EXPECT_EQ(out->entries()[0].first->text(), "{{ k }}");  // keys untouched
  EXPECT_EQ(out->entries()[0].second->text(), "v=<x>");
  EXPECT_EQ(out->entries()[1].second->items()[0]->text(), "<y>");
  // A value that is one placeholder reads as what it renders to (a number,
  // say), not as the quoted string YAML needed around the braces.
  EXPECT_FALSE(out->entries()[1].second->items()[0]->quoted());
  EXPECT_TRUE(out->entries()[0].second->quoted() == false);  // was plain: stays plain
  auto numbers = std::make_shared<DocNode>(DocNode::Kind::kMap, Mark{1, 1});
  numbers->add_entry(DocNode::Scalar("rate", false), DocNode::Scalar(" {{ rate }} ", true));
  numbers->add_entry(DocNode::Scalar("file", false), DocNode::Scalar("{{ rate }}.csv", true));
  numbers->add_entry(DocNode::Scalar("two", false), DocNode::Scalar("{{ rate }}{{ rate }}", true));
  auto rendered = RenderDoc(*numbers, [](std::string_view) { return std::string("0.5"); });
  EXPECT_EQ(rendered->Find("rate")->AsDouble(), 0.5);
  EXPECT_EQ(rendered->Find("file")->text(), "0.5.csv");
  EXPECT_TRUE(rendered->Find("file")->quoted());
  EXPECT_TRUE(rendered->Find("two")->quoted());
}

}  // namespace
}  // namespace pipeline
