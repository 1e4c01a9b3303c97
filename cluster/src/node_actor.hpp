// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the actor at the heart of a node.
//
// # Operation
// One node actor per process, published on the cluster port. It
// - keeps the membership view and a connection (monitored) to every member;
// - routes each command envelope to the owner of its partition: locally to
//   the runtime's host, or to the owner's node actor (boxed reply);
// - runs hand-offs when the view changes: the old owner stops the
//   partition's aggregates, fences its journal at the new epoch and ships
//   the partition's log from the new owner's end; the new owner imports it,
//   fences, and only then serves the commands it held meanwhile;
// - serves fetches of cluster-wide subscriptions (long-polled);
// - as leader (smallest name), turns join and leave requests into new
//   views, one at a time, once every member settled the previous one.
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

/// Spawns the node actor. `stored` is the view found in the journal (a
/// restart), if any; without one the node is not a member until
/// `bootstrap` or a join.
caf::actor spawn_node_actor(caf::actor_system& sys, runtime& rt,
                            node_config cfg, member self,
                            std::optional<view> stored, caf::actor mm);

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

/// The model row under which a node stores its view.
inline constexpr const char* view_model = "annals.cluster";
inline constexpr const char* view_key = "view";

} // namespace annals::cluster::detail
