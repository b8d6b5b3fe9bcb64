// The project's one error type for unexpected failures (database lost, I/O
// error, corrupt state). Expected outcomes (an invalid DAG, a failed task) are
// values, not exceptions: see Diagnostic and TaskResult.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace pipeline {

enum class ErrorCode {
  kInvalidArgument,  // usage error: bad flag, bad parameter value
  kInvalidDag,       // a DAG file failed validation
  kNotFound,
  kConflict,         // e.g. a state transition lost a race
  kUnavailable,      // database or server cannot be reached
  kCorruption,       // stored state that cannot be read back
  kCancelled,
  kInternal,
};

std::string_view ErrorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  ErrorCode code() const { return code_; }

  static Error InvalidArgument(const std::string& m) { return {ErrorCode::kInvalidArgument, m}; }
  static Error InvalidDag(const std::string& m) { return {ErrorCode::kInvalidDag, m}; }
  static Error NotFound(const std::string& m) { return {ErrorCode::kNotFound, m}; }
  static Error Conflict(const std::string& m) { return {ErrorCode::kConflict, m}; }
  static Error Unavailable(const std::string& m) { return {ErrorCode::kUnavailable, m}; }
  static Error Corruption(const std::string& m) { return {ErrorCode::kCorruption, m}; }
  static Error Cancelled(const std::string& m) { return {ErrorCode::kCancelled, m}; }
  static Error Internal(const std::string& m) { return {ErrorCode::kInternal, m}; }

 private:
  ErrorCode code_;
};

}  // namespace pipeline
