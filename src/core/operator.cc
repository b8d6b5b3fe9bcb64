#include "core/operator.h"

#include "core/error.h"

namespace pipeline {

void OperatorRegistry::Register(std::unique_ptr<Operator> op) {
  std::string name(op->name());
  ops_[name] = std::move(op);
}

const Operator* OperatorRegistry::Find(std::string_view name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : it->second.get();
}

std::vector<std::string> OperatorRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, op] : ops_) out.push_back(name);
  return out;
}

}  // namespace pipeline

namespace pipeline {

std::optional<RegisteredModel> TaskContext::FindModel(std::string_view /*ref*/) {
  throw Error::Unavailable("the model registry is not available to this task");
}

void TaskContext::SetModelAlias(const std::string& /*name*/, const std::string& /*alias*/, int /*version*/,
                                int /*from*/) {
  throw Error::Unavailable("the model registry is not available to this task");
}

std::string TaskContext::TriggerDag(const std::string& /*dag_id*/, const std::string& /*params_json*/,
                                    const std::string& /*run_id*/) {
  throw Error::Unavailable("runs of other DAGs cannot be created from this task");
}

std::string TaskContext::RunStateOf(const std::string& /*run_id*/) {
  throw Error::Unavailable("runs cannot be read from this task");
}

}  // namespace pipeline
