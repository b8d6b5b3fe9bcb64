#include "ops/data_operators.h"

#include <cstdio>
#include <string>

#include "columnar/compute.h"
#include "ops/operators.h"

namespace pipeline {

void RegisterDataOperators(OperatorRegistry& registry) {
  registry.Register(ops::Cached(ops::MakeIngestOperator()));
  registry.Register(ops::Cached(ops::MakeValidateOperator()));
  registry.Register(ops::Cached(ops::MakeCleanOperator()));
  registry.Register(ops::Cached(ops::MakeTransformOperator()));
  registry.Register(ops::Cached(ops::MakeFeaturesOperator()));
  registry.Register(ops::MakeExportOperator());
  registry.Register(ops::MakeTrainOperator());
  registry.Register(ops::Cached(ops::MakePredictOperator()));
  registry.Register(ops::MakeServeOperator());
  registry.Register(ops::MakeMonitorOperator());
  registry.Register(ops::MakeWaitForOperator());
}

namespace ops {

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void ThrowMissingColumn(const std::string& where, const std::string& name, const std::vector<std::string>& columns,
                        const char* in) {
  throw OpError(where + ": column '" + name + "' is not in " + in + " (columns: " + JoinNames(columns) + ")");
}

std::string FormatFraction(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

std::string FirstQuarantineReason(const columnar::Table& quarantine) {
  if (quarantine.num_rows() == 0) return "";
  const columnar::Batch& b = quarantine.batch(0);
  auto file = quarantine.schema().IndexOf("_source_file");
  auto line = quarantine.schema().IndexOf("_source_line");
  auto reason = quarantine.schema().IndexOf("_reason");
  std::string out;
  if (file && line) out = std::string(b.columns[*file]->StringAt(0)) + ":" + std::to_string(b.columns[*line]->ints()[0]) + ": ";
  if (reason) out += std::string(b.columns[*reason]->StringAt(0));
  return out;
}

}  // namespace ops
}  // namespace pipeline
