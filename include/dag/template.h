// The template language of DAG files: `{{ name }}` placeholders in strings,
// no logic. `{{ '{{' }}` (any quoted literal) writes its text literally.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

class Template {
 public:
  struct Part {
    bool is_variable = false;
    std::string text;  // literal text, or the variable's name
  };

  // Parses `text`. On a malformed placeholder returns std::nullopt and sets
  // *error to a message naming it.
  static std::optional<Template> Parse(std::string_view text, std::string* error);
  // The same for validation: every malformed placeholder's message goes to
  // *errors, and the well-formed ones before an unterminated '{{' (which
  // ends the text) are kept, so that they can be checked too.
  static Template ParseAll(std::string_view text, std::vector<std::string>* errors);

  const std::vector<Part>& parts() const { return parts_; }
  bool has_variables() const;

  // Substitutes each variable with lookup(name). Precondition: lookup knows
  // every variable (the loader has checked them).
  std::string Render(const std::function<std::string(std::string_view)>& lookup) const;

 private:
  // Stops at the first error unless `keep_going`.
  static Template Scan(std::string_view text, bool keep_going, std::vector<std::string>* errors);
  std::vector<Part> parts_;
};

// Names every template may use besides params.NAME.
const std::vector<std::string>& BuiltinTemplateVariables();

}  // namespace pipeline

namespace pipeline {

class DocNode;

// A copy of `node` with every template in its scalars rendered by `lookup`.
// Map keys are left as they are.
std::shared_ptr<const DocNode> RenderDoc(const DocNode& node,
                                         const std::function<std::string(std::string_view)>& lookup);

// Renders one string; `text` must have passed Template::Parse (the loader checks).
std::string RenderString(const std::string& text,
                         const std::function<std::string(std::string_view)>& lookup);

}  // namespace pipeline
