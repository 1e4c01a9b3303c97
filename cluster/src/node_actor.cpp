// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node_actor.hpp"

#include "annals/cluster/status.hpp"
#include "annals/runtime_types.hpp"

#include "control/partition_map.hpp"
#include "node/call_table.hpp"
#include "node/partition_table.hpp"
#include "node/peer_links.hpp"
#include "node/reads.hpp"
#include "node/router.hpp"
#include "protocol.hpp"
#include "replicated/replicator_actor.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <memory>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::cluster::cluster_status)

namespace annals::cluster::detail {

namespace {

using clock = std::chrono::steady_clock;

/// How often the node actor runs its periodic work (pings, expiries,
/// dials).
constexpr auto tick_interval = std::chrono::milliseconds{250};

/// The parts of a node actor, each with its own state; they refer to each
/// other, so they live at fixed addresses (built once, never moved).
struct node_parts {
  node_parts(caf::event_based_actor* self, runtime& rt, const node_config& cfg,
             member me, caf::actor mm, peer_links::events ev)
    : table(me.name, rt.store().partition_count()),
      peers(self, std::move(mm), std::move(ev)),
      commands({self, rt, table, peers, calls, cfg.request_timeout}),
      reader({self, rt, table, peers, calls, cfg.request_timeout}) {
    peers.set_self(std::move(me));
  }

  partition_table table;
  peer_links peers;
  call_table calls;
  router commands;
  reads reader;
};

struct node_state {
  static inline const char* name = "annals.cluster.node";

  // Not an aggregate: CAF 0.17 constructs a state from the actor pointer
  // when it can, which C++20 parenthesised aggregate init would allow.
  node_state() = default;

  runtime* rt = nullptr;
  /// Replicated mode: the local replicator (null on a standalone node).
  caf::actor replicator;
  /// Replicated mode: told of every peer connection made or lost.
  std::function<void(const std::string&, bool)> peer_changed;
  std::unique_ptr<node_parts> parts;
};

using actor_type = caf::stateful_actor<node_state>;

/// Replicated mode: tells a peer's node where our replicator is (frames
/// between replicators go directly). Repeated on every tick: idempotent, and
/// a lost introduction heals by itself.
void introduce_replicator(actor_type* self, const caf::actor& root) {
  auto& s = self->state;
  if (s.replicator)
    self->send(root, repl_peer_atom::value, s.parts->peers.self().name,
               s.replicator);
}

peer_links::events peer_events(actor_type* self) {
  peer_links::events ev;
  ev.up = [self](const std::string& name, const caf::actor& root) {
    auto& s = self->state;
    if (s.peer_changed)
      s.peer_changed(name, true);
    introduce_replicator(self, root);
  };
  ev.down = [self](const std::string& name, const std::string& why) {
    auto& s = self->state;
    if (s.peer_changed)
      s.peer_changed(name, false);
    s.parts->commands.fail_calls_to(name, why);
    if (s.replicator)
      self->send(s.replicator, repl_peer_atom::value, name, caf::actor{});
  };
  return ev;
}

/// Replicated mode: a partition map from the control plane (newer versions
/// only). Leaders become the routing targets; partitions this node is
/// appointed to hold their commands until its replica serves them.
void adopt_map(actor_type* self, const std::string& json) {
  auto& s = self->state;
  auto& pt = *s.parts;
  auto map = control::decode_partition_map(json);
  if (!map || map->partitions.size() != pt.table.size()
      || map->version <= pt.table.membership().version)
    return;
  self->send(s.replicator, repl_map_atom::value, json);
  for (auto p : pt.table.apply(*map))
    pt.commands.fail_held(p, "partition " + std::to_string(p)
                               + " is led by node " + pt.table.leader(p)
                               + " now");
  for (uint32_t p = 0; p < pt.table.size(); ++p)
    if (pt.table.phase_of(p) == phase::serving)
      pt.commands.release_held(p);
  for (const auto& m : pt.table.membership().members)
    pt.peers.connect(m);
  pt.commands.reroute_waiting();
}

void on_tick(actor_type* self) {
  auto& pt = *self->state.parts;
  auto now = clock::now();
  pt.reader.tick(now);
  pt.commands.tick(now);
  pt.peers.tick(now);
  pt.peers.for_each_connected([self](const std::string&, const caf::actor& r) {
    introduce_replicator(self, r);
  });
  for (const auto& m : pt.table.membership().members)
    pt.peers.connect(m);
  self->delayed_send(self, tick_interval, tick_atom::value);
}

cluster_status status_of(actor_type* self) {
  auto& pt = *self->state.parts;
  cluster_status out;
  out.self = pt.peers.self().name;
  out.current = pt.table.membership();
  for (const auto& m : out.current.members)
    out.reachable.push_back(pt.peers.reachable(m.name));
  out.owners = pt.table.leaders();
  out.active = pt.table.count(phase::serving);
  out.inbound = pt.table.count(phase::appointed);
  out.settled = pt.table.settled();
  const auto& c = pt.commands.stats();
  out.routed = c.routed;
  out.forwarded = c.forwarded;
  out.unavailable = c.unavailable;
  return out;
}

caf::behavior node_behavior(actor_type* self, runtime* rt, node_config cfg,
                            member me, std::optional<std::vector<uint64_t>> own,
                            caf::actor mm) {
  auto& s = self->state;
  s.rt = rt;
  s.parts = std::make_unique<node_parts>(self, *rt, cfg, me, std::move(mm),
                                         peer_events(self));
  if (own) // standalone: every partition served here
    s.parts->table.serve_all(me, std::move(*own));
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& pt = *self->state.parts;
    if (!pt.peers.on_down(dm))
      pt.commands.on_host_down(dm);
  });
  self->send(rt->broker(), sub_join_atom::value,
             caf::actor_cast<caf::actor>(self));
  self->send(self, tick_atom::value);
  return {
    // Commands from local handles.
    [self](command_envelope& env) {
      auto rp = self->make_response_promise();
      self->state.parts->commands.route(std::move(env), rp, 0);
      return rp;
    },
    // Commands from other nodes.
    [self](routed_atom, uint32_t hops, command_envelope& env) {
      auto rp = self->make_response_promise();
      self->state.parts->commands.route(std::move(env), rp, hops);
      return rp;
    },
    [self](hello_atom, member& m, caf::actor& root) {
      self->state.parts->peers.on_hello(m, root);
    },
    [self](alive_atom, const std::string& name, bool answer) {
      self->state.parts->peers.on_alive(name, answer, self->current_sender());
    },
    [self](probed_atom, const std::string& name, bool reachable) {
      self->state.parts->peers.on_probed(name, reachable);
    },
    // A cursor's fetch of partitions held here (from any node).
    [self](fetch_atom, fetch_request& req) {
      auto rp = self->make_response_promise();
      self->state.parts->reader.fetch_local(std::move(req), rp);
      return rp;
    },
    // From a local cursor: fetch from node `name` (self or a peer).
    [self](fetch_atom, std::string& name, fetch_request& req) {
      auto rp = self->make_response_promise();
      self->state.parts->reader.fetch_remote(name, std::move(req), rp);
      return rp;
    },
    // Reads of one stream, served by its leader: (category, id, from
    // revision, max events, hops) -> fetch_reply.
    [self](read_atom, std::string& category, std::string& id, uint64_t from,
           uint32_t max, uint32_t hops) {
      auto rp = self->make_response_promise();
      self->state.parts->reader.read(std::move(category), std::move(id), from,
                                     max, hops, rp);
      return rp;
    },
    [self](owners_atom) {
      const auto& t = self->state.parts->table;
      return caf::make_message(t.membership().version, t.leaders());
    },
    [self](wake_atom, const std::vector<partition_id>& touched) {
      self->state.parts->reader.wake(touched);
    },
    [](caf::ok_atom) {}, // the broker's registration reply
    [self](status_atom) { return status_of(self); },
    [self](tick_atom) { on_tick(self); },
    [self](connected_atom, member& m) {
      // Local: our own address, once the port is bound.
      auto& pt = *self->state.parts;
      pt.table.update_member(m);
      pt.peers.set_self(std::move(m));
      return caf::ok_atom::value;
    },
    // Replicated mode.
    [self](repl_local_atom, caf::actor& replicator) {
      self->state.replicator = std::move(replicator);
      return caf::ok_atom::value;
    },
    [self](repl_watch_atom, peer_watch& w) {
      self->state.peer_changed = std::move(w.changed);
    },
    [self](repl_peer_atom, std::string& name, caf::actor& theirs) {
      auto& ns = self->state;
      if (ns.replicator
          && ns.parts->peers.is_root(name, self->current_sender()))
        self->send(ns.replicator, repl_peer_atom::value, name,
                   std::move(theirs));
    },
    [self](repl_map_atom, const std::string& json) {
      if (self->state.replicator)
        adopt_map(self, json);
    },
    [self](repl_serving_atom, partition_id p, uint64_t epoch) {
      auto& pt = *self->state.parts;
      if (pt.table.serving(p, epoch))
        pt.commands.release_held(p);
    },
    [self](repl_lost_atom, partition_id p, uint64_t epoch) {
      self->state.parts->table.lost(p, epoch);
    },
  };
}

} // namespace

caf::actor spawn_node_actor(caf::actor_system& sys, runtime& rt,
                            node_config cfg, member self,
                            std::optional<std::vector<uint64_t>> standalone,
                            caf::actor mm) {
  return sys.spawn(node_behavior, &rt, std::move(cfg), std::move(self),
                   std::move(standalone), std::move(mm));
}

} // namespace annals::cluster::detail
