// The data operators, one file each; registered by RegisterDataOperators.
#pragma once

#include <memory>
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

// "0.01" style, without trailing zeros.
std::string FormatFraction(double value);
// The _reason of the first quarantined row, with its file and line when known.
std::string FirstQuarantineReason(const columnar::Table& quarantine);

}  // namespace pipeline::ops
