#include "core/states.h"

#include <gtest/gtest.h>

namespace pipeline {
namespace {

TEST(StatesTest, NamesRoundTrip) {
  for (auto s : {TaskState::kPending, TaskState::kQueued, TaskState::kRunning, TaskState::kSuccess,
                 TaskState::kFailed, TaskState::kUpForRetry, TaskState::kUpstreamFailed,
                 TaskState::kSkipped, TaskState::kCancelled}) {
    EXPECT_EQ(ParseTaskState(ToString(s)), s);
  }
  for (auto s : {RunState::kQueued, RunState::kRunning, RunState::kSuccess, RunState::kFailed,
                 RunState::kCancelled}) {
    EXPECT_EQ(ParseRunState(ToString(s)), s);
  }
  EXPECT_EQ(ToString(TaskState::kUpForRetry), "up_for_retry");
  EXPECT_EQ(ToString(TriggerRule::kNoneFailed), "none_failed");
  EXPECT_FALSE(ParseTaskState("done").has_value());
  EXPECT_FALSE(ParseTriggerRule("all_sucess").has_value());
}

TEST(StatesTest, TerminalStates) {
  EXPECT_TRUE(IsTerminal(TaskState::kSuccess));
  EXPECT_TRUE(IsTerminal(TaskState::kSkipped));
  EXPECT_TRUE(IsTerminal(TaskState::kUpstreamFailed));
  EXPECT_FALSE(IsTerminal(TaskState::kUpForRetry));
  EXPECT_FALSE(IsTerminal(TaskState::kRunning));
  EXPECT_TRUE(IsTerminal(RunState::kCancelled));
  EXPECT_FALSE(IsTerminal(RunState::kRunning));
}

}  // namespace
}  // namespace pipeline
