#include "net/http_post.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

namespace pipeline::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::optional<Url> ParseUrl(const std::string& text, std::string* error) {
  Url url;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    rest = text.substr(8);
  } else {
    *error = "'" + text + "' is not an http:// or https:// URL";
    return std::nullopt;
  }
  const size_t slash = rest.find_first_of("/?");
  const std::string authority = rest.substr(0, slash);
  url.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (url.target[0] == '?') url.target = "/" + url.target;
  const size_t at = authority.rfind('@');
  const std::string host_port = at == std::string::npos ? authority : authority.substr(at + 1);
  const size_t colon = host_port.rfind(':');
  url.host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  url.port = colon == std::string::npos ? (url.tls ? "443" : "80") : host_port.substr(colon + 1);
  if (at != std::string::npos) {
    *error = "'" + Shown(url) + "': a URL with user:password@ is not accepted (put secrets in the secrets file)";
    return std::nullopt;
  }
  if (url.host.empty() || url.port.empty() || url.port.size() > 5 ||
      url.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(url.port) < 1 ||
      std::stoi(url.port) > 65535) {
    *error = "'" + text.substr(0, text.find('/', 8)) + "' has no valid HOST[:PORT] (a port is 1 to 65535)";
    return std::nullopt;
  }
  return url;
}

std::string Shown(const Url& url) {
  std::string first = url.target.substr(0, url.target.find_first_of("/?", 1));
  const bool more = first.size() < url.target.size();
  return std::string(url.tls ? "https://" : "http://") + url.host + ":" + url.port + first + (more ? "/..." : "");
}

namespace {

// One request on a connected (and, for https, handshaken) stream, all of it
// asynchronous so that the caller's deadline bounds every step: Beast's
// timeouts and io_context::run_for apply to asynchronous operations only.
// Sets `out` and `done` when it has an answer or an error.
template <class Stream>
void Exchange(Stream& stream, const http::request<http::string_body>& req, beast::flat_buffer& buffer,
              http::response_parser<http::string_body>& parser, PostResult& out, bool& done) {
  http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
    if (ec) {
      out = {0, ec.message()};
      done = true;
      return;
    }
    http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
      done = true;
      if (rec) {
        out = {0, rec.message()};
        return;
      }
      const auto& res = parser.get();
      out.status = static_cast<int>(res.result_int());
      if (!out.ok()) {
        out.error = "HTTP " + std::to_string(out.status) + (res.body().empty() ? "" : ": " + res.body().substr(0, 200));
      }
    });
  });
}

// `body` nullopt: a GET; else a POST of JSON. Every step (name lookup,
// connect, TLS handshake, request, answer) within `timeout` in all.
PostResult Request(const Url& url, const std::optional<std::string>& body, std::chrono::milliseconds timeout,
                   const std::string& user_agent, const std::string& authorization = "") {
  http::request<http::string_body> req(body ? http::verb::post : http::verb::get, url.target, 11);
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, user_agent);
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = *body;
  }
  req.prepare_payload();
  PostResult out;
  bool done = false;
  auto fail = [&](const beast::error_code& ec) {
    out = {0, ec.message()};
    done = true;
  };
  try {
    // The io_context outlives the operations below: declared first, it is
    // destroyed last, with the handlers of whatever the deadline cut off.
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    asio::ssl::context tls(asio::ssl::context::tls_client);
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    if (url.tls) {
      tls.set_default_verify_paths();
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
      secure.emplace(ioc, tls);
      if (!SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str())) {  // SNI
        return {0, "cannot set the TLS server name " + url.host};
      }
    } else {
      plain.emplace(ioc);
    }
    beast::tcp_stream& tcp = url.tls ? beast::get_lowest_layer(*secure) : *plain;
    resolver.async_resolve(url.host, url.port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type results) {
      if (ec) return fail(ec);
      tcp.expires_after(timeout);
      tcp.async_connect(results, [&](beast::error_code cec, const asio::ip::tcp::endpoint&) {
        if (cec) return fail(cec);
        if (!url.tls) return Exchange(*plain, req, buffer, parser, out, done);
        secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code hec) {
          if (hec) return fail(hec);
          Exchange(*secure, req, buffer, parser, out, done);
        });
      });
    });
    ioc.run_for(timeout);
    if (!done) return {0, "no answer within " + std::to_string(timeout.count()) + " ms"};
    beast::error_code ec;
    tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);  // TLS: no close_notify wait; the answer is in
    return out;
  } catch (const boost::system::system_error& e) {
    return {0, e.code().message()};
  }
}

}  // namespace

PostResult PostJson(const Url& url, const std::string& body, std::chrono::milliseconds timeout,
                    const std::string& user_agent, const std::string& authorization) {
  return Request(url, body, timeout, user_agent, authorization);
}

PostResult Get(const Url& url, std::chrono::milliseconds timeout, const std::string& user_agent) {
  return Request(url, std::nullopt, timeout, user_agent);
}

}  // namespace pipeline::net
