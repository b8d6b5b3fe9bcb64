// HTTP as the API handlers see it: plain structs, no Boost types, so that
// handlers can be tested and fuzzed without a socket.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace pipeline {

struct HttpRequest {
  std::string method;                         // "GET", "POST", ...
  std::string target;                         // as sent: path and query
  std::string path;                           // percent-decoded path
  std::map<std::string, std::string> query;   // percent-decoded
  std::string authorization;                  // the Authorization header
  std::string content_type;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Splits "/a/b?x=1&y=%20" into path "/a/b" and query {x: 1, y: " "}.
// Returns false for malformed percent-encoding.
bool ParseTarget(const std::string& target, std::string* path, std::map<std::string, std::string>* query);

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port (see port())
  int threads = 2;
  size_t body_limit = 1 << 20;    // larger bodies get 413
};

// An HTTP/1.1 server on Boost.Beast: asynchronous, on a small Asio thread
// pool; each request is handed to the handler on a pool thread.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  // Binds and starts serving. Throws Error(kUnavailable) when it cannot bind.
  void Start();
  // Stops accepting, closes connections, joins the threads. Idempotent.
  void Stop();
  int port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pipeline
