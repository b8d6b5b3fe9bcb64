// The DAG files' YAML goes through libyaml's event parser (the C reference
// implementation): on a 10,000-task file it parses several times faster than
// yaml-cpp's scanner, which `pipectl validate` and the daemon's reloads feel.

#include "dag/yaml_reader.h"

#include <yaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pipeline {

namespace {

Mark ToMark(const yaml_mark_t& m) { return {int(m.line) + 1, int(m.column) + 1}; }

struct ReadFailure {
  Mark mark;
  std::string message;
};

std::string Text(const yaml_char_t* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

bool IsStringTag(const yaml_char_t* tag) {
  if (!tag) return false;
  std::string_view t(reinterpret_cast<const char*>(tag));
  return t == "!" || t == "tag:yaml.org,2002:str";
}

// Builds DocNodes from libyaml's parse events. Each node carries its expanded
// size (itself plus everything under it, aliases counted in full) so that an
// alias bomb is caught before anything walks it.
class TreeBuilder {
 public:
  DocNode::Ptr root() const { return root_; }

  // Handles a node event (scalar, alias, start or end of a container).
  void On(const yaml_event_t& e) {
    const Mark mark = ToMark(e.start_mark);
    switch (e.type) {
      case YAML_ALIAS_EVENT: {
        std::string name = Text(e.data.alias.anchor);
        auto it = anchors_.find(name);
        if (it == anchors_.end()) {
          for (size_t d = 0; d < depth_; ++d) {
            const Frame& f = stack_[d];
            if (f.anchor == name) throw ReadFailure{mark, "alias *" + name + " refers to a node that contains it"};
          }
          throw ReadFailure{mark, "alias *" + name + " refers to no anchor &" + name + " before it"};
        }
        Add(it->second.node, it->second.size, "", mark);
        break;
      }
      case YAML_SCALAR_EVENT: {
        const auto& s = e.data.scalar;
        std::string value(reinterpret_cast<const char*>(s.value), s.length);
        // Any quoting or block style, or an explicit string tag, keeps the
        // text a string: a quoted "1" stays the text 1.
        bool quoted = s.style != YAML_PLAIN_SCALAR_STYLE || IsStringTag(s.tag);
        bool null = !quoted && (value.empty() || value == "~" || value == "null" || value == "Null" ||
                                value == "NULL");
        auto node = null ? DocNode::Null(mark) : DocNode::Scalar(std::move(value), quoted, mark);
        Add(std::move(node), 1, Text(s.anchor), mark);
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
        Open(DocNode::Kind::kSequence, Text(e.data.sequence_start.anchor), mark);
        break;
      case YAML_MAPPING_START_EVENT:
        Open(DocNode::Kind::kMap, Text(e.data.mapping_start.anchor), mark);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame& frame = stack_[depth_ - 1];
        // The children move into a vector of their exact size: one
        // allocation per container, however many children it has.
        if (frame.node->is_sequence()) {
          frame.node->set_items({std::make_move_iterator(frame.items.begin()), std::make_move_iterator(frame.items.end())});
        } else {
          frame.node->set_entries(
              {std::make_move_iterator(frame.entries.begin()), std::make_move_iterator(frame.entries.end())});
        }
        frame.items.clear();
        frame.entries.clear();
        DocNode::Ptr node = std::move(frame.node);
        int64_t size = frame.size;
        std::string anchor = std::move(frame.anchor);
        --depth_;
        Mark where = node->mark();
        Add(std::move(node), size, anchor, where);
        break;
      }
      default:
        break;
    }
  }

 private:
  struct Sized {
    DocNode::Ptr node;
    int64_t size = 0;
  };
  // An open container. Frames stay in stack_ when closed (depth_ says how
  // many are open), so their child buffers are reused by the next container
  // at that depth.
  struct Frame {
    std::shared_ptr<DocNode> node;
    int64_t size = 1;
    std::string anchor;
    DocNode::Ptr pending_key;  // maps: the key waiting for its value
    std::vector<DocNode::Ptr> items;
    std::vector<DocNode::Entry> entries;
  };

  void Open(DocNode::Kind kind, std::string anchor, Mark mark) {
    CheckDepth(mark);
    if (depth_ == stack_.size()) stack_.emplace_back();
    Frame& frame = stack_[depth_++];
    frame.node = std::make_shared<DocNode>(kind, mark);
    frame.size = 1;
    frame.anchor = std::move(anchor);
    frame.pending_key = nullptr;
  }

  // Whatever walks the tree later recurses, so the nesting has a bound.
  void CheckDepth(Mark mark) const {
    if (depth_ >= kMaxDepth) {
      throw ReadFailure{mark, "YAML nesting deeper than " + std::to_string(kMaxDepth) + " levels"};
    }
  }

  static constexpr size_t kMaxDepth = 1000;

  void Add(DocNode::Ptr node, int64_t size, const std::string& anchor, Mark where) {
    if (!anchor.empty()) anchors_[anchor] = {node, size};
    if (depth_ == 0) {
      root_ = std::move(node);
      return;
    }
    Frame& parent = stack_[depth_ - 1];
    parent.size += size;
    if (parent.size > kMaxExpandedNodes) {
      throw ReadFailure{where, "YAML aliases expand to more than " + std::to_string(kMaxExpandedNodes) + " nodes"};
    }
    if (parent.node->is_sequence()) {
      parent.items.push_back(std::move(node));
    } else if (!parent.pending_key) {
      parent.pending_key = std::move(node);
    } else {
      parent.entries.emplace_back(std::move(parent.pending_key), std::move(node));
    }
  }

  std::vector<Frame> stack_;
  size_t depth_ = 0;  // the open frames are stack_[0, depth_)
  std::map<std::string, Sized> anchors_;
  DocNode::Ptr root_;
};

// libyaml's parser and its current event, released whatever happens.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~Parser() {
    if (has_event_) yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // The next event; a syntax error throws ReadFailure at its position.
  const yaml_event_t& Next() {
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = false;
    if (!yaml_parser_parse(&parser_, &event_)) {
      std::string message = "YAML syntax error: " + Text(reinterpret_cast<const yaml_char_t*>(parser_.problem));
      if (parser_.context) {
        message += " (" + std::string(parser_.context) + " started at line " +
                   std::to_string(parser_.context_mark.line + 1) + ", column " +
                   std::to_string(parser_.context_mark.column + 1) + ")";
      }
      // A reader error (bad UTF-8, a control character) has no mark, only
      // the byte where it is.
      const Mark at = parser_.error == YAML_READER_ERROR ? MarkOfByte(parser_.problem_offset) : ToMark(parser_.problem_mark);
      throw ReadFailure{at, message};
    }
    has_event_ = true;
    return event_;
  }

 private:
  // Line and column (in characters, as libyaml's marks) of a byte offset.
  Mark MarkOfByte(size_t offset) const {
    offset = std::min(offset, text_.size());
    Mark mark{1, 1};
    for (size_t i = 0; i < offset; ++i) {
      if (text_[i] == '\n') {
        ++mark.line;
        mark.column = 1;
      } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
        ++mark.column;  // not a UTF-8 continuation byte
      }
    }
    return mark;
  }

  std::string_view text_;
  yaml_parser_t parser_;
  yaml_event_t event_;
  bool has_event_ = false;
};

}  // namespace

DocNode::Ptr ReadYaml(std::string_view text, Diagnostics& diags) {
  try {
    Parser parser(text);
    TreeBuilder builder;
    bool in_document = false, done = false;
    while (!done) {
      const yaml_event_t& e = parser.Next();
      switch (e.type) {
        case YAML_STREAM_END_EVENT:
          done = true;
          break;
        case YAML_DOCUMENT_START_EVENT:
          if (builder.root()) {
            // A second document: name where its first node starts.
            Mark where = ToMark(e.start_mark);
            const yaml_event_t& first = parser.Next();
            if (first.type != YAML_DOCUMENT_END_EVENT) where = ToMark(first.start_mark);
            diags.Add(where, "a DAG file holds one YAML document; found another here");
            return nullptr;
          }
          in_document = true;
          break;
        case YAML_DOCUMENT_END_EVENT:
          in_document = false;
          break;
        default:
          if (in_document) builder.On(e);
          break;
      }
    }
    if (!builder.root()) {
      diags.Add({}, "empty file: expected a DAG document");
      return nullptr;
    }
    return builder.root();
  } catch (const ReadFailure& f) {
    diags.Add(f.mark, f.message);
  }
  return nullptr;
}

}  // namespace pipeline
