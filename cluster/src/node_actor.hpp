// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the actor at the heart of a node.
//
// # Operation
// One node actor per process, published on the cluster port. Its parts,
// each in its own file under node/ with its own state:
// - `partition_table`: the members and each partition's leader, epoch and
//   this node's phase (the only place a phase changes);
// - `peer_links`: a monitored connection to every member, with liveness;
// - `router`: each command envelope to its partition's leader (the local
//   aggregates, or the leader's node actor), in per-sender order;
// - `reads`: stream reads at the leader and cluster-cursor fetches;
// - `call_table`: calls to other nodes, failed when a peer is lost or late.
// A standalone node (no etcd) serves every partition itself and has no
// peers. In replicated mode the partition map comes from the control plane
// (`repl_map_atom`, forwarded to the replicator), and the replicator says
// when an appointed partition serves (`repl_serving_atom`) or stops
// (`repl_lost_atom`); the replicator moves all data.
//
// # Concurrency
// Actor-confined. Journal reads happen in the actor (LMDB readers are
// cheap and never block the writer); every write goes through the
// runtime's journal writer.
#pragma once

#include "annals/cluster/node_config.hpp"
#include "annals/cluster/view.hpp"
#include "annals/detail/cursor_probe.hpp"
#include "annals/runtime.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>
#include <optional>

namespace annals::cluster::detail {

/// Spawns the node actor. `standalone` holds the epoch of every partition
/// for a node without etcd (it serves them all); `std::nullopt` in
/// replicated mode (nothing is served before the first partition map).
caf::actor spawn_node_actor(caf::actor_system& sys, runtime& rt,
                            node_config cfg, member self,
                            std::optional<std::vector<uint64_t>> standalone,
                            caf::actor mm);

/// Spawns a cluster-wide cursor feeding `subscriber` (an `event_batch`
/// subscriber) from every member's journal through `node`. `after` is the
/// per-partition start (empty = beginning). The cursor publishes its
/// positions and the partitions' ends its owners reported to `probe` (may
/// be null).
caf::actor spawn_cluster_cursor(
  caf::actor_system& sys, caf::actor node, caf::actor subscriber,
  uint32_t partitions, std::string category, std::string id,
  std::vector<uint64_t> after, uint32_t max_events,
  std::shared_ptr<annals::detail::cursor_probe> probe = nullptr);

/// The model row under which nodes of earlier versions stored their
/// membership view (read only to refuse such a directory of a multi-node
/// cluster on a standalone node).
inline constexpr const char* view_model = "annals.cluster";
inline constexpr const char* view_key = "view";

} // namespace annals::cluster::detail
