// SIGTERM and SIGINT end piped and piped worker: main() blocks them in every
// thread before any starts, and the main thread waits for one.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace pipeline {

inline sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Blocks them in the calling thread (and the threads it starts later).
inline void BlockStopSignals() {
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Waits for one; returns its number.
inline int WaitForStopSignal() {
  sigset_t set = StopSignals();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace pipeline
