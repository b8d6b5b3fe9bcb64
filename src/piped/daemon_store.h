// Opening the state store at a daemon's start: piped and piped worker wait
// for a PostgreSQL server that is not up yet (containers start together)
// instead of exiting at once, and a stop signal ends the wait.
#pragma once

#include <memory>
#include <string>

#include "core/time.h"
#include "store/state_store.h"

namespace pipeline {

// Opens `url`, trying an unreachable PostgreSQL again for up to `wait` (with
// backoff, logging what failed every few seconds). Returns nullptr when a
// SIGTERM or SIGINT came during the wait (it stays pending for the caller).
// Throws as OpenStateStore does: kUnavailable once the wait is over.
std::unique_ptr<StateStore> OpenDaemonStore(const std::string& url, Duration wait);

// A postgresql:// URL with connect_timeout=5 added when it sets none: a host
// that drops packets would hold each connection attempt for minutes (libpq
// waits for TCP), past --db-wait and a stop signal. Other URLs as they are.
std::string WithConnectTimeout(const std::string& url);

}  // namespace pipeline
