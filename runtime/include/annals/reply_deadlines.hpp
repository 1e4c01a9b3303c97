// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: coarse, cheap timeouts for requests.
#pragma once

#include <caf/actor_control_block.hpp>
#include <caf/message_id.hpp>
#include <caf/timespan.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace annals {

/// Timeouts for an actor's requests, kept on a timing wheel that one thread
/// turns every `tick`: a request armed with timeout T whose deadline is not
/// disarmed first gets `caf::sec::request_timeout` as its response between
/// T and T + tick after it was armed, exactly as CAF's own request timeout
/// would deliver it. A reply that arrives after that is dropped by CAF as
/// an orphaned response.
///
/// Why: CAF 0.17 hands every request timeout, and its cancellation, to its
/// clock thread through a 64-slot ring buffer, one wake-up each; at tens of
/// thousands of requests per second that thread is a bound. runtime_bench
/// (b), one run: 64.3k cmd/s (p99 8.9 ms) with CAF's timeouts, 74.3k (p99
/// 6.9 ms) with these, 73.8k with no timeout at all. Arming and disarming
/// here is a short critical section; the thread wakes once per tick.
///
/// After `stop()` (or destruction), every armed request fails at once and
/// requests armed later fail when armed: none waits forever.
///
/// Thread-safe.
class reply_deadlines {
public:
  /// Identifies one armed deadline (for `disarm`).
  struct token {
    uint32_t index = 0;
    uint32_t generation = 0;
  };

  explicit reply_deadlines(std::chrono::milliseconds tick
                           = std::chrono::milliseconds{10});
  ~reply_deadlines();
  reply_deadlines(const reply_deadlines&) = delete;
  reply_deadlines& operator=(const reply_deadlines&) = delete;

  /// Fails the request of `requester` whose response id is `response_id`
  /// (the response handle's `id()`) with `sec::request_timeout` unless
  /// disarmed within `timeout`. Holds the requester weakly: a dead one is
  /// skipped.
  token arm(const caf::strong_actor_ptr& requester, caf::message_id response_id,
            caf::timespan timeout);

  /// Cancels a deadline; a no-op if it already fired or was disarmed.
  void disarm(token t) noexcept;

  /// Deadlines armed and neither fired nor disarmed.
  std::size_t armed() const;

  /// Fails every armed request and stops the thread. Idempotent.
  void stop();

private:
  struct entry {
    caf::weak_actor_ptr requester;
    caf::message_id response_id;
    std::chrono::steady_clock::time_point due;
    uint32_t generation = 0;
    bool live = false;
  };
  struct slot_ref {
    uint32_t index;
    uint32_t generation;
  };
  static void fire(caf::weak_actor_ptr& requester, caf::message_id id);
  void run();

  const std::chrono::milliseconds tick_;
  mutable std::mutex mtx_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<entry> entries_;
  std::vector<uint32_t> free_;
  /// The wheel: slot (due / tick) % size holds the deadlines due then
  /// (or a whole number of turns later).
  std::vector<std::vector<slot_ref>> wheel_;
  uint64_t turned_to_ = 0; ///< ticks since the epoch already processed
  std::size_t armed_ = 0;
  std::thread thread_;
};

} // namespace annals
