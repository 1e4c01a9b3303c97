// annals -- event-sourced aggregates on the C++ Actor Framework.
// Subscriptions: the broker that wakes cursors after commits, the cursor
// (subscription worker) that reads the journal and delivers batches, and the
// subscriber adapters for callbacks and projections.
#pragma once

#include "annals/detail/cursor_probe.hpp"
#include "annals/detail/runtime_context.hpp"
#include "annals/subscription.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <cstdint>
#include <memory>

namespace annals::detail {

/// The broker: the journal writer tells it which partitions a commit
/// touched (`(wake_atom, std::vector<partition_id>)`), and it forwards that
/// to every registered subscription worker. It carries no events.
/// `(join_atom, actor)` registers a worker and replies once registered, so
/// the worker can then read the partition ends without missing a wake-up.
caf::behavior broker(caf::event_based_actor* self, uint32_t partitions);

/// A subscription's cursor. Reads committed events in partition order from
/// its acknowledged positions, filters them, and sends one `event_batch` at
/// a time to `subscriber`, waiting for its `batch_done`. Handles retries and
/// parking of poison events, checkpoints of durable consumers, and parked
/// event replay (`replay_atom`). Quits when the subscriber goes down.
/// `coordinator` is the consumer group's coordinator (null if not a
/// group member): partitions are then read only once assigned. The worker
/// publishes its positions and parked count to `probe` (may be null) after
/// each batch.
caf::actor
spawn_subscription_worker(caf::actor_system& sys, context_ptr ctx, uint64_t id,
                          subscription_options opts, caf::actor subscriber,
                          caf::actor coordinator,
                          std::shared_ptr<cursor_probe> probe = nullptr);

/// The coordinator of consumer group `consumer`. Members join with
/// `(group_join_atom, worker)`. On every change of membership (join, leave,
/// death) it computes a new assignment (partition p goes to member
/// p mod n, members in join order), first REVOKES partitions from their old
/// holders and waits until each has stopped reading them and checkpointed
/// its position, and only then ASSIGNS them to the new holders, which start
/// after that checkpoint. So two members never read one partition at once
/// and per-stream order holds across a rebalance.
caf::actor spawn_group_coordinator(caf::actor_system& sys, uint32_t partitions);

/// Adapts a callback to the subscriber protocol.
caf::actor spawn_callback_subscriber(caf::actor_system& sys, event_handler f);

/// A projection: applies `f` to each event of a batch, then commits the
/// model rows and the checkpoint of `name` in ONE journal transaction
/// (through the writer) before acknowledging the batch.
caf::actor spawn_projection_subscriber(caf::actor_system& sys, context_ptr ctx,
                                       std::string name, projection_handler f);

/// The model name under which a durable consumer's parked events live.
std::string parked_model(const std::string& consumer);

/// Lists the parked events of `consumer` from the journal.
caf::expected<std::vector<parked_event>>
list_parked(const journal& store, const std::string& consumer);

} // namespace annals::detail
