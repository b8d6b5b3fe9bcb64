#include "cli/client.h"

#include <algorithm>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace pipeline::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// http://HOST:PORT, http://[IPV6]:PORT, or either without the scheme; a
// trailing '/' is fine, another path is not (piped serves at its root).
ApiClient::ApiClient(const std::string& server, std::string token) : server_(server), token_(std::move(token)) {
  auto bad = [&](const std::string& why) {
    return Error::InvalidArgument("server URL '" + server + "': " + why + " (expected http://HOST:PORT)");
  };
  std::string rest = server;
  if (rest.rfind("https://", 0) == 0) throw Error::InvalidArgument("https is not supported: use a TLS proxy in front of piped");
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    throw bad("the scheme must be http");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) throw bad("a path is not supported, piped serves at its root");
  if (rest.find('@') != std::string::npos) throw bad("no user or password in it: give a token with --token or PIPE_TOKEN");
  size_t colon;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') throw bad("a port must follow ']'");
    host_ = rest.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = rest.rfind(':');
    if (colon == std::string::npos) throw bad("no port");
    host_ = rest.substr(0, colon);
    if (host_.find(':') != std::string::npos) throw bad("write an IPv6 address in brackets, [::1]");
  }
  if (host_.empty()) throw bad("no host");
  port_ = rest.substr(colon + 1);
  const bool digits = !port_.empty() && port_.size() <= 5 &&
                      std::all_of(port_.begin(), port_.end(), [](unsigned char c) { return std::isdigit(c); });
  if (!digits || std::stoi(port_) < 1 || std::stoi(port_) > 65535) throw bad("the port must be 1..65535, not '" + port_ + "'");
  host_header_ = rest.substr(0, colon);
}

HttpResponse ApiClient::Request(const std::string& method, const std::string& target, const std::string& body) {
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host_, port_));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_header_ + ":" + port_);
    req.set(http::field::user_agent, "pipectl");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(stream, buffer, parser);
    auto res = parser.release();
    beast::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return {int(res.result_int()), std::string(res[http::field::content_type]), std::move(res.body())};
  } catch (const boost::system::system_error& e) {
    throw Error::Unavailable("cannot reach the daemon at " + server_ + ": " + e.code().message());
  }
}

std::string ErrorMessage(const HttpResponse& response) {
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (!j.is_discarded() && j.contains("error") && j["error"].contains("message")) {
    return j["error"]["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(response.status) + ": " + response.body;
}

}  // namespace pipeline::cli
