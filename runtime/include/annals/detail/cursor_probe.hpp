// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module (internal, shared with the cluster module):
// what a subscription cursor publishes of its progress.
#pragma once

#include "annals/persistence/stream.hpp"

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace annals::detail {

/// A cursor's progress, readable from any thread (metrics) while the cursor
/// actor runs. Written only by that actor, after each batch; every value is
/// a relaxed atomic, so a reader sees each partition's latest values but
/// not one consistent cut across partitions.
///
/// The cursor holds it by `shared_ptr`, its registry (runtime or node) by
/// `weak_ptr`: it expires with the cursor.
struct cursor_probe {
  /// `reached` of a partition the cursor does not read.
  static constexpr uint64_t not_read = std::numeric_limits<uint64_t>::max();

  cursor_probe(uint64_t subscription_id, std::string consumer_name,
               uint32_t partition_count)
    : id(subscription_id), consumer(std::move(consumer_name)),
      partitions(partition_count),
      reached(std::make_unique<std::atomic<uint64_t>[]>(partition_count)),
      known_end(std::make_unique<std::atomic<uint64_t>[]>(partition_count)) {
    for (uint32_t p = 0; p < partitions; ++p) {
      reached[p].store(not_read, std::memory_order_relaxed);
      known_end[p].store(0, std::memory_order_relaxed);
    }
  }

  const uint64_t id;
  const std::string consumer;
  const uint32_t partitions;
  /// Per partition: the last position the cursor has read past (events its
  /// filter skips included), or `not_read`.
  std::unique_ptr<std::atomic<uint64_t>[]> reached;
  /// Per partition: the partition's end as last reported to the cursor
  /// (cluster cursors, from the owners); 0 = unknown. Local cursors leave it
  /// alone: their reader takes the ends from the journal.
  std::unique_ptr<std::atomic<uint64_t>[]> known_end;
  /// Events the cursor keeps parked (in memory).
  std::atomic<uint64_t> parked{0};
  /// False until the cursor has set its start positions.
  std::atomic<bool> started{false};

  /// The events between each read partition's `reached` and `ends[p]`.
  uint64_t lag(const std::vector<position>& ends) const noexcept {
    uint64_t sum = 0;
    for (uint32_t p = 0; p < partitions && p < ends.size(); ++p) {
      auto at = reached[p].load(std::memory_order_relaxed);
      if (at != not_read && ends[p] > at)
        sum += ends[p] - at;
    }
    return sum;
  }

  /// The lag against the ends in `known_end`.
  uint64_t lag() const {
    std::vector<position> ends(partitions);
    for (uint32_t p = 0; p < partitions; ++p)
      ends[p] = known_end[p].load(std::memory_order_relaxed);
    return lag(ends);
  }
};

} // namespace annals::detail
