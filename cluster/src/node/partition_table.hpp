// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): where each partition is served,
// as the node actor routes by it.
//
// What: the cluster's members and, per partition, the node commands go to
// (its leader), the epoch it leads, and this node's `phase` for it.
// Guarantees: a phase changes only here (`serve_all`, `apply`, `serving`,
// `lost`); a partition is `serving` only while the latest map names this
// node its leader at exactly the epoch this node's replica serves, so a
// command is never run here for an epoch the map has moved past.
// Errors: none; a map of another partition count is ignored by the caller.
// Threads: a plain value, confined to the node actor.
#pragma once

#include "annals/cluster/view.hpp"
#include "annals/persistence/stream.hpp"

#include "control/partition_map.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace annals::cluster::detail {

/// This node's relation to one partition.
enum class phase : uint8_t {
  /// Led by another node (or by none yet): commands are forwarded.
  foreign,
  /// The map appoints this node, and its replica does not serve that epoch
  /// yet (fencing, recovering): commands wait here.
  appointed,
  /// Served here: commands go to the local aggregates.
  serving,
};

/// "foreign", "appointed" or "serving".
const char* to_string(phase x) noexcept;

class partition_table {
public:
  partition_table(std::string self, uint32_t partitions);

  /// Standalone: this node alone serves every partition at `epochs[p]`.
  void serve_all(member self, std::vector<uint64_t> epochs);

  /// Replicated: adopts `map` (the caller checked its partition count and
  /// that its version is newer). Returns the partitions whose leader is
  /// now another node and that this node served or waited for: their held
  /// commands must fail.
  std::vector<partition_id> apply(const control::partition_map& map);

  /// Replaces the record of the member called `m.name` (its port, once
  /// bound), if there is one.
  void update_member(const member& m);

  /// The replica of `p` serves `epoch` here. True if `p` turned
  /// `serving` (its held commands may go).
  bool serving(partition_id p, uint64_t epoch);

  /// The replica of `p` no longer leads `epoch`.
  void lost(partition_id p, uint64_t epoch);

  uint32_t size() const noexcept {
    return static_cast<uint32_t>(leader_.size());
  }

  /// No map (or standalone membership) yet.
  bool empty() const noexcept {
    return membership_.empty();
  }

  partition_id partition_of(const stream_id& s) const {
    return annals::partition_of(s, size());
  }

  phase phase_of(partition_id p) const {
    return phase_[p];
  }

  /// The node commands for `p` go to (empty before a map).
  const std::string& leader(partition_id p) const {
    return leader_[p];
  }

  /// Every partition's leader, in partition order; none before the first
  /// map (there are no epochs to pair them with yet).
  const std::vector<std::string>& leaders() const noexcept {
    static const std::vector<std::string> none;
    return empty() ? none : leader_;
  }

  /// Members, epochs and version of the latest map.
  const view& membership() const noexcept {
    return membership_;
  }

  /// Every partition this node leads serves (and there is a map).
  bool settled() const noexcept;

  /// How many partitions are in phase `x`.
  uint32_t count(phase x) const noexcept;

private:
  std::string self_;
  view membership_;
  std::vector<std::string> leader_;
  std::vector<phase> phase_;
  /// Per partition: the epoch this node's replica serves (0 = none).
  std::vector<uint64_t> serving_;
};

} // namespace annals::cluster::detail
