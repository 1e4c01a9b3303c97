// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the actor that runs a node's
// partition replicas (replication_host) between the partition map, the
// runtime and the replicators of the other nodes.
//
// # Operation
// - `(repl_map_atom, std::string map_json)`: the node's latest partition
//   map (control/partition_map.hpp). The replicator holds a replica of
//   every partition whose voters name this node (replica id = its slot),
//   and asks its replica to lead when the map makes this node the leader
//   of a newer epoch than it was appointed for.
// - `(repl_peer_atom, std::string node, caf::actor replicator)`: where the
//   replicator of `node` is (a null actor: unreachable).
// - `(repl_frames_atom, std::string batch)`: frames from a peer's replicas
//   (`replication::encode_frames`: one message per peer and round).
// - `(committed_atom, std::vector<committed_end>)`: from the runtime's
//   writer after each commit (see `runtime::enable_replication`).
// - A tick every `tick` retransmits what may have been lost.
// - Group commit: follower writes are staged; the first one sends the
//   actor a flush message, so every frame already in its mailbox is
//   received first, and the flush commits them all with one fsync before
//   any of them is acknowledged.
//
// Effects on the runtime: a high watermark that rises makes the events up
// to it visible (`runtime::set_visible`) and, on the leader, releases the
// held replies (`released_atom` to the writer); a lost leadership ends them
// `outcome_unknown` (`lost_atom`); serving an epoch sets the runtime's
// epoch for the partition (`runtime::set_epoch`), so its writes carry it.
// `listener` (may be null) gets `(repl_serving_atom, partition_id, epoch)`
// and `(repl_lost_atom, partition_id, epoch)` for routing.
//
// # Concurrency
// Detached (journal commits block): one thread of its own.
#pragma once

#include "annals/cluster/status.hpp"
#include "annals/runtime.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <chrono>
#include <functional>
#include <string>

// A local reply only (the replicator to its node).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<annals::cluster::replica_status>)
namespace annals::cluster::detail {
struct peer_watch;
}
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::cluster::detail::peer_watch)

namespace annals::cluster::detail {

using repl_map_atom = caf::atom_constant<caf::atom("r_map")>;
using repl_peer_atom = caf::atom_constant<caf::atom("r_peer")>;
using repl_frames_atom = caf::atom_constant<caf::atom("r_frames")>;
using repl_tick_atom = caf::atom_constant<caf::atom("r_tick")>;
/// To itself: commit the follower writes staged so far (group commit).
using repl_flush_atom = caf::atom_constant<caf::atom("r_flush")>;
using repl_serving_atom = caf::atom_constant<caf::atom("r_serving")>;
using repl_lost_atom = caf::atom_constant<caf::atom("r_lost")>;
/// `(repl_status_atom)` -> `std::string`: one line per replica (tests,
/// status pages).
using repl_status_atom = caf::atom_constant<caf::atom("r_status")>;
/// `(repl_replicas_atom)` -> `std::vector<replica_status>`.
using repl_replicas_atom = caf::atom_constant<caf::atom("r_replicas")>;
/// To a node actor: `(repl_watch_atom, peer_watch)`: call `changed(name,
/// up)` whenever the connection to a peer is lost or (re)established.
using repl_watch_atom = caf::atom_constant<caf::atom("r_watch")>;
struct peer_watch {
  std::function<void(const std::string& name, bool up)> changed;
};
/// To a node actor: `(repl_local_atom, caf::actor replicator)` -> ok.
using repl_local_atom = caf::atom_constant<caf::atom("r_local")>;

struct replicator_config {
  /// This node's name in the partition map.
  std::string self;
  std::chrono::milliseconds tick{50};
  /// Called (on the replicator's thread; must not block) when a partition
  /// this node leads has a learner -- a wiped replica back with a new
  /// incarnation, or a node the ring moves in -- that holds the log up to
  /// the high watermark: the controller may now make it a voter. Once per
  /// learner and map, and again about every second while it still applies.
  std::function<void(partition_id, const std::string& node,
                     const std::string& incarnation)>
    on_caught_up;
  /// Called (on the replicator's thread; must not block) when this node's
  /// replica cannot lead a partition at the epoch the map appointed it to,
  /// because it fenced that epoch before a restart: the controller must
  /// appoint it again.
  std::function<void(partition_id, uint64_t epoch)> on_stale_appointment;
  /// Called (on the replicator's thread; must not block) when this node
  /// leads a partition at the map's epoch, the map says its voters have
  /// not settled, and the replica's high watermark reached the epoch's
  /// start (`replica::settled`): the controller may change voters again.
  /// Repeated about every second while it still applies.
  std::function<void(partition_id, uint64_t epoch)> on_settled;
};

/// Spawns the replicator of `rt` (which must outlive it) and turns
/// replication on in `rt` (`runtime::enable_replication`).
caf::actor spawn_replicator(caf::actor_system& sys, runtime& rt,
                            replicator_config cfg, caf::actor listener);

} // namespace annals::cluster::detail
