// The content hash the stores record of every file a task writes or reads
// (artifacts, model files, ingested sources): "xxh3:" and the 16 hex digits
// of XXH3_64bits over the file's bytes.
#pragma once

#include <optional>
#include <string>

namespace pipeline::columnar {

// std::nullopt when the file cannot be opened or read to its end.
std::optional<std::string> FileContentHash(const std::string& path);

}  // namespace pipeline::columnar
