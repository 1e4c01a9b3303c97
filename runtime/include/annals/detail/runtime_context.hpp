// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module (internal): what every runtime actor shares.
#pragma once

#include "annals/persistence/journal.hpp"
#include "annals/runtime_config.hpp"

#include <caf/actor.hpp>

#include <atomic>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

namespace annals {

/// Upper bounds (ms) of the commit latency histogram; one more bucket
/// counts the rest (+Inf).
inline constexpr double commit_latency_bounds_ms[]
  = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100};
inline constexpr std::size_t commit_latency_buckets
  = std::size(commit_latency_bounds_ms) + 1;
/// Upper bounds of the batch size histogram (appends per group commit).
inline constexpr double batch_size_bounds[]
  = {1, 2, 4, 8, 16, 32, 64, 128, 256};
inline constexpr std::size_t batch_size_buckets
  = std::size(batch_size_bounds) + 1;

/// Counters of a runtime; cheap, thread-safe, monotonic.
struct runtime_metrics {
  std::atomic<uint64_t> commit_latency[commit_latency_buckets] = {};
  std::atomic<uint64_t> commit_latency_sum_us{0};
  std::atomic<uint64_t> batch_sizes[batch_size_buckets] = {};
  std::atomic<uint64_t> commits{0};         ///< group commits
  std::atomic<uint64_t> appends{0};         ///< append parts committed
  std::atomic<uint64_t> recoveries{0};      ///< aggregates recovered
  std::atomic<uint64_t> replayed_events{0}; ///< events applied in recovery
  std::atomic<uint64_t> snapshots_written{0};
  std::atomic<uint64_t> snapshot_fallbacks{0}; ///< unusable snapshot: replay
  std::atomic<uint64_t> passivations{0};
  std::atomic<uint64_t> storage_failures{0}; ///< failed commits
  std::atomic<uint64_t> live_aggregates{0};
  std::atomic<uint64_t> active_recoveries{0};
  std::atomic<uint64_t> max_active_recoveries{0};
  std::atomic<uint64_t> delivered_events{0}; ///< to subscribers
  std::atomic<uint64_t> parked_events{0};
  /// Redeliveries after a transient failure (never parked).
  std::atomic<uint64_t> retried_deliveries{0};
};

/// A copy of the counters at one moment.
struct runtime_stats {
  /// Per bucket of `commit_latency_bounds_ms` (not cumulative).
  std::vector<uint64_t> commit_latency;
  uint64_t commit_latency_sum_us = 0;
  /// Per bucket of `batch_size_bounds` (not cumulative).
  std::vector<uint64_t> batch_sizes;
  uint64_t commits = 0;
  uint64_t appends = 0;
  uint64_t recoveries = 0;
  uint64_t replayed_events = 0;
  uint64_t snapshots_written = 0;
  uint64_t snapshot_fallbacks = 0;
  uint64_t passivations = 0;
  uint64_t storage_failures = 0;
  uint64_t live_aggregates = 0;
  uint64_t max_active_recoveries = 0;
  uint64_t delivered_events = 0;
  uint64_t parked_events = 0;
  uint64_t retried_deliveries = 0;
};

namespace detail {

/// Shared by the writer, the recovery gate, hosts and aggregates. Only the
/// runtime's actors and the runtime itself hold it; `runtime::shutdown`
/// resets `store` once every one of those actors has terminated.
struct runtime_context {
  std::shared_ptr<journal> store;
  /// `store->partition_count()`, kept for after `store` is released.
  uint32_t partitions = 0;
  caf::actor writer;
  caf::actor gate;
  caf::actor broker;
  runtime_config cfg;
  runtime_metrics metrics;
  /// The owner epoch this node writes each partition with (0 = unfenced,
  /// single node). Set by the cluster module on ownership changes.
  std::unique_ptr<std::atomic<uint64_t>[]> epochs;

  /// Replication: the last position of each partition that readers may see
  /// (its high watermark). Every entry is `all_visible` until replication
  /// is enabled.
  std::unique_ptr<std::atomic<uint64_t>[]> visible;
  static constexpr uint64_t all_visible = ~uint64_t{0};
  uint64_t visible_end(partition_id p) const noexcept {
    return visible[p].load(std::memory_order_acquire);
  }

  /// Replication: 1 where this node leads the partition (every entry is 1
  /// until replication is enabled). `leading_only` subscriptions read it.
  std::unique_ptr<std::atomic<uint8_t>[]> leading;
  bool leads(partition_id p) const noexcept {
    return leading[p].load(std::memory_order_acquire) != 0;
  }
  uint64_t epoch_of(const stream_id& s) const noexcept {
    return epochs[partition_of(s, store->partition_count())].load(
      std::memory_order_acquire);
  }
};

using context_ptr = std::shared_ptr<runtime_context>;

} // namespace detail
} // namespace annals
