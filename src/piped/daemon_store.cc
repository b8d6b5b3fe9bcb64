#include "piped/daemon_store.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.h"
#include "piped/stop_signals.h"

namespace pipeline {

namespace {

// True when a stop signal waits (blocked in every thread, see stop_signals.h).
bool StopPending() {
  sigset_t pending;
  if (sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

}  // namespace

std::string WithConnectTimeout(const std::string& url) {
  const bool postgres = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  if (!postgres || url.find("connect_timeout=") != std::string::npos) return url;
  const size_t fragment = url.find('#');
  std::string out = url.substr(0, fragment);
  out += out.find('?') == std::string::npos ? "?" : "&";
  out += "connect_timeout=5";
  return fragment == std::string::npos ? out : out + url.substr(fragment);
}

std::unique_ptr<StateStore> OpenDaemonStore(const std::string& url, Duration wait) {
  StoreOpenOptions options;
  options.connect_wait = wait;
  bool stopped = false;
  auto started = std::chrono::steady_clock::now();
  auto next_log = started;
  options.on_unreachable = [&](const std::string& error) {
    if (StopPending()) {
      stopped = true;
      return false;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= next_log) {
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - started);
      std::string why = error;
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();  // libpq's end with one
      spdlog::warn("waiting for the database ({}s of {}): {}", waited.count(), FormatDuration(wait), why);
      next_log = now + std::chrono::seconds(5);
    }
    return true;
  };
  try {
    return OpenStateStore(WithConnectTimeout(url), options);
  } catch (const Error& e) {
    if (stopped) return nullptr;
    throw;
  }
}

}  // namespace pipeline
