#include "exec/cancel_token.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace pipeline {

EventCancelToken::EventCancelToken() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw Error::Internal(std::string("eventfd: ") + std::strerror(errno));
}

EventCancelToken::~EventCancelToken() { close(fd_); }

void EventCancelToken::Fire() {
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

}  // namespace pipeline
