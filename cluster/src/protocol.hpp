// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the messages between nodes.
//
// Every type here crosses the network, so each is registered by name with
// CAF (`register_protocol`) on every node. Bytes travel as std::string (CAF
// 0.17 does not inspect std::byte).
#pragma once

#include "annals/cluster/view.hpp"
#include "annals/command.hpp"
#include "annals/persistence/event.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace annals::cluster {

using routed_atom = caf::atom_constant<caf::atom("c_route")>;
/// (hello, member, root): a dialler introduces itself to the dialled node.
using hello_atom = caf::atom_constant<caf::atom("c_hello")>;
/// (alive, node name, is answer): liveness ping and pong between roots.
using alive_atom = caf::atom_constant<caf::atom("c_alive")>;
using fetch_atom = caf::atom_constant<caf::atom("c_fetch")>;
using status_atom = caf::atom_constant<caf::atom("c_status")>;
using tick_atom = caf::atom_constant<caf::atom("c_tick")>;
using connected_atom = caf::atom_constant<caf::atom("c_conn")>;
using read_atom = caf::atom_constant<caf::atom("c_read")>;
/// Local: a cursor asks its node for (map version, leader per partition).
using owners_atom = caf::atom_constant<caf::atom("c_owners")>;

/// A recorded event on the wire.
struct wire_event {
  std::string category;
  std::string id;
  uint64_t rev = 0;
  uint32_t partition = 0;
  uint64_t pos = 0;
  std::string type;
  uint32_t schema_version = 1;
  int64_t timestamp_ns = 0;
  std::string command_id;
  std::string correlation_id;
  std::string causation_id;
  uint64_t epoch = 0;
  std::string payload;
  /// False if the next event (next position) belongs to the same append.
  bool ends_append = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_event& x) {
  return f(caf::meta::type_name("annals.cluster.event"), x.category, x.id,
           x.rev, x.partition, x.pos, x.type, x.schema_version, x.timestamp_ns,
           x.command_id, x.correlation_id, x.causation_id, x.epoch, x.payload,
           x.ends_append);
}

wire_event to_wire(const event_view& ev);
recorded_event from_wire(const wire_event& ev);

/// A cluster-wide cursor's read of some partitions of one node.
struct fetch_request {
  std::vector<uint32_t> partitions;
  /// Per partition: the last position already seen.
  std::vector<uint64_t> after;
  uint32_t max_events = 1024;
  /// Empty = all categories.
  std::string category;
  /// Empty = all streams of the category.
  std::string id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_request& x) {
  return f(caf::meta::type_name("annals.cluster.fetch_request"), x.partitions,
           x.after, x.max_events, x.category, x.id);
}

struct fetch_reply {
  /// Per requested partition: the position read through (filtered-out
  /// events count as read).
  std::vector<uint64_t> reached;
  std::vector<wire_event> events;
  /// Per requested partition: its end in the answering node's journal when
  /// it answered (the cursor's lag is measured against it).
  std::vector<uint64_t> ends;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_reply& x) {
  return f(caf::meta::type_name("annals.cluster.fetch_reply"), x.reached,
           x.events, x.ends);
}

/// Registers the types above (and `member`) with CAF.
void register_protocol(caf::actor_system_config& cfg);

} // namespace annals::cluster
