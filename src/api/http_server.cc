// Boost.Beast lives in this file only.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <optional>
#include <thread>
#include <vector>

#include "api/http.h"
#include "core/error.h"

namespace pipeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t idx = 0; idx < in.size(); ++idx) {
    char c = in[idx];
    if (c == '%') {
      if (idx + 2 >= in.size()) return false;
      int hi = Hex(in[idx + 1]), lo = Hex(in[idx + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(char(hi * 16 + lo));
      idx += 2;
    } else {
      out->push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return true;
}

}  // namespace

bool ParseTarget(const std::string& target, std::string* path, std::map<std::string, std::string>* query) {
  size_t q = target.find('?');
  if (!Decode(std::string_view(target).substr(0, q), false, path)) return false;
  query->clear();
  if (q == std::string::npos) return true;
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!Decode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos && !Decode(pair.substr(eq + 1), true, &value)) return false;
    (*query)[key] = value;
  }
  return true;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler, size_t body_limit)
      : stream_(std::move(socket)), handler_(handler), body_limit_(body_limit) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

 private:
  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) return Close();
    if (ec == http::error::body_limit) {
      draining_ = true;  // let the client finish sending, so that it reads the 413
      return Reply(413, R"({"error":{"code":"payload_too_large","message":"request body over )" +
                            std::to_string(body_limit_) + R"( bytes"}})", false);
    }
    if (ec) {
      return Reply(400, R"({"error":{"code":"bad_request","message":"malformed HTTP request"}})", false);
    }
    http::request<http::string_body> req = parser_->release();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = std::string(req[http::field::authorization]);
    request.content_type = std::string(req[http::field::content_type]);
    request.body = std::move(req.body());
    HttpResponse response;
    if (!ParseTarget(request.target, &request.path, &request.query)) {
      response = {400, "application/json", R"({"error":{"code":"bad_request","message":"malformed URL encoding"}})"};
    } else {
      try {
        response = handler_(request);
      } catch (const std::exception& e) {
        response = {500, "application/json", R"({"error":{"code":"internal","message":"internal error"}})"};
      }
    }
    Reply(response.status, std::move(response.body), req.keep_alive(), response.content_type);
  }

  void Reply(int status, std::string body, bool keep_alive, const std::string& type = "application/json") {
    auto res = std::make_shared<http::response<http::string_body>>(http::status(status), 11);
    res->set(http::field::server, "piped");
    res->set(http::field::content_type, type);
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->Close();
      self->Read();
    });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (draining_) Discard();
  }

  // Reads and drops what the client still sends (at most kDrainLimit bytes,
  // for at most 10 s), then closes.
  void Discard() {
    static constexpr size_t kDrainLimit = 64u << 20;
    if (drained_ >= kDrainLimit) return;
    stream_.expires_after(std::chrono::seconds(10));
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (!ec) self->Discard();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler& handler_;
  size_t body_limit_;
  bool draining_ = false;
  size_t drained_ = 0;
  std::array<char, 16384> scratch_;
};

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)), ioc_(options_.threads), acceptor_(ioc_) {}

  void Start() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) throw Error::InvalidArgument("cannot listen on '" + options_.host + "': not an IP address");
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw Error::Unavailable("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                               ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int idx = 0; idx < options_.threads; ++idx) threads_.emplace_back([this] { ioc_.run(); });
  }

  void Stop() {
    if (threads_.empty()) return;
    asio::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  int port() const { return port_; }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
      } else {
        std::make_shared<Session>(std::move(socket), handler_, options_.body_limit)->Read();
      }
      Accept();
    });
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}
HttpServer::~HttpServer() { impl_->Stop(); }
void HttpServer::Start() { impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
int HttpServer::port() const { return impl_->port(); }

}  // namespace pipeline
