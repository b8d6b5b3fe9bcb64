#include "dag/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <sstream>

namespace pipeline {

namespace {

Mark ToMark(const YAML::Mark& m) { return {m.line + 1, m.column + 1}; }

struct ExpansionTooLarge {
  Mark mark;
};

// Builds DocNodes from yaml-cpp's parse events. Each node carries its
// expanded size (itself plus everything under it, aliases counted in full)
// so that an alias bomb is caught before anything walks it.
class TreeBuilder : public YAML::EventHandler {
 public:
  DocNode::Ptr root() const { return root_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(DocNode::Null(ToMark(mark)), 1, anchor, ToMark(mark));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      // Refers to a container still open: a recursive structure.
      throw YAML::ParserException(mark, "alias refers to a node that contains it");
    }
    Add(it->second.node, it->second.size, YAML::NullAnchor, ToMark(mark));
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    bool quoted = tag == "!" || tag == "tag:yaml.org,2002:str";
    bool null = !quoted && (value == "~" || value == "null" || value == "Null" || value == "NULL");
    auto node = null ? DocNode::Null(ToMark(mark)) : DocNode::Scalar(value, quoted, ToMark(mark));
    Add(std::move(node), 1, anchor, ToMark(mark));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(DocNode::Kind::kSequence, mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(DocNode::Kind::kMap, mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Sized {
    DocNode::Ptr node;
    int64_t size = 0;
  };
  struct Frame {
    std::shared_ptr<DocNode> node;
    int64_t size = 1;
    YAML::anchor_t anchor = YAML::NullAnchor;
    DocNode::Ptr pending_key;  // maps: the key waiting for its value
  };

  void Open(DocNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    stack_.push_back({std::make_shared<DocNode>(kind, ToMark(mark)), 1, anchor, nullptr});
  }

  void Close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    Add(frame.node, frame.size, frame.anchor, frame.node->mark());
  }

  void Add(DocNode::Ptr node, int64_t size, YAML::anchor_t anchor, Mark where) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {node, size};
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    Frame& parent = stack_.back();
    parent.size += size;
    if (parent.size > kMaxExpandedNodes) throw ExpansionTooLarge{where};
    if (parent.node->is_sequence()) {
      parent.node->add_item(std::move(node));
    } else if (!parent.pending_key) {
      parent.pending_key = std::move(node);
    } else {
      parent.node->add_entry(std::move(parent.pending_key), std::move(node));
    }
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Sized> anchors_;
  DocNode::Ptr root_;
};

}  // namespace

DocNode::Ptr ReadYaml(std::string_view text, Diagnostics& diags) {
  std::istringstream in{std::string(text)};
  try {
    YAML::Parser parser(in);
    TreeBuilder builder;
    if (!parser.HandleNextDocument(builder) || !builder.root()) {
      diags.Add({}, "empty file: expected a DAG document");
      return nullptr;
    }
    DocNode::Ptr root = builder.root();
    TreeBuilder rest;
    if (parser.HandleNextDocument(rest)) {
      Mark where = rest.root() ? rest.root()->mark() : Mark{};
      diags.Add(where, "a DAG file holds one YAML document; found another here");
      return nullptr;
    }
    return root;
  } catch (const ExpansionTooLarge& e) {
    diags.Add(e.mark, "YAML aliases expand to more than " + std::to_string(kMaxExpandedNodes) +
                          " nodes");
  } catch (const YAML::Exception& e) {
    diags.Add(ToMark(e.mark), "YAML syntax error: " + e.msg);
  }
  return nullptr;
}

}  // namespace pipeline
