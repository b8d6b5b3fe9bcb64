// Tasks never outlive the process that runs them. A `piped worker`, a
// `piped` or a `pipectl run` killed with SIGKILL (or by the OOM killer)
// cannot stop its tasks itself, and the run's next coordinator, on another
// machine maybe, runs them again once the lease has run out: the old try
// would go on beside the new one. So each of these processes starts a
// watchdog, a copy of its own program in a hidden mode, which it tells the
// process group of every task it starts and reaps, over a socket. When that
// socket reads end of file, its parent is gone, and the watchdog kills the
// groups still registered (checking each leader is still the same process)
// and exits. A graceful exit registers nothing left and the watchdog just ends.
#pragma once

#include <string>

namespace pipeline {

// The argument that makes a pipectl or piped process the watchdog.
inline constexpr const char* kWatchdogArg = "__pipe_task_watchdog";

// Starts this process's watchdog (/proc/self/exe kWatchdogArg): called once
// by a program's main before it runs tasks. False with `error` when it
// cannot start; tasks then run unwatched.
bool StartTaskWatchdog(std::string* error);

// The watchdog's own main: reads "+PID" and "-PID" lines from stdin (the
// socket) until end of file, then kills what is registered. Returns the
// exit code.
int RunTaskWatchdog();

// Called by Subprocess: a task's process group leader started, or was
// reaped. No-ops when no watchdog was started.
void WatchdogStarted(int pid);
void WatchdogReaped(int pid);

}  // namespace pipeline
