#include "piped/worker_main.h"

#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/names.h"
#include "core/operator.h"
#include "exec/process_watchdog.h"
#include "exec/builtin_operators.h"
#include "exec/remote_try.h"
#include "exec/worker.h"
#include "ops/data_operators.h"
#include "piped/daemon_store.h"
#include "piped/stop_signals.h"
#include "store/state_store.h"

namespace pipeline {

namespace {

Duration DurationSetting(const std::string& text, const char* flag, bool zero_allowed = false) {
  auto d = ParseDuration(text);
  if (!d || d->count() < 0 || (d->count() == 0 && !zero_allowed)) {
    throw Error::InvalidArgument(std::string("--") + flag + ": '" + text + "' is not a duration (e.g. 5s, 1m)");
  }
  return *d;
}

}  // namespace

std::vector<std::string> ParseQueueList(const std::string& flag, const std::string& list) {
  std::vector<std::string> out;
  std::stringstream items(list);
  for (std::string q; std::getline(items, q, ',');) {
    if (!IsQueueName(q)) {
      throw Error::InvalidArgument(flag + ": '" + q + "' in '" + list +
                                   "' is no queue name (letters, digits, '_', '.' and '-', at most 64)");
    }
    out.push_back(q);
  }
  return out;
}

int RunWorker(const WorkerConfig& config) {
  if (config.db.rfind("postgresql://", 0) != 0 && config.db.rfind("postgres://", 0) != 0) {
    throw Error::InvalidArgument("piped worker needs the shared PostgreSQL database (--db postgresql://...), not '" +
                                 config.db + "'");
  }
  WorkerOptions options;
  options.name = config.name;
  options.slots = config.slots > 0 ? config.slots : std::max(1, int(std::thread::hardware_concurrency()));
  options.lease = DurationSetting(config.lease, "lease");
  options.heartbeat = DurationSetting(config.heartbeat, "heartbeat");
  const Duration grace = DurationSetting(config.grace, "grace");
  options.queues = ParseQueueList("--queues", config.queues);
  if (options.queues.empty()) throw Error::InvalidArgument("--queues: name at least one queue");

  const Duration db_wait = DurationSetting(config.db_wait, "db-wait", /*zero_allowed=*/true);
  std::unique_ptr<StateStore> store = OpenDaemonStore(config.db, db_wait);
  if (!store) {
    spdlog::info("piped worker stopping on signal {}: the database was not reached yet", WaitForStopSignal());
    return 0;
  }
  if (std::string why; !StartTaskWatchdog(&why)) spdlog::warn("{}: tries would outlive a crash of the worker", why);
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  RegisterDataOperators(ops);
  SystemClock& clock = *SystemClock::Default();
  TryCache cache(config.keep_outputs_mb * (int64_t{1} << 20));
  options.warn = [](const std::string& line) { spdlog::warn("{}", line); };
  Worker worker(*store, clock, options, [&](const WorkClaim& claim, const std::shared_ptr<EventCancelToken>& cancel) {
    spdlog::info("worker: running {}.{} try {}", claim.item.run_id, claim.item.task_id, claim.item.try_number);
    return RunClaimedTry(*store, ops, clock, claim, cancel, &cache);
  });
  std::thread loop([&] { worker.Run(); });
  std::string queues;
  for (const std::string& q : options.queues) queues += (queues.empty() ? "" : ",") + q;
  spdlog::info("piped worker ready: queues={} slots={} lease={} heartbeat={}", queues, options.slots,
               FormatDuration(options.lease), FormatDuration(options.heartbeat));

  const int sig = WaitForStopSignal();  // blocked in every thread since main()
  spdlog::info("piped worker stopping on signal {}: running tries get {} to finish", sig, FormatDuration(grace));
  worker.Stop(clock.Now() + grace);
  loop.join();
  Worker::Counts c = worker.counts();
  spdlog::info("piped worker stopped: claimed={} finished={} handed_back={} lost={} refused={} inputs_in_memory={}",
               c.claimed, c.finished, c.released, c.lost, c.refused, cache.inputs_in_memory());
  return 0;
}

}  // namespace pipeline
