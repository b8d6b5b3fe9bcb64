// "Did you mean" suggestions for misspelled names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

// Levenshtein distance (insertions, deletions, substitutions).
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if close enough to be a plausible typo;
// otherwise "".
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace pipeline
