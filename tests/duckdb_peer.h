// DuckDB as a reference for differential tests: runs SQL in an in-memory
// DuckDB through Node (tests/differential/duckdb_query.mjs) and returns the
// rows as JSON. The test command installs it (npm install --prefix tests/differential).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace pipeline::testing_util {

inline std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// 'text' as a SQL string literal.
inline std::string SqlString(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// "name" as a SQL identifier.
inline std::string SqlName(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct DuckDbResult {
  std::vector<std::string> columns;
  std::vector<std::string> types;
  std::vector<nlohmann::json> rows;
};

// Whether the reference is installed; the message says how to install it.
inline ::testing::AssertionResult DuckDbAvailable() {
  std::filesystem::path dir = std::filesystem::path(PIPE_SOURCE_DIR) / "tests" / "differential";
  if (FindOnPath("node").empty()) return ::testing::AssertionFailure() << "node is not on PATH (apt install nodejs npm)";
  if (!std::filesystem::exists(dir / "node_modules" / "@duckdb" / "node-api")) {
    return ::testing::AssertionFailure()
           << "DuckDB for Node is missing: run `npm install --prefix tests/differential` in the source folder";
  }
  return ::testing::AssertionSuccess();
}

// Runs `statements` in one in-memory DuckDB; the last one's rows come back.
// Scratch files go to `dir`.
inline DuckDbResult RunDuckDb(const std::vector<std::string>& statements, const std::filesystem::path& dir) {
  std::filesystem::path script = std::filesystem::path(PIPE_SOURCE_DIR) / "tests" / "differential" / "duckdb_query.mjs";
  std::vector<std::string> args = {FindOnPath("node"), script.string()};
  args.insert(args.end(), statements.begin(), statements.end());
  std::filesystem::path out = dir / "duckdb.out", err = dir / "duckdb.err";
  pid_t pid = SpawnProcess(args, {}, out, err, dir, false);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  DuckDbResult result;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "DuckDB failed: " << read(err);
  std::stringstream lines(read(out));
  std::string line;
  if (!std::getline(lines, line)) return result;
  nlohmann::json header = nlohmann::json::parse(line);
  result.columns = header["columns"].get<std::vector<std::string>>();
  result.types = header["types"].get<std::vector<std::string>>();
  while (std::getline(lines, line)) result.rows.push_back(nlohmann::json::parse(line));
  return result;
}

}  // namespace pipeline::testing_util
