#include "api/auth.h"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace pipeline {

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "operator") return Role::kOperator;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "viewer";
}

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned idx = 0; idx < size; ++idx) {
    out += kHex[digest[idx] >> 4];
    out += kHex[digest[idx] & 15];
  }
  return out;
}

TokenStore TokenStore::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error::Unavailable("cannot read token file " + path);
  TokenStore store;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string role_name, digest;
    if (!(fields >> role_name)) continue;  // blank
    auto role = ParseRole(role_name);
    fields >> digest;
    bool hex = digest.size() == 64 && digest.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!role || !hex) {
      throw Error::InvalidArgument(path + ":" + std::to_string(line_no) +
                                   ": expected 'viewer|operator|admin SHA256_HEX [name]'");
    }
    store.Add(*role, digest);
  }
  return store;
}

std::optional<Role> TokenStore::RoleFor(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  std::string hash = Sha256Hex(token);
  std::optional<Role> best;
  for (const Entry& e : entries_) {
    // Compare every byte: no early exit that would leak timing.
    unsigned char diff = 0;
    for (size_t idx = 0; idx < 64; ++idx) diff |= static_cast<unsigned char>(hash[idx] ^ e.hash[idx]);
    if (diff == 0 && (!best || e.role > *best)) best = e.role;
  }
  return best;
}

}  // namespace pipeline
