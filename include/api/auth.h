// Bearer tokens with roles. The token file stores SHA-256 hashes, never the
// tokens: one line per token, "ROLE HEX_SHA256 [name]", '#' starts a comment.
// `piped hash-token` prints the line for a token.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

// viewer reads; operator also triggers, cancels, clears, pauses; admin everything.
enum class Role { kViewer = 0, kOperator = 1, kAdmin = 2 };

std::optional<Role> ParseRole(std::string_view name);
std::string_view ToString(Role role);

// Lowercase hex SHA-256 of `text` (OpenSSL).
std::string Sha256Hex(std::string_view text);

class TokenStore {
 public:
  TokenStore() = default;
  // Throws Error(kInvalidArgument) naming FILE:LINE for a malformed line,
  // kUnavailable when the file cannot be read.
  static TokenStore Load(const std::string& path);

  bool empty() const { return entries_.empty(); }
  // The role of a presented token, or nullopt when it is unknown.
  std::optional<Role> RoleFor(std::string_view token) const;
  void Add(Role role, const std::string& sha256_hex) { entries_.push_back({role, sha256_hex}); }

 private:
  struct Entry {
    Role role;
    std::string hash;
  };
  std::vector<Entry> entries_;
};

}  // namespace pipeline
