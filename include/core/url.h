// Text for a URL: one path segment of a REST route (a run or task id).
#pragma once

#include <string>

namespace pipeline {

// `text` with every byte but letters, digits and -._~ percent-encoded
// (RFC 3986's unreserved characters): "check[0]" is "check%5B0%5D".
std::string PathSegment(const std::string& text);

}  // namespace pipeline
