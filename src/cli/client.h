// A small blocking HTTP client for the daemon's REST API.
#pragma once

#include <string>

#include "api/http.h"
#include "core/url.h"

namespace pipeline::cli {

class ApiClient {
 public:
  // `server`: "http://HOST:PORT" (or "HOST:PORT"); `token` may be empty.
  // Throws Error(kInvalidArgument) for a malformed URL.
  ApiClient(const std::string& server, std::string token);

  // Throws Error(kUnavailable) naming the server when it cannot be reached.
  HttpResponse Request(const std::string& method, const std::string& target, const std::string& body = "");

  const std::string& server() const { return server_; }

 private:
  std::string server_;
  std::string host_;  // for the resolver: an IPv6 address without its brackets
  std::string port_;
  std::string host_header_;  // HOST or [IPV6]
  std::string token_;
};

// The error message of a JSON error body ({"error": {"message"}}), or the body.
std::string ErrorMessage(const HttpResponse& response);

// PathSegment (core/url.h): an id as the user typed it, as one segment of a
// URL path, so that a space or a '?' reaches the API, which names the bad id.
using pipeline::PathSegment;

}  // namespace pipeline::cli
