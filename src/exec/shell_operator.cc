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

// A prepared shell: `/bin/sh` started ahead of the try (just before it, or
// while its last upstream task runs: a warm start), blocked reading its gate
// (fd 3) before it runs the task's command. At end of file (the try never
// starts, or this process died) it exits without running anything. `eval`
// runs the command as `sh -c` would, with $0 = "sh" and no arguments; error
// messages name "eval" (`sh: 1: eval: foo: not found`).
constexpr const char* kGatedScript =
    "read -r PIPE_GATE <&3 || exit 125; unset PIPE_GATE; exec 3<&-; eval \"set --; $1\"";

class WarmShell final : public PreparedTry {
 public:
  explicit WarmShell(std::unique_ptr<Subprocess> gated) : process(std::move(gated)) {}
  int process_group() const override { return process ? process->pid() : 0; }
  std::unique_ptr<Subprocess> process;  // waiting at its gate
};

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

  std::unique_ptr<PreparedTry> Prepare(TaskContext& ctx) const override {
    std::string error;
    std::unique_ptr<Subprocess> process = Subprocess::Start(Spec(ctx, /*gated=*/true), &error);
    if (!process) return nullptr;  // Execute() tries again, and reports why
    return std::make_unique<WarmShell>(std::move(process));
  }

  TaskResult Execute(TaskContext& ctx) const override {
    std::unique_ptr<Subprocess> process;
    if (auto* warm = dynamic_cast<WarmShell*>(ctx.prepared()); warm && warm->process) {
      if (warm->process->Release()) {
        process = std::move(warm->process);
      } else {
        warm->process.reset();  // died at its gate, having run nothing: start afresh
      }
    }
    if (!process) {
      std::string error;
      process = Subprocess::Start(Spec(ctx, /*gated=*/false), &error);
      if (!process) return TaskResult::Failure(error);
    }
    ctx.ProcessStarted(process->pid());
    SubprocessResult r = process->Wait(ctx.cancel(), options_.kill_grace);
    if (!r.error.empty()) return TaskResult::Failure(r.error);
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
  static SubprocessSpec Spec(const TaskContext& ctx, bool gated) {
    namespace fs = std::filesystem;
    SubprocessSpec spec;
    spec.gated = gated;
    if (gated) {
      spec.argv = {"/bin/sh", "-c", kGatedScript, "sh", ctx.command()};
    } else {
      spec.argv = {"/bin/sh", "-c", ctx.command()};
    }
    spec.env = ctx.env();
    spec.env.insert(spec.env.begin(), {{"PIPE_TASK_ID", ctx.task().id},
                                       {"PIPE_TRY_NUMBER", std::to_string(ctx.try_number())}});
    spec.cwd = ctx.dag_dir();
    if (const DocNode* workdir = ctx.args().Find("workdir")) {
      fs::path dir(workdir->text());
      spec.cwd = dir.is_absolute() ? dir.string() : (fs::path(ctx.dag_dir()) / dir).string();
    }
    spec.output_path = ctx.log_path();
    return spec;
  }

  ShellOptions options_;
};

}  // namespace

std::unique_ptr<Operator> MakeTriggerDagOperator();  // trigger_dag_operator.cc

void RegisterBuiltinOperators(OperatorRegistry& registry, const ShellOptions& shell) {
  registry.Register(std::make_unique<ShellOperator>(shell));
  registry.Register(MakeTriggerDagOperator());
}

}  // namespace pipeline
