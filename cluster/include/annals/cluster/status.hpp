// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module: what a node reports about the cluster.
#pragma once

#include "annals/cluster/view.hpp"
#include "annals/persistence/event.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace annals::cluster {

/// Replicated mode: one partition replica held by this node, as its
/// replicator saw it when asked.
struct replica_status {
  partition_id partition = 0;
  /// "leader", "fencing", "recovering" (taking over) or "follower".
  std::string phase;
  /// Counted in the partition's quorums; false for a learner (a new
  /// incarnation catching up).
  bool voter = false;
  uint64_t epoch = 0;
  /// The partition's high watermark as this replica knows it: everything
  /// up to it is on a majority and visible to readers.
  position high_watermark = 0;
  /// The partition's end in this node's journal.
  position end = 0;
  /// The node this replica follows (itself when leading); empty if none.
  std::string leader;
};

/// A snapshot of one node's knowledge (for `GET /cluster`, tests, tools).
struct cluster_status {
  std::string self;
  view current;
  /// Per member of `current`: connected right now (self is always true).
  std::vector<bool> reachable;
  /// Per partition: its leader under `current` (where commands go).
  std::vector<std::string> owners;
  /// Partitions this node serves now; partitions the map appoints it to
  /// lead whose replica does not serve yet (their commands wait).
  uint32_t active = 0;
  uint32_t inbound = 0;
  /// There is a map (or the node is standalone) and every partition it
  /// leads serves.
  bool settled = false;
  /// Commands routed through this node (local entry or forwarded).
  uint64_t routed = 0;
  uint64_t forwarded = 0;
  uint64_t unavailable = 0;
  /// Replicated mode: the node holds an etcd lease that etcd confirmed
  /// less than a TTL ago (false with etcd out of reach: the data plane
  /// goes on, the control plane waits). Always false otherwise.
  bool lease_alive = false;
};

} // namespace annals::cluster
