#include "dag/suggest.h"

#include <algorithm>
#include <numeric>

namespace pipeline {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t idx_a = 1; idx_a <= a.size(); ++idx_a) {
    size_t diagonal = row[0];
    row[0] = idx_a;
    for (size_t idx_b = 1; idx_b <= b.size(); ++idx_b) {
      size_t above = row[idx_b];
      size_t cost = a[idx_a - 1] == b[idx_b - 1] ? 0 : 1;
      row[idx_b] = std::min({row[idx_b] + 1, row[idx_b - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.empty()) return "";
  // A typo changes a few characters: about one in three, at least one, and
  // never the whole word.
  size_t limit = std::min(std::max<size_t>(1, word.size() / 3), word.size() - 1);
  size_t best = limit + 1;
  std::string match;
  for (const std::string& candidate : candidates) {
    size_t d = EditDistance(word, candidate);
    if (d < best && d > 0) {
      best = d;
      match = candidate;
    }
  }
  return match;
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string match = ClosestMatch(word, candidates);
  return match.empty() ? "" : " (did you mean '" + match + "'?)";
}

}  // namespace pipeline
