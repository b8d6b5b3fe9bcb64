// The data operators, one file each; registered by RegisterDataOperators.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "columnar/table.h"
#include "core/operator.h"

namespace pipeline::ops {

std::unique_ptr<Operator> MakeIngestOperator();
std::unique_ptr<Operator> MakeValidateOperator();
std::unique_ptr<Operator> MakeCleanOperator();
std::unique_ptr<Operator> MakeTransformOperator();
std::unique_ptr<Operator> MakeFeaturesOperator();
std::unique_ptr<Operator> MakeExportOperator();
std::unique_ptr<Operator> MakeTrainOperator();
std::unique_ptr<Operator> MakePredictOperator();
std::unique_ptr<Operator> MakeServeOperator();
std::unique_ptr<Operator> MakeMonitorOperator();
std::unique_ptr<Operator> MakeWaitForOperator();
// `op` with `cache: true` honoured (reusing an earlier try's artifacts).
std::unique_ptr<Operator> Cached(std::unique_ptr<Operator> op);

// What a data operator throws for a problem with the data or a value that
// only shows when the task runs (a missing column, a value that does not
// convert); Execute turns it into the task's error.
class OpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "a, b, c".
std::string JoinNames(const std::vector<std::string>& names);
// OpError "WHERE: column 'NAME' is not in IN (columns: a, b)".
[[noreturn]] void ThrowMissingColumn(const std::string& where, const std::string& name,
                                     const std::vector<std::string>& columns, const char* in = "the input");
// "0.01" style, without trailing zeros.
std::string FormatFraction(double value);
// The _reason of the first quarantined row, with its file and line when known.
std::string FirstQuarantineReason(const columnar::Table& quarantine);

}  // namespace pipeline::ops
