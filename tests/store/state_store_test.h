// The StateStore suite, run against every backend. A backend's test file
// instantiates it with a factory: INSTANTIATE_TEST_SUITE_P(Sqlite, StateStoreTest, ...).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "store/state_store.h"

namespace pipeline {

struct StoreBackend {
  std::string name;
  // Opens a store on a fresh, empty database.
  std::function<std::unique_ptr<StateStore>()> open_fresh;
  // Opens another store object on the database the last open_fresh made.
  std::function<std::unique_ptr<StateStore>()> reopen;
};

inline void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }

class StateStoreTest : public testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override { store_ = GetParam().open_fresh(); }
  std::unique_ptr<StateStore> store_;
};

}  // namespace pipeline
