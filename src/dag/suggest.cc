#include "dag/suggest.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <vector>

namespace pipeline {

size_t EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: a swap of two neighbouring characters ("mni"
  // for "min") counts as one edit, like a single wrong character.
  const size_t cols = b.size() + 1;
  std::vector<size_t> d((a.size() + 1) * cols);
  auto at = [&](size_t i, size_t j) -> size_t& { return d[i * cols + j]; };
  for (size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
  for (size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(a.size(), b.size());
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.empty()) return "";
  // The same word in another case is the likeliest ("utc" for "UTC"),
  // however short (edit distance would count every changed letter).
  for (const std::string& candidate : candidates) {
    if (candidate != word && candidate.size() == word.size() &&
        std::equal(word.begin(), word.end(), candidate.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
      return candidate;
    }
  }
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
