// Posting a JSON document to a URL, for what the pipeline tells the outside
// world (OpenLineage events, notifications): http:// or https:// (the
// peer's certificate checked against the system's CAs and the host name).
// Blocking, with a deadline; one attempt (callers retry as they see fit).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace pipeline::net {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;    // "80"/"443" when not given
  std::string target;  // path and query, "/" when empty
};

// nullopt, with `error` saying why, when `url` is not http(s)://HOST[:PORT][/...].
std::optional<Url> ParseUrl(const std::string& url, std::string* error);

struct PostResult {
  int status = 0;     // the HTTP status, 0 when no response came
  std::string error;  // why no 2xx: "connection refused", "HTTP 500: ...", ...
  bool ok() const { return status >= 200 && status < 300; }
};

// `authorization`, when not empty, is sent as the Authorization header.
PostResult PostJson(const Url& url, const std::string& body, std::chrono::milliseconds timeout,
                    const std::string& user_agent, const std::string& authorization = "");
// A GET of `url` (a sensor's check): its status, the body not kept.
PostResult Get(const Url& url, std::chrono::milliseconds timeout, const std::string& user_agent);

// The URL for messages and logs: scheme, host, port and the path's first
// segment only (a webhook's path often is its secret).
std::string Shown(const Url& url);

}  // namespace pipeline::net
