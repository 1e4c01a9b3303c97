// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module: which node owns which partition.
#pragma once

#include "annals/persistence/stream.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace annals::cluster {

/// The stable 64-bit hash of the ring: FNV-1a 64 over the bytes, then the
/// splitmix64 finalizer (FNV alone spreads short, similar keys poorly).
/// Platform-independent; part of the cluster protocol.
uint64_t ring_hash(std::string_view bytes) noexcept;

/// A consistent-hash ring with virtual nodes, mapping journal partitions to
/// member nodes. Every node computes the same owners from the same member
/// set, whatever order members were added in, with no coordinator round
/// trip. Adding a node to n moves about 1/(n+1) of the partitions, all of
/// them to the new node; removing one moves only its partitions.
///
/// Points: node `name` has `vnodes` points `ring_hash(name + "#" + i)`;
/// partition `p` sits at `ring_hash("partition/" + p)` and belongs to the
/// node of the first point at or after it (wrapping around).
///
/// A value type; not thread-safe for concurrent modification.
class ring {
public:
  explicit ring(uint32_t vnodes = 128);

  /// Adds `node` (no effect if present).
  void add(const std::string& node);

  /// Removes `node` (no effect if absent).
  void remove(const std::string& node);

  bool contains(const std::string& node) const noexcept;

  /// The members, sorted by name.
  const std::vector<std::string>& members() const noexcept {
    return members_;
  }

  bool empty() const noexcept {
    return members_.empty();
  }

  /// The owner of partition `p`. @pre `!empty()`.
  const std::string& owner(partition_id p) const;

  /// The owner of every partition in [0, partition_count).
  /// @pre `!empty()`.
  std::vector<std::string> owners(uint32_t partition_count) const;

  /// The first `n` distinct members clockwise from partition `p`'s point
  /// (fewer if the ring has fewer members): `owner(p)` first, then the
  /// members of the following points in order, each once. The replica set
  /// of `p` at replication factor `n`. Empty on an empty ring.
  std::vector<std::string> successors(partition_id p, size_t n) const;

private:
  void rebuild();

  uint32_t vnodes_;
  std::vector<std::string> members_;
  /// Sorted by point; the second element indexes `members_`.
  std::vector<std::pair<uint64_t, uint32_t>> points_;
};

} // namespace annals::cluster
