// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): follows the partition map in
// etcd on every node.
//
// What: an etcd watch on the map key, used only as a hint: each event,
// each end of the stream and each `poll` interval makes the watcher
// re-read the map linearizably; a map whose mod revision is above the
// last one delivered is delivered, older or equal ones are ignored (etcd
// 3.4 watches can replay old events after a snapshot restore, hang on a
// cut-off member, or end at any time). A stream that ended is restarted.
// Guarantees: deliveries have strictly increasing mod revisions; the map
// in etcd is delivered within about `poll` (or one round trip after a
// watch event) whenever the watcher can read it; maps written in quick
// succession may be coalesced (only the latest is delivered).
// Errors: `on_error` gets failed reads (etcd errors) and maps that do not
// decode (`malformed_value`, `unknown_format`); the watcher keeps going
// and delivers the next good map.
// Threads: one thread of its own (plus the etcd watch's); callbacks run
// on it, one at a time, and must not call `stop`. `stop` and the
// destructor join it; no callback runs after `stop` returned.
#pragma once

#include "control/keys.hpp"
#include "control/map_store.hpp"
#include "etcd/etcd_client.hpp"

#include <caf/error.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace annals::cluster::control {

class map_watcher {
public:
  using map_handler = std::function<void(const map_read&)>;
  using error_handler = std::function<void(const caf::error&)>;

  /// Starts following the map of `keys` (reads it at once).
  map_watcher(etcd::client c, cluster_keys keys, map_handler on_map,
              error_handler on_error,
              std::chrono::milliseconds poll = std::chrono::seconds{1});

  ~map_watcher();
  map_watcher(const map_watcher&) = delete;
  map_watcher& operator=(const map_watcher&) = delete;

  /// Stops and joins. Idempotent.
  void stop();

  /// How many watch streams were opened (1 + restarts).
  uint64_t watches_started() const noexcept {
    return watches_started_.load();
  }

  /// How many linearizable re-reads ran.
  uint64_t rereads() const noexcept {
    return rereads_.load();
  }

private:
  void run();
  void reread();

  etcd::client client_;
  cluster_keys keys_;
  map_handler on_map_;
  error_handler on_error_;
  std::chrono::milliseconds poll_;
  int64_t delivered_ = 0;
  std::atomic<uint64_t> watches_started_{0};
  std::atomic<uint64_t> rereads_{0};
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool hinted_ = false;
  bool ended_ = false;
  std::thread thread_;
};

} // namespace annals::cluster::control
