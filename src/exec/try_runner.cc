#include "exec/try_runner.h"

#include "exec/thread_pool.h"

namespace pipeline {

namespace {

class InProcessRunner final : public TryRunner {
 public:
  explicit InProcessRunner(int threads) : pool_(threads) {}

  void Start(TryJob job, bool next) override {
    auto run = [job = std::move(job)]() mutable {
      TaskResult result = job.execute();
      job.done(result);
    };
    if (next) {
      pool_.SubmitNext(std::move(run));
    } else {
      pool_.Submit(std::move(run));
    }
  }

 private:
  ThreadPool pool_;
};

}  // namespace

std::unique_ptr<TryRunner> NewInProcessRunner(int threads) { return std::make_unique<InProcessRunner>(threads); }

}  // namespace pipeline
