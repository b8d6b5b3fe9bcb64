// HTTP as the API handlers see it: plain structs, no Boost types, so that
// handlers can be tested and fuzzed without a socket.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// A response that goes on after its headers (Server-Sent Events): the
// server calls Next() every `interval` on one of its request threads (the
// connection's thread when it has none) and writes what it returns, until it
// returns nullopt or the client goes away. Next() must not wait long (it
// holds a server thread).
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // The bytes to send now ("" for none yet), or nullopt to end the response.
  virtual std::optional<std::string> Next() = 0;
  std::chrono::milliseconds interval{200};
};

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int status_code, std::string type, std::string text)
      : status(status_code), content_type(std::move(type)), body(std::move(text)) {}

  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones, e.g. Allow
  // Set: `body` is sent first, then what the stream gives (no length; the
  // connection closes at its end).
  std::shared_ptr<HttpStream> stream;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Splits "/a/b?x=1&y=%20" into path "/a/b" and query {x: 1, y: " "}.
// Returns false for malformed percent-encoding.
bool ParseTarget(const std::string& target, std::string* path, std::map<std::string, std::string>* query);

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port (see port())
  // Connection threads: each owns the connections it accepted (an Asio
  // io_context of its own), reads their requests and writes the answers.
  int threads = 2;
  // Threads for the requests that may take a while (a store query, a
  // prediction over many rows), so that one does not hold up the other
  // connections of its thread; 0: every request is answered on its
  // connection's thread.
  int request_threads = 0;
  // Whether a request is answered on its connection's thread, without a
  // hand-over (unset: every request is): for the cheap ones, such as a
  // health check or a prediction of a few rows.
  std::function<bool(const HttpRequest&)> answer_inline;
  size_t body_limit = 1 << 20;    // larger bodies get 413
  // Open connections at most; 0: a quarter of the descriptor limit
  // (RLIMIT_NOFILE), at most 4096. A connection past the cap closes the one
  // that has waited longest for a request, so new clients (a health check)
  // are still answered while idle or half-open connections pile up.
  int max_connections = 0;
};

// An HTTP/1.1 server on Boost.Beast, asynchronous: connection threads each
// run their own connections, and hand the requests that are not answered
// inline to the request threads.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  // Binds and listens. Throws Error(kUnavailable) when it cannot bind, naming
  // the process that holds the port when it is one of this machine's.
  void Listen();
  // Starts serving (listens first if Listen() was not called).
  void Start();
  // Stops accepting, closes connections, joins the threads. Idempotent.
  void Stop();
  int port() const;
  int max_connections() const;
  int open_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pipeline
