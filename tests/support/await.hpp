// annals -- test support: wait for a condition (never sleep to synchronise).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace annals::testing {

/// Polls `pred` (every millisecond) until it holds or `limit` passes;
/// returns its last value.
inline bool await(const std::function<bool()>& pred,
                  std::chrono::milliseconds limit = std::chrono::seconds{10}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return true;
}

} // namespace annals::testing
