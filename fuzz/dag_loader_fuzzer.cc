// libFuzzer target: any bytes given to the DAG loader must yield a DagSpec or
// diagnostics, never a crash, a hang or a sanitizer report.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pipeline::OperatorRegistry* ops = [] {
    auto* r = new pipeline::OperatorRegistry;
    pipeline::RegisterBuiltinOperators(*r);
    return r;
  }();
  pipeline::DagLoader loader(*ops);
  pipeline::LoadResult result =
      loader.LoadText(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  // Either a DAG or at least one diagnostic, never both and never neither.
  if (result.dag.has_value() == !result.diagnostics.empty()) __builtin_trap();
  return 0;
}
