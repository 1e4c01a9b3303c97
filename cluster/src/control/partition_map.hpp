// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the partition map, the one value
// the controller keeps in etcd (`/annals/<cluster>/map`).
//
// What: who is in the cluster and, per partition, its epoch, leader,
// voters and learners; a value type with a versioned JSON codec.
// Guarantees: `encode` then `decode_partition_map` gives an equal map;
// `decode_partition_map` never throws and accepts only what `validate`
// accepts, so every decoded map holds the invariants listed at
// `partition_map`.
// Errors: `malformed_value` (not JSON, a missing, extra or ill-typed
// field, a broken invariant), `unknown_format` (another `format` number).
// Threads: plain values and pure functions; thread-safe as values are.
#pragma once

#include "annals/persistence/stream.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace annals::cluster::control {

/// The JSON format this build writes and reads (the `format` field). A
/// build that adds or changes a field writes a new number; older builds
/// then refuse the value (`unknown_format`) rather than misread it.
/// Format 2 added `settled`; format 1 maps are read with every partition
/// settled.
constexpr uint64_t partition_map_format = 2;

/// What a registered node wants.
enum class member_intent : uint8_t {
  /// Hold replicas (the ring places partitions on it).
  serve,
  /// A planned leave: the node is off the ring, its replicas move away
  /// (learner first), then it is dropped from the map.
  leave,
};

/// "serve" or "leave".
const char* to_string(member_intent x) noexcept;

/// A node of the cluster as last registered in etcd.
struct member_info {
  /// Unique node name (the ring hashes it; `members/<name>` in etcd).
  std::string name;
  /// The incarnation of the node's data directory when it last registered
  /// (a wiped directory gets a new one).
  std::string incarnation;
  /// Where its replication and routing traffic goes (`host:port`).
  std::string address;
  /// Kept in the map so that a leave survives the leaving node's death and
  /// every reader computes the same ring targets from the map alone.
  member_intent intent = member_intent::serve;

  friend bool operator==(const member_info&, const member_info&) = default;
};

/// One replica of a partition: a node and the incarnation of its data
/// directory (the data plane's `replication::member`).
struct replica_ref {
  std::string node;
  std::string incarnation;

  friend bool operator==(const replica_ref&, const replica_ref&) = default;
};

/// One partition's replication state.
struct partition_assignment {
  /// The leader epoch: grows by one with every change of the leader or of
  /// the voters (never decreases); at most one leader per epoch. The data
  /// plane fences replicas at it.
  uint64_t epoch = 1;
  /// The node that leads `epoch`; always one of `replicas`.
  std::string leader;
  /// The voters, in a stable order (a voter's index is its replica id in
  /// the data plane; a swap keeps the slot). Only these incarnations are
  /// counted in fences and the high watermark.
  std::vector<replica_ref> replicas;
  /// Replicas being caught up, never counted: a wiped voter's new
  /// incarnation (its node also appears in `replicas` with the old one)
  /// or a node the ring moves in. `promote_learner` makes one a voter.
  std::vector<replica_ref> learners;
  /// The voters hold, on a majority, every entry committed under earlier
  /// voter sets: a leader of an epoch with these voters saw its high
  /// watermark reach the epoch's start (`settle`). The voters change only
  /// while settled, one voter at a time (Raft's single-server changes), so
  /// an appointment's fence of a majority of the current voters always
  /// meets every committed entry. True in a first map.
  bool settled = true;

  friend bool operator==(const partition_assignment&,
                         const partition_assignment&)
    = default;
};

/// The partition map.
///
/// Invariants (checked by `validate`): `version >= 1`, `rf >= 1`; member
/// names non-empty and unique, sorted by name; at least one partition; per
/// partition `epoch >= 1`, at least one voter, voters on distinct nodes, the
/// leader among them, learners on distinct nodes, no learner equal to a voter,
/// every incarnation non-empty, and every node named by a partition is a
/// member.
struct partition_map {
  /// Grows by one with every write of the map (the controller's CAS).
  uint64_t version = 1;
  /// The replication factor the replica sets aim at: the configured one,
  /// clamped to the number of ring members (3 of 3 nodes, 2 of 2, 1 of 1).
  uint32_t rf = 1;
  /// Every node of the cluster (live or not), sorted by name. A node
  /// enters when it first registers and leaves after a planned leave once
  /// no partition names it; a dead node stays (its replicas wait for it).
  std::vector<member_info> members;
  /// Index = partition id; the count is fixed for the cluster's life.
  std::vector<partition_assignment> partitions;

  /// The member called `name`, or nullptr.
  const member_info* find_member(std::string_view name) const noexcept;

  friend bool operator==(const partition_map&, const partition_map&) = default;
};

/// The nodes partition `p` should be replicated on: the first `map.rf`
/// distinct serving members (not leaving) clockwise on the ring of
/// `vnodes` points per member (`ring::successors`), fewer if fewer serve.
std::vector<std::string> target_replicas(const partition_map& map,
                                         partition_id p, uint32_t vnodes);

/// Every member of the map (leaving ones included) in clockwise ring order
/// from partition `p`: the preference order for `p`'s leader.
std::vector<std::string> ring_order(const partition_map& map, partition_id p,
                                    uint32_t vnodes);

/// Checks the invariants listed at `partition_map`; `malformed_value`
/// naming the first one broken.
caf::error validate(const partition_map& map);

/// The map as compact JSON:
/// `{"format":2,"version":..,"rf":..,"members":[{"name","incarnation",
/// "address","intent":"serve"|"leave"}],"partitions":[{"epoch","leader","replicas":[{"node",
/// "incarnation"}],"learners":[..],"settled":true|false}]}` (format 2;
/// format 1, without "settled", is still read).
std::string encode(const partition_map& map);

/// Decodes and validates; see the file comment for the errors.
caf::expected<partition_map> decode_partition_map(std::string_view text);

} // namespace annals::cluster::control
