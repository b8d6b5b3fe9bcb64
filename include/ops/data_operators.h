// The data operators (ingest, validate, clean, transform, features, export):
// they run in-process on the columnar engine and hand tables to each other in
// memory, persisting them as Parquet artifacts.
#pragma once

namespace pipeline {

class OperatorRegistry;

void RegisterDataOperators(OperatorRegistry& registry);

}  // namespace pipeline
