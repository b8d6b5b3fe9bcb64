// The release this build is (the project's VERSION in CMakeLists.txt; a test
// keeps the two the same): `pipectl --version`, `piped --version`, the API's
// health and /v2 metadata.
#pragma once

namespace pipeline {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace pipeline
