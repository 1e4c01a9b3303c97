// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): holds one etcd lease alive (a
// node's liveness, the controller's term).
//
// What: grants a lease, then refreshes it every `interval` (default TTL/4)
// on its own thread, one keep-alive round trip each.
// Guarantees: while `alive()` the lease was confirmed by etcd less than
// its TTL ago (counted from when the confirming request was sent, so the
// lease cannot have expired before the keeper notices, clock rates
// aside). Loss is reported once, via `on_lost`, as soon as it is known:
// `lease_not_found` (expired or revoked by anyone) or `unavailable` /
// `timeout` when no keep-alive succeeded for a whole TTL. After a loss the
// keeper does nothing more; grant a new lease with a new keeper.
// Errors: `start` returns the grant's error.
// Threads: `on_lost` runs on the keeper's thread and must not throw or
// call `stop`. `stop` and the destructor join the thread; no callback runs
// after `stop` returned.
#pragma once

#include "etcd/etcd_client.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace annals::cluster::etcd {

class lease_keeper {
public:
  using lost_handler = std::function<void(caf::error reason)>;

  /// Grants a lease of `ttl` (within the client's deadline) and starts
  /// keeping it. `interval` 0 = TTL/4.
  static caf::expected<std::unique_ptr<lease_keeper>>
  start(const client& c, std::chrono::seconds ttl, lost_handler on_lost,
        std::chrono::milliseconds interval = {});

  ~lease_keeper();
  lease_keeper(const lease_keeper&) = delete;
  lease_keeper& operator=(const lease_keeper&) = delete;

  /// The lease's id (attach keys to it with `client::put`).
  int64_t id() const noexcept {
    return id_;
  }

  /// The TTL etcd granted, in seconds.
  int64_t ttl() const noexcept {
    return ttl_;
  }

  /// False once the loss was detected (before `on_lost` is called) or the
  /// keeper stopped.
  bool alive() const noexcept {
    return alive_.load();
  }

  /// Stops refreshing and joins the thread; with `revoke` (and the lease
  /// not lost), revokes the lease so its keys go at once, returning the
  /// revoke's error. Idempotent.
  caf::error stop(bool revoke = true);

private:
  lease_keeper(client c, int64_t id, int64_t ttl,
               std::chrono::milliseconds interval,
               std::chrono::steady_clock::time_point valid_until,
               lost_handler on_lost);

  void run();

  client client_;
  int64_t id_;
  int64_t ttl_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point valid_until_;
  lost_handler on_lost_;
  std::atomic<bool> alive_{true};
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

} // namespace annals::cluster::etcd
