// Boost.Beast lives in this file only.

#include <fcntl.h>
#include <sys/resource.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "api/http.h"
#include "core/error.h"

namespace pipeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
// Each API thread runs an io_context of its own, and a connection lives on one
// of them for its whole life: its handlers never run concurrently (no strand),
// and no request waits for a lock or a wake-up shared with another thread.
// The executor is named by its concrete type (beast::tcp_stream's type-erased
// executor costs a copy and an atomic count on every operation).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Stream = beast::basic_stream<tcp, Executor>;

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

// A port's listener on this machine, for "address in use": "process 1234
// (sleep)", or "" when the holder cannot be seen (another user's process).
std::string DescribePortHolder(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      size_t colon = local.rfind(':');
      if (state != "0A" || colon == std::string::npos) continue;  // 0A: LISTEN
      if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) inodes.insert("socket:[" + inode + "]");
    }
  }
  if (inodes.empty()) return "";
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = proc.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", ec)) {
      std::error_code link_ec;
      if (!inodes.count(std::filesystem::read_symlink(fd.path(), link_ec).string())) continue;
      std::ifstream comm(proc.path() / "comm");
      std::string name;
      std::getline(comm, name);
      return "process " + pid + " (" + name + ")";
    }
  }
  return "";
}

void SetCloseOnExec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IsLoopbackName(std::string_view host) {
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

class Session;

// The open connections, for the cap: the one waiting longest for a request
// is closed when a new one needs room.
class Connections {
 public:
  using Handle = std::list<std::weak_ptr<Session>>::iterator;
  Handle Add(const std::shared_ptr<Session>& s) {
    std::lock_guard lock(mu_);
    return sessions_.insert(sessions_.end(), s);
  }
  void Remove(Handle h) {
    std::lock_guard lock(mu_);
    sessions_.erase(h);
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }
  // Closes the connection that has waited longest for a request; false when
  // every connection is busy with one.
  bool EvictOldestIdle();

 private:
  mutable std::mutex mu_;
  std::list<std::weak_ptr<Session>> sessions_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, const HttpHandler& handler, const HttpServerOptions& options, Connections& connections,
          asio::thread_pool* request_pool)
      : stream_(std::move(socket)),
        handler_(handler),
        options_(options),
        connections_(connections),
        request_pool_(request_pool) {}
  ~Session() {
    if (registered_) connections_.Remove(handle_);
  }

  void Begin() {
    handle_ = connections_.Add(shared_from_this());
    registered_ = true;
    Read();
  }

  // When it began to wait for a request; 0 while it handles one.
  int64_t waiting_since() const { return waiting_since_.load(std::memory_order_relaxed); }

  // Closes the connection if it is still waiting for the same request when
  // its thread gets to it. False when it is busy or already being evicted.
  bool Evict() {
    int64_t since = waiting_since();
    bool expected = false;
    if (since == 0 || !evicting_.compare_exchange_strong(expected, true)) return false;
    asio::post(stream_.get_executor(), [self = shared_from_this(), since] {
      if (self->waiting_since() != since) {  // a request came meanwhile
        self->evicting_ = false;
        return;
      }
      self->evicted_ = true;
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.socket().close(ec);
    });
    return true;
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    waiting_since_.store(SteadyMicros(), std::memory_order_relaxed);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // Beast reads at most what the buffer has room for (512 bytes at first),
  // so a 40 KB body would take some 80 reads: room for the whole body (up to
  // 64 KiB a read) is made once its length is known, and kept for the
  // connection's next requests.
  void OnHeader(beast::error_code ec, size_t n) {
    if (ec) return OnRead(ec, n);
    if (auto length = parser_->content_length(); length && !parser_->is_done()) {
      const size_t want = buffer_.size() + size_t(std::min<uint64_t>(*length, kReadChunk));
      if (buffer_.capacity() < want) buffer_.reserve(want);
    }
    // A client that waits for "100 Continue" before its body (curl does past
    // 1 KiB) is told at once (RFC 9110 10.1.1), or refused at once when the
    // body would be too large, rather than left to its own timeout.
    const auto& header = parser_->get();
    if (!parser_->is_done() && header.version() >= 11 &&
        beast::iequals(header[http::field::expect], "100-continue")) {
      if (auto length = parser_->content_length(); length && *length > options_.body_limit) {
        return OnRead(http::error::body_limit, n);
      }
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code write_ec, size_t) {
                          if (write_ec) return self->Close();
                          http::async_read(self->stream_, self->buffer_, *self->parser_,
                                           beast::bind_front_handler(&Session::OnRead, self));
                        });
      return;
    }
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }
  static constexpr uint64_t kReadChunk = 64 * 1024;
  static constexpr std::chrono::seconds kWriteTimeout{60};

  static std::string ErrorBody(const std::string& code, const std::string& message) {
    std::string escaped;
    for (char c : message) {
      if (c == '"' || c == '\\') {
        escaped += '\\';
        escaped += c;
      } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        escaped += '?';  // control bytes and non-ASCII from a client stay out of the JSON
      } else {
        escaped += c;
      }
    }
    return R"({"error":{"code":")" + code + R"(","message":")" + escaped + R"("}})";
  }

  void OnRead(beast::error_code ec, size_t) {
    waiting_since_.store(0, std::memory_order_relaxed);
    if (evicted_ || ec == http::error::end_of_stream || ec == beast::error::timeout) return Close();
    if (ec == http::error::body_limit) {
      draining_ = true;  // let the client finish sending, so that it reads the 413
      return Reply(413, ErrorBody("payload_too_large", "request body over " + std::to_string(options_.body_limit) +
                                                           " bytes"), false);
    }
    if (ec) return Reply(400, ErrorBody("bad_request", "malformed HTTP request"), false);
    http::request<http::string_body> req = parser_->release();
    head_ = req.method() == http::verb::head;
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = std::string(req[http::field::authorization]);
    request.content_type = std::string(req[http::field::content_type]);
    request.body = std::move(req.body());
    const bool keep_alive = req.keep_alive();
    size_t hosts = req.count(http::field::host);
    std::string target_error;
    if (req.version() >= 11 && hosts != 1) {
      return Answer({400, "application/json",
                     ErrorBody("bad_request", hosts == 0 ? "an HTTP/1.1 request needs a Host header"
                                                         : "a request may have one Host header only")},
                    keep_alive);
    }
    if (request.target == "*" && request.method != "OPTIONS") {  // asterisk-form is for OPTIONS only (RFC 9112 3.2.4)
      return Answer({400, "application/json", ErrorBody("bad_request", "request target '*' is for OPTIONS only")},
                    keep_alive);
    }
    if (!OriginForm(std::string(req[http::field::host]), &request.target, &target_error)) {
      return Answer({400, "application/json", ErrorBody("bad_request", target_error)}, keep_alive);
    }
    if (!ParseTarget(request.target, &request.path, &request.query)) {
      return Answer({400, "application/json", ErrorBody("bad_request", "malformed URL encoding")}, keep_alive);
    }
    if (!options_.answer_inline || options_.answer_inline(request)) return Answer(Handle(request), keep_alive);
    OnRequestThread([self = shared_from_this(), request = std::move(request)] { return self->Handle(request); },
                    [self = shared_from_this(), keep_alive](HttpResponse response) {
                      self->Answer(std::move(response), keep_alive);
                    });
  }

  // Runs `work` on a request thread (right here when there are none), then
  // `then` with its result on this connection's thread.
  template <class Work, class Then>
  void OnRequestThread(Work work, Then then) {
    if (!request_pool_) return then(work());
    asio::post(*request_pool_, [self = shared_from_this(), work = std::move(work), then = std::move(then)]() mutable {
      asio::post(self->stream_.get_executor(),
                 [then = std::move(then), result = work()]() mutable { then(std::move(result)); });
    });
  }

  HttpResponse Handle(const HttpRequest& request) const {
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      return {500, "application/json", ErrorBody("internal", "internal error")};
    }
  }

  void Answer(HttpResponse response, bool keep_alive) {
    if (response.stream && response.status == 200) return StartStream(std::move(response));
    Reply(response.status, std::move(response.body), keep_alive, response.content_type, response.headers);
  }

  // A streamed answer: the headers (no length, the connection closes at the
  // end) and the first bytes, then what the stream gives every interval,
  // on this connection's thread, until it ends or a write fails (the client
  // went away). HEAD gets the headers only.
  void StartStream(HttpResponse response) {
    std::string head = "HTTP/1.1 200 OK\r\nServer: piped\r\nContent-Type: " + response.content_type +
                       "\r\nCache-Control: no-cache\r\nConnection: close\r\n";
    for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
    head += "\r\n";
    if (!head_) head += response.body;
    stream_.expires_never();  // it may stay open for hours
    stream_source_ = std::move(response.stream);
    timer_.emplace(stream_.get_executor());
    WriteStreamed(std::make_shared<std::string>(std::move(head)), head_);
  }

  void WriteStreamed(std::shared_ptr<std::string> bytes, bool last) {
    asio::async_write(stream_.socket(), asio::buffer(*bytes),
                      [self = shared_from_this(), bytes, last](beast::error_code ec, size_t) {
                        if (ec || last) return self->Close();
                        self->timer_->expires_after(self->stream_source_->interval);
                        self->timer_->async_wait([self](beast::error_code wait_ec) {
                          if (wait_ec) return self->Close();
                          self->NextStreamed();
                        });
                      });
  }

  // Next() may read the store (the event stream does): on a request thread,
  // so that it never holds up the other connections of this one's thread.
  void NextStreamed() {
    OnRequestThread(
        [self = shared_from_this()] {
          std::optional<std::string> bytes;
          try {
            bytes = self->stream_source_->Next();
          } catch (const std::exception&) {
            bytes.reset();
          }
          return bytes;
        },
        [self = shared_from_this()](std::optional<std::string> bytes) {
          if (!bytes) return self->Close();
          self->WriteStreamed(std::make_shared<std::string>(std::move(*bytes)), false);
        });
  }

  // An absolute-form target ("http://HOST:PORT/path") naming this server
  // becomes its origin form ("/path"); one naming another host is refused
  // (this is no proxy).
  bool OriginForm(const std::string& host_header, std::string* target, std::string* error) const {
    if (target->empty() || target->front() == '/' || *target == "*") return true;
    size_t scheme_end = target->find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : target->substr(0, scheme_end);
    if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) {
      *error = "request target must be a path or an http:// URL";
      return false;
    }
    size_t path_start = target->find_first_of("/?", scheme_end + 3);
    std::string authority = target->substr(scheme_end + 3, path_start - (scheme_end + 3));
    std::string rest = path_start == std::string::npos ? "/" : target->substr(path_start);
    if (rest.front() == '?') rest = "/" + rest;
    std::string host = authority;
    int port = EqualsIgnoreCase(scheme, "https") ? 443 : 80;
    size_t colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
      host = authority.substr(0, colon);
      port = std::atoi(authority.c_str() + colon + 1);
    }
    beast::error_code ec;
    int local_port = stream_.socket().local_endpoint(ec).port();
    bool ours = EqualsIgnoreCase(authority, host_header) ||
                (port == local_port && (IsLoopbackName(host) || EqualsIgnoreCase(host, options_.host)));
    if (!ours) {
      *error = "request target names another server (" + authority + "); this is not a proxy";
      return false;
    }
    *target = rest;
    return true;
  }

  void Reply(int status, std::string body, bool keep_alive, const std::string& type = "application/json",
             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    // A HEAD answer has the headers of the GET answer, and no body.
    auto res = std::make_shared<http::response<http::string_body>>(http::status(status), 11);
    res->set(http::field::server, "piped");
    res->set(http::field::content_type, type);
    for (const auto& [name, value] : headers) res->set(name, value);
    res->keep_alive(keep_alive);
    size_t length = body.size();
    if (!head_) res->body() = std::move(body);
    res->prepare_payload();
    if (head_) res->content_length(length);
    auto serializer = std::make_shared<http::response_serializer<http::string_body>>(*res);
    // The read's deadline may be near after a long keep-alive wait and the
    // request's own time: the answer gets a deadline of its own.
    stream_.expires_after(kWriteTimeout);
    auto done = [self = shared_from_this(), res, serializer](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->Close();
      self->Read();
    };
    if (head_) {
      http::async_write_header(stream_, *serializer, std::move(done));
    } else {
      http::async_write(stream_, *serializer, std::move(done));
    }
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

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler& handler_;
  const HttpServerOptions& options_;
  Connections& connections_;
  asio::thread_pool* request_pool_;  // null: every request is answered inline
  Connections::Handle handle_;
  bool registered_ = false;
  std::atomic<int64_t> waiting_since_{0};
  std::atomic<bool> evicting_{false};
  bool evicted_ = false;
  bool head_ = false;
  bool draining_ = false;
  size_t drained_ = 0;
  std::array<char, 16384> scratch_;
  std::shared_ptr<HttpStream> stream_source_;  // a streamed answer's (Stream)
  std::optional<asio::steady_timer> timer_;
};

bool Connections::EvictOldestIdle() {
  // Released after the lock: the last reference to a session may be one of
  // these, and its destructor takes the lock.
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(mu_);
    open.reserve(sessions_.size());
    for (const std::weak_ptr<Session>& weak : sessions_) open.push_back(weak.lock());
  }
  std::vector<std::pair<int64_t, Session*>> idle;
  for (const std::shared_ptr<Session>& s : open) {
    int64_t since = s ? s->waiting_since() : 0;
    if (since != 0) idle.emplace_back(since, s.get());
  }
  std::sort(idle.begin(), idle.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [since, session] : idle) {
    if (session->Evict()) return true;  // else: already being closed, or just got busy
  }
  return false;
}

int DefaultMaxConnections() {
  rlimit limit{};
  rlim_t files = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
  if (files == RLIM_INFINITY || files > 4 * 4096) return 4096;
  return std::max(8, int(files / 4));
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        contexts_(MakeContexts(options_.threads)),
        acceptor_(std::in_place, *contexts_[0]),
        retry_timer_(std::in_place, *contexts_[0]) {
    if (options_.max_connections <= 0) options_.max_connections = DefaultMaxConnections();
  }

  void Listen() {
    if (acceptor_->is_open()) return;
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) throw Error::InvalidArgument("cannot listen on '" + options_.host + "': not an IP address");
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) SetCloseOnExec(acceptor_->native_handle());
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::string message = "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
                            ec.message();
      if (ec == asio::error::address_in_use && options_.port != 0) {
        std::string holder = DescribePortHolder(options_.port);
        message += holder.empty() ? " (by a process this user cannot see)" : " (held by " + holder + ")";
      }
      beast::error_code ignored;
      acceptor_->close(ignored);
      throw Error::Unavailable(message);
    }
    port_ = acceptor_->local_endpoint().port();
  }

  void Start() {
    Listen();
    if (options_.request_threads > 0 && !request_pool_) request_pool_.emplace(size_t(options_.request_threads));
    Accept();
    for (auto& ioc : contexts_) {
      guards_.push_back(asio::make_work_guard(*ioc));  // runs while it has no connection
      threads_.emplace_back([&ioc = *ioc] { ioc.run(); });
    }
  }

  void Stop() {
    if (threads_.empty()) return;
    if (request_pool_) {  // a request being answered finishes; the ones waiting are dropped
      request_pool_->stop();
      request_pool_->join();
    }
    guards_.clear();
    for (auto& ioc : contexts_) ioc->stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    // No thread runs the contexts now: new clients are refused from here on.
    beast::error_code ec;
    acceptor_->close(ec);
    retry_timer_->cancel();
  }

  ~Impl() {
    Stop();
    // In this order: the requests the pool dropped hold sessions, whose
    // sockets need their contexts; the accept that waits on contexts_[0]
    // holds a socket of another context, so the acceptor's context goes
    // first, then each context with the connections it still holds.
    request_pool_.reset();
    acceptor_.reset();
    retry_timer_.reset();
    for (auto& ioc : contexts_) ioc.reset();
  }

  int port() const { return port_; }
  int max_connections() const { return options_.max_connections; }
  int open_connections() const { return int(connections_.size()); }

 private:
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int threads) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int idx = 0; idx < std::max(threads, 1); ++idx) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }

  // New connections go to the threads in turn.
  void Accept() {
    asio::io_context& next = *contexts_[next_context_++ % contexts_.size()];
    acceptor_->async_accept(next.get_executor(), [this](beast::error_code ec, Socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory) {
        // Out of descriptors: make room and try again a little later, never
        // at once (that would spin while the condition lasts).
        connections_.EvictOldestIdle();
        backoff_ = std::min(backoff_ == std::chrono::milliseconds(0) ? std::chrono::milliseconds(10) : backoff_ * 2,
                            std::chrono::milliseconds(1000));
        retry_timer_->expires_after(backoff_);
        retry_timer_->async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      backoff_ = std::chrono::milliseconds(0);
      if (!ec) {
        SetCloseOnExec(socket.native_handle());
        if (connections_.size() >= size_t(options_.max_connections) && !connections_.EvictOldestIdle()) {
          beast::error_code ignored;
          socket.close(ignored);  // every connection is busy: this one waits for none
        } else {
          std::make_shared<Session>(std::move(socket), handler_, options_, connections_,
                                    request_pool_ ? &*request_pool_ : nullptr)
              ->Begin();
        }
      }
      Accept();
    });
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  Connections connections_;  // outlives the sessions, which contexts_ destroy
  std::vector<std::unique_ptr<asio::io_context>> contexts_;  // one per thread
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  size_t next_context_ = 0;  // used by the accept handler only
  std::optional<asio::thread_pool> request_pool_;  // ~Impl ends it before the contexts
  std::optional<tcp::acceptor> acceptor_;  // on contexts_[0]; ~Impl ends it before its context
  std::optional<asio::steady_timer> retry_timer_;
  std::chrono::milliseconds backoff_{0};
  std::vector<std::thread> threads_;
  int port_ = 0;
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}
HttpServer::~HttpServer() = default;  // ~Impl stops it
void HttpServer::Listen() { impl_->Listen(); }
void HttpServer::Start() { impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
int HttpServer::port() const { return impl_->port(); }
int HttpServer::max_connections() const { return impl_->max_connections(); }
int HttpServer::open_connections() const { return impl_->open_connections(); }

}  // namespace pipeline
