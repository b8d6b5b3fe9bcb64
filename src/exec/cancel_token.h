// A one-shot cancellation flag with a pollable file descriptor (eventfd).
#pragma once

#include <atomic>
#include <string>

#include "core/operator.h"

namespace pipeline {

class EventCancelToken final : public CancelToken {
 public:
  EventCancelToken();
  ~EventCancelToken() override;
  EventCancelToken(const EventCancelToken&) = delete;
  EventCancelToken& operator=(const EventCancelToken&) = delete;

  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }
  int fd() const override { return fd_; }

  // Fires the token; later calls do nothing. Thread-safe.
  void Fire();

 private:
  std::atomic<bool> cancelled_{false};
  int fd_;
};

}  // namespace pipeline
