// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): what the parts of a node actor
// that talk to peers share.
//
// What: the node actor, its runtime, the partition table, the peer links,
// the table of calls to peers and the timeout of those calls. The router
// and the reads each hold one; the objects it refers to are the node
// actor's parts (`node_parts` in node_actor.cpp), built once and never
// moved, so they outlive every holder.
// Threads: confined to the node actor (`self`).
#pragma once

#include "annals/runtime.hpp"

#include "node/call_table.hpp"
#include "node/partition_table.hpp"
#include "node/peer_links.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/timespan.hpp>

namespace annals::cluster::detail {

struct node_context {
  caf::event_based_actor* self;
  runtime& rt;
  const partition_table& table;
  const peer_links& peers;
  call_table& calls;
  caf::timespan request_timeout;
};

} // namespace annals::cluster::detail
