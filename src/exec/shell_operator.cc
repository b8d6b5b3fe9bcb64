// The `shell` operator: `/bin/sh -c RUN` in its own process group.

#include <csignal>
#include <cstring>
#include <filesystem>

#include "core/operator.h"
#include "dag/suggest.h"
#include "exec/builtin_operators.h"
#include "exec/subprocess.h"

namespace pipeline {

namespace {

class ShellOperator final : public Operator {
 public:
  explicit ShellOperator(ShellOptions options) : options_(options) {}

  std::string_view name() const override { return "shell"; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    static const std::vector<std::string> kArgs = {"workdir"};
    for (const auto& [key, value] : task.with->entries()) {
      if (!key->is_scalar()) continue;
      if (key->text() != "workdir") {
        diags.Add(key->mark(), "unknown argument '" + key->text() + "' for operator shell in task '" +
                                   task.id + "'" + DidYouMean(key->text(), kArgs) +
                                   " (shell takes 'run' and 'env' as task keys, 'with.workdir')");
      } else if (!value->is_scalar()) {
        diags.Add(value->mark(), "workdir must be a string");
      }
    }
  }

  TaskResult Execute(TaskContext& ctx) const override {
    namespace fs = std::filesystem;
    SubprocessSpec spec;
    spec.argv = {"/bin/sh", "-c", ctx.command()};
    spec.env = ctx.env();
    spec.env.insert(spec.env.begin(), {{"PIPE_TASK_ID", ctx.task().id},
                                       {"PIPE_TRY_NUMBER", std::to_string(ctx.try_number())}});
    spec.cwd = ctx.dag_dir();
    if (const DocNode* workdir = ctx.args().Find("workdir")) {
      fs::path dir(workdir->text());
      spec.cwd = dir.is_absolute() ? dir.string() : (fs::path(ctx.dag_dir()) / dir).string();
    }
    spec.output_path = ctx.log_path();
    SubprocessResult r = RunSubprocess(spec, ctx.cancel(), options_.kill_grace,
                                       [&](int pgid) { ctx.ProcessStarted(pgid); });
    if (!r.started) return TaskResult::Failure(r.error);
    TaskResult result;
    if (r.exited) result.exit_code = r.exit_code;
    if (r.cancelled) {
      result.error = "killed (process group terminated)";
    } else if (!r.exited) {
      result.error = "killed by signal " + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")";
    } else if (r.exit_code != 0) {
      result.error = "exit status " + std::to_string(r.exit_code);
    } else {
      result.ok = true;
    }
    return result;
  }

 private:
  ShellOptions options_;
};

}  // namespace

void RegisterBuiltinOperators(OperatorRegistry& registry, const ShellOptions& shell) {
  registry.Register(std::make_unique<ShellOperator>(shell));
}

}  // namespace pipeline
