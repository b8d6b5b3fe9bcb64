#include <gtest/gtest.h>
// Placeholder: filled in by the change that adds the module.
TEST(Placeholder, Builds) { SUCCEED(); }
