// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node_actor.hpp"

#include "annals/cluster/status.hpp"
#include "annals/errc.hpp"
#include "annals/failpoint.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"
#include "annals/runtime_types.hpp"

#include "control/partition_map.hpp"
#include "protocol.hpp"
#include "replicated/replicator_actor.hpp"
#include "tcp_probe.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(annals::cluster::cluster_status)

namespace annals::cluster::detail {

namespace {

using clock = std::chrono::steady_clock;

enum pstate : uint8_t { foreign, active, inbound, releasing, released };

struct held_command {
  command_envelope env;
  caf::response_promise rp;
  uint32_t hops = 0;
  std::chrono::steady_clock::time_point since
    = std::chrono::steady_clock::now();
};

struct pending_fetch {
  fetch_request req;
  caf::response_promise rp;
  clock::time_point deadline;
};

struct node_state {
  static inline const char* name = "annals.cluster.node";

  // Not an aggregate: CAF 0.17 constructs a state from the actor pointer
  // when it can, which C++20 parenthesised aggregate init would allow.
  node_state() = default;

  struct peer {
    member m;
    caf::actor root;
    bool connecting = false;
    /// Connected once and then lost (not merely "not connected yet").
    bool lost = false;
    /// When the current root last answered (or was connected).
    std::chrono::steady_clock::time_point last_heard;
    std::chrono::steady_clock::time_point connect_started;
  };

  struct route {
    std::string node;
    uint32_t outstanding = 0;
    std::deque<held_command> waiting;
  };

  /// A hand-off into this node from one old owner.
  struct inflow {
    std::vector<uint32_t> partitions;
    bool requesting = false;
    uint64_t attempt = 0;
    clock::time_point started;
  };

  runtime* rt = nullptr;
  node_config cfg;
  member self;
  /// Replicated mode (`node_config::etcd` set): views come from the
  /// partition map in etcd, owners are the partitions' leaders, and the
  /// replicator moves the data; no hand-off, no settle protocol.
  bool replicated = false;
  caf::actor replicator;
  /// Replicated mode: told of every peer connection lost or made.
  std::function<void(const std::string&, bool)> peer_changed;
  /// Replicated mode: the epoch each partition serves here (0 = none).
  std::vector<uint64_t> serving;
  uint32_t parts = 0;
  caf::actor mm;
  view cur;
  std::vector<std::string> owner;
  std::map<std::string, peer> peers;
  /// The runtime's hosts by category, as found so far.
  std::unordered_map<std::string, caf::actor> hosts;
  std::vector<uint8_t> state;
  std::vector<std::deque<held_command>> held;
  std::vector<route> routes;
  std::vector<std::pair<ship_request, caf::response_promise>> pending_ships;
  std::map<std::string, inflow> inflows;
  // Leader bookkeeping.
  std::set<std::string> settled;
  std::deque<std::pair<caf::message, caf::response_promise>> changes;
  /// The last version every member settled (told by the leader).
  uint64_t all_settled = 0;
  /// The newest view known to be durable in the journal.
  uint64_t stored_version = 0;
  bool releasing_now = false;
  std::vector<caf::response_promise> leave_waiters;
  uint64_t leave_version = 0;
  std::vector<pending_fetch> fetches;
  // Counters.
  uint64_t routed = 0;
  uint64_t forwarded = 0;
  uint64_t unavailable = 0;
  std::vector<double> handoff_ms;
  /// Calls to other nodes awaiting their reply.
  struct call {
    std::string node;
    std::optional<partition_id> partition;
    caf::response_promise rp;
    clock::time_point deadline;
  };
  std::map<uint64_t, call> calls;
  uint64_t next_call = 1;
};

using actor_type = caf::stateful_actor<node_state>;

caf::error unavailable(std::string what) {
  return make_error(errc::unavailable, std::move(what));
}

/// How long a new owner holds commands for a partition whose old owner
/// never connected (the middleman's connection timeout).
constexpr auto source_grace = std::chrono::seconds{2};

/// A peer whose root answered no ping for this long is taken as lost.
constexpr auto peer_silence = std::chrono::seconds{4};

using probed_atom = caf::atom_constant<caf::atom("c_probed")>;

/// A short-lived detached actor: probes `host:port` and tells `node`.
void probe_peer(caf::event_based_actor* self, caf::actor node, std::string name,
                std::string host, uint16_t port) {
  auto err = probe_tcp(host, port, std::chrono::seconds{1});
  self->send(node, probed_atom::value, std::move(name), !err);
}

class node_logic {
public:
  explicit node_logic(actor_type* self) : self_(self) {
  }

  node_state& st() {
    return self_->state;
  }

  // -- routing ----------------------------------------------------------------

  void route(command_envelope env, caf::response_promise rp, uint32_t hops) {
    auto& s = st();
    ++s.routed;
    if (s.cur.empty()) {
      ++s.unavailable;
      rp.deliver(
        unavailable("node " + s.self.name + " has not joined a cluster"));
      return;
    }
    if (env.id.empty() || env.category.empty()) {
      rp.deliver(make_error(errc::invalid_command,
                            "a command needs a category and an id"));
      return;
    }
    auto p = partition_of(stream_id{env.category, env.id}, s.parts);
    const auto& o = s.owner[p];
    if (o == s.self.name) {
      switch (s.state[p]) {
      case active:
        deliver_local(std::move(env), rp);
        return;
      case inbound: {
        if (s.replicated) { // appointed: held until the replica serves
          s.held[p].push_back({std::move(env), rp, hops});
          return;
        }
        auto src = inbound_source(p);
        if (!src.empty() && out_of_reach(src)) {
          ++s.unavailable;
          rp.deliver(unavailable("partition " + std::to_string(p)
                                 + " is moving here from node " + src
                                 + ", which is unreachable"));
          return;
        }
        s.held[p].push_back({std::move(env), rp, hops});
        return;
      }
      default:
        ++s.unavailable;
        rp.deliver(unavailable("partition " + std::to_string(p)
                               + " is not ready on node " + s.self.name));
        return;
      }
    }
    if (hops >= 4) {
      ++s.unavailable;
      rp.deliver(unavailable("ownership of partition " + std::to_string(p)
                             + " is changing; retry"));
      return;
    }
    auto& r = s.routes[p];
    // One sender's order per aggregate: never overtake commands still on
    // their way to a previous owner.
    if (r.outstanding > 0 && r.node != o) {
      r.waiting.push_back({std::move(env), rp, hops});
      return;
    }
    send_remote(p, o, std::move(env), rp, hops);
  }

  void deliver_local(command_envelope env, caf::response_promise& rp) {
    // Hosts never go away while the node runs: look each category up in
    // the runtime (a lock) once, not per command.
    auto& host = st().hosts[env.category];
    if (!host) {
      host = st().rt->host_actor(env.category);
      if (host)
        self_->monitor(host); // a host that dies is looked up again
    }
    if (!host) {
      st().hosts.erase(env.category);
      rp.deliver(make_error(errc::invalid_command,
                            "no aggregate type " + env.category
                              + " is hosted on node " + st().self.name));
      return;
    }
    rp.delegate(host, std::move(env));
  }

  void send_remote(partition_id p, const std::string& o, command_envelope env,
                   caf::response_promise rp, uint32_t hops) {
    auto& s = st();
    auto it = s.peers.find(o);
    if (it == s.peers.end() || !it->second.root) {
      ++s.unavailable;
      rp.deliver(unavailable("partition " + std::to_string(p) + "'s owner " + o
                             + " is unreachable"));
      return;
    }
    ++s.forwarded;
    auto& r = s.routes[p];
    r.node = o;
    ++r.outstanding;
    bool boxed_in = env.boxed_reply;
    env.boxed_reply = true;
    // No CAF timeout (a pending one keeps the actor alive until it fires):
    // the tick expires calls, and a lost peer fails its calls at once.
    auto id = track(o, p, rp, s.cfg.request_timeout);
    self_
      ->request(it->second.root, caf::infinite, routed_atom::value, hops + 1,
                std::move(env))
      .then(
        [this, id, boxed_in](routed_reply& reply) mutable {
          if (auto waiting = untrack(id)) {
            if (boxed_in)
              waiting->deliver(std::move(reply));
            else
              waiting->deliver(std::move(reply.value));
          }
        },
        [this, id, o, p](caf::error& err) mutable {
          if (auto waiting = untrack(id)) {
            // The owner was down before the command reached it: nothing
            // ran, a retry may go elsewhere.
            if (err == caf::sec::request_receiver_down)
              err = unavailable("partition " + std::to_string(p) + "'s owner "
                                + o + " is down");
            waiting->deliver(std::move(err));
          }
        });
  }

  /// Registers a call to node `n` on behalf of `rp` (partition `p`, or
  /// none for fetches).
  uint64_t track(const std::string& n, std::optional<partition_id> p,
                 caf::response_promise rp, caf::timespan timeout) {
    auto& s = st();
    auto id = s.next_call++;
    s.calls.emplace(
      id, node_state::call{n, p, std::move(rp), clock::now() + timeout});
    return id;
  }

  /// Ends call `id`: its promise (if still pending) for the caller to
  /// deliver, and the partition's route bookkeeping.
  std::optional<caf::response_promise> untrack(uint64_t id) {
    auto& s = st();
    auto it = s.calls.find(id);
    if (it == s.calls.end())
      return std::nullopt;
    auto c = std::move(it->second);
    s.calls.erase(it);
    if (c.partition)
      route_done(*c.partition);
    return c.rp;
  }

  /// Fails the calls to `node` (empty = every expired call).
  void fail_calls(const std::string& node, const std::string& why) {
    auto& s = st();
    auto now = clock::now();
    std::vector<uint64_t> ids;
    for (auto& [id, c] : s.calls)
      if (node.empty() ? c.deadline <= now : c.node == node)
        ids.push_back(id);
    for (auto id : ids)
      if (auto rp = untrack(id))
        rp->deliver(make_error(errc::outcome_unknown, why));
  }

  void route_done(partition_id p) {
    auto& r = st().routes[p];
    if (r.outstanding > 0)
      --r.outstanding;
    if (r.outstanding == 0 && !r.waiting.empty()) {
      auto waiting = std::move(r.waiting);
      r.waiting.clear();
      for (auto& h : waiting)
        route(std::move(h.env), h.rp, h.hops);
    }
  }

  // -- membership -------------------------------------------------------------

  bool reachable(const std::string& name) {
    if (name == st().self.name)
      return true;
    auto it = st().peers.find(name);
    return it != st().peers.end() && it->second.root;
  }

  /// True if `name` was connected and is gone (a joiner that has not been
  /// dialled yet is not lost).
  bool lost(const std::string& name) {
    auto it = st().peers.find(name);
    return it != st().peers.end() && it->second.lost && !it->second.root;
  }

  /// True if hand-off source `src` is lost, or has not connected within
  /// the heartbeat timeout of its hand-off's start (a joiner waits for
  /// the smaller names to dial it; one cut off never does).
  bool out_of_reach(const std::string& src) {
    if (reachable(src))
      return false;
    if (lost(src))
      return true;
    auto in = st().inflows.find(src);
    return in != st().inflows.end()
           && clock::now() - in->second.started > source_grace;
  }

  std::string inbound_source(partition_id p) {
    for (auto& [src, in] : st().inflows)
      if (std::find(in.partitions.begin(), in.partitions.end(), p)
          != in.partitions.end())
        return src;
    return {};
  }

  /// Connects to `m` -- only if our name is the smaller one: two nodes
  /// dialling each other at once can each keep a different connection and
  /// drop the other's (seen with TLS). The larger name waits for our hello.
  void connect(const member& m) {
    auto& s = st();
    if (m.name == s.self.name)
      return;
    auto& pr = s.peers[m.name];
    pr.m = m;
    if (pr.root || pr.connecting || m.name < s.self.name)
      return;
    pr.connecting = true;
    pr.connect_started = clock::now();
    // Probe first, on a thread of its own (see tcp_probe.hpp): CAF's
    // connect blocks the middleman for minutes on a dropping network.
    self_->spawn<caf::detached>(probe_peer, caf::actor_cast<caf::actor>(self_),
                                m.name, m.host, m.port);
  }

  /// The probe of `name` is done: dial it through the middleman if it
  /// answered.
  void on_probed(const std::string& name, bool reachable) {
    auto& s = st();
    auto it = s.peers.find(name);
    if (it == s.peers.end() || !it->second.connecting)
      return;
    if (!reachable || it->second.root) {
      it->second.connecting = false;
      return;
    }
    const auto& m = it->second.m;
    self_
      ->request(s.mm, caf::infinite, caf::connect_atom::value, m.host, m.port)
      .then(
        [this, name](const caf::node_id&, caf::strong_actor_ptr& ptr,
                     const std::set<std::string>&) {
          auto& npr = st().peers[name];
          npr.connecting = false;
          if (!ptr)
            return;
          on_peer(name, caf::actor_cast<caf::actor>(ptr));
        },
        [this, name](caf::error&) { st().peers[name].connecting = false; });
  }

  void on_peer(const std::string& name, caf::actor root) {
    auto& pr = st().peers[name];
    if (pr.root == root)
      return;
    if (pr.root) {
      // A new incarnation reached us before the old one's down_msg (which
      // then matches no peer): the old one answers nothing, ask the new one.
      fail_calls(name, "node " + name + " restarted while the command was "
                         + "in flight");
      if (auto in = st().inflows.find(name); in != st().inflows.end())
        in->second.requesting = false;
    }
    pr.root = std::move(root);
    pr.lost = false;
    pr.last_heard = clock::now();
    if (st().peer_changed)
      st().peer_changed(name, true);
    self_->monitor(pr.root);
    log(log_level::info, st().self.name + ": connected to " + name);
    // Introduce ourselves (the peer learns our root and our view).
    self_->send(pr.root, hello_atom::value, st().self,
                caf::actor_cast<caf::actor>(self_), st().cur);
    retry_inflows();
    if (st().replicated)
      introduce_replicator(pr.root);
  }

  /// Replicated mode: tells a peer's node where our replicator is (frames
  /// between replicators go directly). Repeated on every tick: idempotent,
  /// and a lost introduction heals by itself.
  void introduce_replicator(const caf::actor& root) {
    self_->send(root, repl_peer_atom::value, st().self.name, st().replicator);
  }

  /// Replicated mode: peer `name`'s node told us where its replicator is.
  void on_replicator_of(const std::string& name, caf::actor theirs,
                        const caf::strong_actor_ptr& sender) {
    auto it = st().peers.find(name);
    if (it == st().peers.end() || !it->second.root || !sender
        || it->second.root.address() != sender->address())
      return; // not (or no longer) the peer we are connected to
    self_->send(st().replicator, repl_peer_atom::value, name,
                std::move(theirs));
  }

  void on_down(const caf::down_msg& dm) {
    for (auto& [name, pr] : st().peers)
      if (pr.root && pr.root.address() == dm.source) {
        lose_peer(name, to_string(dm.reason));
        return;
      }
    for (auto it = st().hosts.begin(); it != st().hosts.end(); ++it)
      if (it->second && it->second.address() == dm.source) {
        log(log_level::error, st().self.name + ": the host of " + it->first
                                + " stopped: " + to_string(dm.reason));
        st().hosts.erase(it);
        return;
      }
  }

  /// Liveness beyond CAF's: BASP may keep a dead peer's proxy alive (no
  /// down_msg) when it believes in another route to it, e.g. after a
  /// quick restart. Each tick pings every peer's root; a root silent for
  /// `peer_silence` is dropped like a down one, and the tick redials.
  void check_peers() {
    auto& s = st();
    auto now = clock::now();
    std::vector<std::string> silent;
    for (auto& [name, pr] : s.peers) {
      if (!pr.root)
        continue;
      if (now - pr.last_heard > peer_silence)
        silent.push_back(name);
      else
        self_->send(pr.root, alive_atom::value, s.self.name, false);
    }
    for (const auto& name : silent)
      lose_peer(name,
                "no answer for " + std::to_string(peer_silence.count()) + " s");
  }

  /// A peer's ping (answered) or pong, from `sender`.
  void on_alive(const std::string& name, bool answer,
                const caf::strong_actor_ptr& sender) {
    auto it = st().peers.find(name);
    if (it == st().peers.end() || !it->second.root || !sender
        || it->second.root.address() != sender->address())
      return;
    it->second.last_heard = clock::now();
    if (!answer)
      self_->send(it->second.root, alive_atom::value, st().self.name, true);
  }

  void lose_peer(const std::string& name, const std::string& why) {
    auto& s = st();
    auto& pr = s.peers[name];
    if (!pr.root)
      return;
    self_->demonitor(pr.root);
    pr.root = nullptr;
    pr.lost = true;
    if (s.peer_changed)
      s.peer_changed(name, false);
    fail_calls(name,
               "node " + name + " failed while the command was in flight");
    if (s.replicated)
      self_->send(s.replicator, repl_peer_atom::value, name, caf::actor{});
    log(log_level::warning,
        s.self.name + ": lost node " + name + " (" + why + ")");
    // Commands held for partitions coming from it fail fast.
    if (auto in = s.inflows.find(name); in != s.inflows.end()) {
      in->second.requesting = false;
      for (auto p : in->second.partitions) {
        for (auto& h : s.held[p]) {
          ++s.unavailable;
          h.rp.deliver(unavailable("partition " + std::to_string(p)
                                   + " is moving here from node " + name
                                   + ", which is unreachable"));
        }
        s.held[p].clear();
      }
    }
  }

  /// Adopts `v` if it is newer than the current view.
  void adopt(const view& v) {
    auto& s = st();
    if (s.replicated || v.version <= s.cur.version
        || v.epochs.size() != s.parts)
      return;
    auto first = s.cur.empty();
    auto old_owner = s.owner;
    s.cur = v;
    s.owner = owners_of(v.members, s.parts, s.cfg.vnodes);
    std::vector<std::string> prev
      = v.previous.empty() ? std::vector<std::string>{}
                           : owners_of(v.previous, s.parts, s.cfg.vnodes);
    if (!first && old_owner != prev && !prev.empty())
      log(log_level::warning, s.self.name + ": skipped a view; using view "
                                + std::to_string(v.version) + "'s previous");
    store_view();
    for (const auto& m : v.members)
      connect(m);
    for (const auto& m : v.previous)
      connect(m);
    std::vector<partition_id> leaving;
    std::map<std::string, std::vector<uint32_t>> coming;
    for (uint32_t p = 0; p < s.parts; ++p) {
      bool mine = s.owner[p] == s.self.name;
      bool was = prev.empty() ? false : prev[p] == s.self.name;
      if (prev.empty()) {
        // The first view of a cluster: nobody had anything.
        s.state[p] = mine ? active : foreign;
        if (mine)
          s.rt->set_epoch(p, v.epochs[p]);
      } else if (was && !mine) {
        s.state[p] = releasing;
        leaving.push_back(p);
      } else if (!was && mine) {
        s.state[p] = inbound;
        coming[prev[p]].push_back(p);
      } else if (!mine && s.state[p] == active) {
        s.state[p] = releasing; // defensive: we served it, we must fence it
        leaving.push_back(p);
      }
    }
    if (prev.empty())
      fence_owned();
    if (!leaving.empty())
      release(std::move(leaving));
    for (auto& [src, ps] : coming) {
      auto& in = s.inflows[src];
      in.partitions.insert(in.partitions.end(), ps.begin(), ps.end());
      in.started = clock::now();
      in.requesting = false;
    }
    retry_inflows();
    maybe_settle();
    if (s.self.name == v.leader())
      s.settled.erase(s.settled.begin(), s.settled.end());
    // Held router commands may now have another owner.
    for (uint32_t p = 0; p < s.parts; ++p)
      if (s.routes[p].outstanding == 0 && !s.routes[p].waiting.empty())
        route_done(p);
  }

  /// Replicated mode: a partition map from the control plane (newer
  /// versions only). Owners become the partitions' leaders; partitions this
  /// node leads are `inbound` (commands held) until its replica serves.
  void adopt_map(const std::string& json) {
    auto& s = st();
    auto map = control::decode_partition_map(json);
    if (!map || map->partitions.size() != s.parts
        || map->version <= s.cur.version)
      return;
    self_->send(s.replicator, repl_map_atom::value, json);
    view v;
    v.version = map->version;
    for (const auto& m : map->members) {
      auto colon = m.address.rfind(':');
      member x{m.name, m.address.substr(0, colon), 0};
      if (colon != std::string::npos)
        x.port = static_cast<uint16_t>(
          std::strtoul(m.address.c_str() + colon + 1, nullptr, 10));
      v.members.push_back(std::move(x));
    }
    for (const auto& a : map->partitions)
      v.epochs.push_back(a.epoch);
    s.cur = std::move(v);
    s.owner.resize(s.parts);
    for (uint32_t p = 0; p < s.parts; ++p) {
      const auto& a = map->partitions[p];
      s.owner[p] = a.leader;
      if (a.leader != s.self.name) {
        s.state[p] = foreign;
        fail_held(p, "partition " + std::to_string(p) + " is led by node "
                       + a.leader + " now");
      } else if (s.serving[p] == a.epoch) {
        s.state[p] = active;
      } else {
        s.state[p] = inbound;
      }
    }
    for (const auto& m : s.cur.members)
      if (m.port != 0)
        connect(m);
    for (uint32_t p = 0; p < s.parts; ++p)
      if (s.routes[p].outstanding == 0 && !s.routes[p].waiting.empty())
        route_done(p);
  }

  /// Replicated mode: the replica of `p` serves `epoch` here.
  void on_serving(partition_id p, uint64_t epoch) {
    auto& s = st();
    if (p >= s.parts)
      return;
    s.serving[p] = epoch;
    if (s.owner[p] != s.self.name || s.cur.epochs[p] != epoch)
      return;
    s.state[p] = active;
    auto held = std::move(s.held[p]);
    s.held[p].clear();
    for (auto& h : held)
      route(std::move(h.env), h.rp, h.hops);
  }

  /// Replicated mode: the replica of `p` no longer leads `epoch`.
  void on_lost(partition_id p, uint64_t epoch) {
    auto& s = st();
    if (p >= s.parts || s.serving[p] != epoch)
      return;
    s.serving[p] = 0;
    if (s.state[p] == active)
      s.state[p] = s.owner[p] == s.self.name ? inbound : foreign;
  }

  /// Fails the commands held for `p` (nothing of them ran).
  void fail_held(partition_id p, const std::string& why) {
    auto& s = st();
    for (auto& h : s.held[p]) {
      ++s.unavailable;
      h.rp.deliver(unavailable(why));
    }
    s.held[p].clear();
  }

  /// Persists the current view; a node settles a view only once it is
  /// stored, so that a restart never comes back to an older one.
  void store_view() {
    write_batch wb;
    wb.models.push_back({view_model, view_key, encode_view(st().cur), false});
    auto ver = st().cur.version;
    self_
      ->request(st().rt->writer(), caf::infinite, commit_atom::value,
                std::move(wb))
      .then(
        [this, ver](caf::ok_atom) {
          st().stored_version = std::max(st().stored_version, ver);
          maybe_settle();
        },
        [this](caf::error& err) {
          log(log_level::error,
              st().self.name + ": cannot store the view: " + render(err));
        });
  }

  /// Fences every owned partition at its epoch (first view, restart).
  void fence_owned() {
    auto& s = st();
    write_batch wb;
    for (uint32_t p = 0; p < s.parts; ++p)
      if (s.state[p] == active)
        wb.fences.push_back({p, s.cur.epochs[p]});
    if (wb.fences.empty())
      return;
    self_
      ->request(s.rt->writer(), caf::infinite, import_atom::value,
                std::move(wb))
      .then([](batch_result&) {},
            [this](caf::error& err) {
              log(log_level::error,
                  st().self.name + ": cannot fence partitions: " + render(err));
            });
  }

  // -- hand-off: the old owner ------------------------------------------------

  /// Stops the aggregates of `ps`, then fences them: afterwards no command
  /// of this node can write them, and their log here is final.
  void release(std::vector<partition_id> ps) {
    auto& s = st();
    auto hosts = s.rt->host_actors();
    auto remaining = std::make_shared<std::size_t>(hosts.size());
    auto ver = s.cur.version;
    auto finish = [this, ps, ver] {
      auto& ns = st();
      write_batch wb;
      for (auto p : ps)
        wb.fences.push_back({p, ns.cur.epochs[p]});
      self_
        ->request(ns.rt->writer(), caf::infinite, import_atom::value,
                  std::move(wb))
        .then(
          [this, ps, ver](batch_result&) {
            ANNALS_CRASH_POINT("annals/handoff/old_after_fence");
            auto& ns2 = st();
            for (auto p : ps)
              if (ns2.state[p] == releasing && ns2.owner[p] != ns2.self.name)
                ns2.state[p] = released;
            log(log_level::info,
                ns2.self.name + ": released " + std::to_string(ps.size())
                  + " partitions for view " + std::to_string(ver));
            serve_ships();
          },
          [this](caf::error& err) {
            log(log_level::error,
                st().self.name
                  + ": cannot fence released partitions: " + render(err));
          });
    };
    if (hosts.empty()) {
      finish();
      return;
    }
    for (auto& h : hosts)
      self_->request(h, caf::infinite, handoff_atom::value, ps)
        .then(
          [remaining, finish](caf::ok_atom) {
            if (--*remaining == 0)
              finish();
          },
          [remaining, finish](caf::error&) {
            if (--*remaining == 0)
              finish();
          });
  }

  caf::response_promise on_ship(ship_request& req) {
    auto rp = self_->make_response_promise();
    adopt(req.v);
    st().pending_ships.emplace_back(std::move(req), rp);
    serve_ships();
    return rp;
  }

  void serve_ships() {
    auto& s = st();
    for (auto it = s.pending_ships.begin(); it != s.pending_ships.end();) {
      bool ready = true;
      bool draining = false;
      for (auto p : it->first.partitions) {
        if (p >= s.parts || s.state[p] == active || s.state[p] == inbound)
          ready = false;
        else if (s.state[p] == releasing)
          draining = true;
      }
      if (!ready) {
        ++it;
        continue;
      }
      // Copy ahead while the aggregates drain: committed events are
      // final, so the new owner imports them now and only the delta, the
      // fence and the checkpoints wait for the release (Kafka-style
      // catch-up, then a short final step).
      auto chunk = make_chunk(it->first, !draining);
      if (draining && chunk.events.empty()) {
        ++it;
        continue;
      }
      it->second.deliver(std::move(chunk));
      ANNALS_CRASH_POINT("annals/handoff/old_after_ship");
      it = s.pending_ships.erase(it);
    }
  }

  /// The events of `req`'s partitions after its positions (at most
  /// `chunk_events`) with the latest snapshots of their streams. `done`
  /// (and the consumers' checkpoints) only if `final` and nothing is left.
  ship_reply make_chunk(const ship_request& req, bool final) {
    auto& s = st();
    auto& store = s.rt->store();
    ship_reply out;
    out.done = final;
    std::set<stream_id> streams;
    for (std::size_t i = 0; i < req.partitions.size(); ++i) {
      auto p = req.partitions[i];
      auto from = i < req.from.size() ? req.from[i] : 0;
      bool full = false;
      auto err = store.scan_partition(p, from + 1, [&](const event_view& ev) {
        // Full, but never inside an append (it is imported whole).
        if (out.events.size() >= s.cfg.chunk_events
            && out.events.back().ends_append) {
          full = true;
          return false;
        }
        out.events.push_back(to_wire(ev));
        streams.insert(stream_id{std::string{ev.category}, std::string{ev.id}});
        return true;
      });
      if (err) {
        log(log_level::error, s.self.name + ": hand-off read of partition "
                                + std::to_string(p)
                                + " failed: " + render(err));
        full = true; // the receiver asks again
      }
      if (full) {
        out.done = false;
        break;
      }
    }
    for (const auto& sid : streams) {
      auto snap = store.load_snapshot(sid);
      if (snap && *snap) {
        const auto& x = **snap;
        out.snapshots.push_back(
          {sid.category, sid.id, x.rev, x.type, x.schema_version,
           std::string{reinterpret_cast<const char*>(x.payload.data()),
                       x.payload.size()}});
      }
    }
    if (out.done) {
      std::set<uint32_t> wanted(req.partitions.begin(), req.partitions.end());
      (void)store.scan_checkpoints(
        [&](std::string_view consumer, partition_id p, position pos) {
          // Cluster-wide consumers keep their own positions on each node.
          if (wanted.count(p) && consumer.substr(0, 8) != "cluster:")
            out.checkpoints.push_back({std::string{consumer}, p, pos});
          return true;
        });
    }
    return out;
  }

  // -- hand-off: the new owner ------------------------------------------------

  void retry_inflows() {
    for (auto& [src, in] : st().inflows)
      if (!in.requesting && reachable(src))
        request_chunk(src);
  }

  void request_chunk(const std::string& src) {
    auto& s = st();
    auto& in = s.inflows[src];
    auto ends = s.rt->store().partition_ends();
    if (!ends) {
      log(log_level::error, s.self.name + ": cannot read partition ends: "
                              + render(ends.error()));
      return;
    }
    ship_request req;
    req.v = s.cur;
    req.partitions = in.partitions;
    for (auto p : in.partitions)
      req.from.push_back((*ends)[p]);
    in.requesting = true;
    auto root = s.peers[src].root;
    auto ver = s.cur.version;
    auto attempt = ++in.attempt;
    self_->request(root, caf::infinite, ship_atom::value, req)
      .then(
        [this, src, ver, attempt](ship_reply& chunk) {
          auto it = st().inflows.find(src);
          if (it != st().inflows.end() && it->second.attempt == attempt)
            import(src, ver, chunk);
        },
        [this, src](caf::error& err) {
          log(log_level::warning, st().self.name + ": hand-off from " + src
                                    + " failed, retrying: " + render(err));
          if (auto it = st().inflows.find(src); it != st().inflows.end())
            it->second.requesting = false;
        });
  }

  void import(const std::string& src, uint64_t ver, ship_reply& chunk) {
    auto& s = st();
    auto it = s.inflows.find(src);
    if (it == s.inflows.end() || ver != s.cur.version)
      return;
    write_batch wb;
    std::vector<position> first_positions;
    for (std::size_t i = 0; i < chunk.events.size();) {
      const auto& first = chunk.events[i];
      append_request req;
      req.stream = stream_id{first.category, first.id};
      req.expected = expected_revision::exactly(first.rev - 1);
      req.command_id = first.command_id;
      req.epoch = first.epoch;
      // One append per append at the source: its events end with the one
      // that ends it (a chunk ends with a whole append).
      req.verbatim = true;
      std::size_t j = i;
      while (j < chunk.events.size()) {
        const auto& e = chunk.events[j];
        if (j > i
            && (e.category != first.category || e.id != first.id
                || e.command_id != first.command_id || e.epoch != first.epoch
                || e.rev != first.rev + (j - i)
                || chunk.events[j - 1].ends_append))
          break;
        event_data d;
        d.type = e.type;
        d.schema_version = e.schema_version;
        d.timestamp_ns = e.timestamp_ns;
        d.correlation_id = e.correlation_id;
        d.causation_id = e.causation_id;
        d.payload = to_bytes(e.payload);
        req.events.push_back(std::move(d));
        ++j;
      }
      wb.appends.push_back(std::move(req));
      first_positions.push_back(first.pos);
      i = j;
    }
    for (auto& sn : chunk.snapshots)
      wb.snapshots.push_back({stream_id{sn.category, sn.id}, sn.rev, sn.type,
                              sn.schema_version, to_bytes(sn.payload)});
    if (chunk.done) {
      for (auto& cp : chunk.checkpoints) {
        auto mine = s.rt->store().load_checkpoint(cp.consumer, cp.partition);
        if (mine && (!*mine || **mine < cp.pos))
          wb.checkpoints.push_back({cp.consumer, cp.partition, cp.pos});
      }
      for (auto p : it->second.partitions)
        wb.fences.push_back({p, s.cur.epochs[p]});
    }
    auto done = chunk.done;
    self_
      ->request(s.rt->writer(), caf::infinite, import_atom::value,
                std::move(wb))
      .then(
        [this, src, ver, done, first_positions](batch_result& res) {
          auto& ns = st();
          auto nit = ns.inflows.find(src);
          if (nit == ns.inflows.end() || ver != ns.cur.version)
            return;
          for (std::size_t i = 0; i < res.appends.size(); ++i) {
            auto& part = res.appends[i];
            if (!part || part->duplicate
                || part->first_position != first_positions[i]) {
              // The copy here is not a prefix of the old owner's log: never
              // serve it (that would be a second history).
              log(log_level::error,
                  ns.self.name + ": hand-off import from " + src
                    + " refused, retrying: "
                    + (part ? "its positions differ from the old owner's"
                            : render(part.error())));
              nit->second.requesting = false;
              return;
            }
          }
          if (!done) {
            // Imported, not yet fenced (the last chunk carries the fence).
            ANNALS_CRASH_POINT("annals/handoff/new_after_import");
            request_chunk(src);
            return;
          }
          activate(src);
        },
        [this, src](caf::error& err) {
          log(log_level::error, st().self.name + ": hand-off import from " + src
                                  + " failed: " + render(err));
          if (auto nit = st().inflows.find(src); nit != st().inflows.end())
            nit->second.requesting = false;
        });
  }

  void activate(const std::string& src) {
    auto& s = st();
    auto it = s.inflows.find(src);
    auto in = std::move(it->second);
    s.inflows.erase(it);
    auto ms
      = std::chrono::duration<double, std::milli>(clock::now() - in.started)
          .count();
    s.handoff_ms.push_back(ms);
    // Fenced here; the held commands are not served yet.
    ANNALS_CRASH_POINT("annals/handoff/new_after_fence");
    for (auto p : in.partitions) {
      s.rt->set_epoch(p, s.cur.epochs[p]);
      s.state[p] = active;
    }
    log(log_level::info,
        s.self.name + ": took over " + std::to_string(in.partitions.size())
          + " partitions from " + src + " in " + std::to_string(ms) + " ms");
    for (auto p : in.partitions) {
      auto held = std::move(s.held[p]);
      s.held[p].clear();
      for (auto& h : held)
        route(std::move(h.env), h.rp, h.hops);
    }
    maybe_settle();
  }

  // -- settling and changes (leader) ------------------------------------------

  void maybe_settle() {
    auto& s = st();
    if (s.replicated || s.cur.empty() || !s.inflows.empty()
        || !s.cur.find(s.self.name) || s.stored_version < s.cur.version)
      return;
    send_to_leader(
      caf::make_message(settled_atom::value, s.cur.version, s.self.name));
  }

  void send_to_leader(caf::message msg) {
    auto& s = st();
    const auto& l = s.cur.leader();
    if (l == s.self.name) {
      self_->send(self_, std::move(msg));
      return;
    }
    if (auto it = s.peers.find(l); it != s.peers.end() && it->second.root)
      self_->send(it->second.root, std::move(msg));
  }

  void on_settled(uint64_t version, const std::string& name) {
    auto& s = st();
    if (name == "*") {
      s.all_settled = std::max(s.all_settled, version);
      if (s.leave_version != 0 && s.all_settled >= s.leave_version) {
        for (auto& rp : s.leave_waiters)
          rp.deliver(caf::ok_atom::value);
        s.leave_waiters.clear();
      }
      return;
    }
    if (version != s.cur.version || s.self.name != s.cur.leader())
      return;
    s.settled.insert(name);
    if (!everyone_settled())
      return;
    auto msg
      = caf::make_message(settled_atom::value, s.cur.version, std::string{"*"});
    if (s.all_settled < s.cur.version) {
      s.all_settled = s.cur.version;
      for (auto& [n, pr] : s.peers)
        if (pr.root)
          self_->send(pr.root, msg);
      on_settled(s.cur.version, "*");
    } else if (auto it = s.peers.find(name);
               it != s.peers.end() && it->second.root) {
      // A member that restarted asks again: tell it alone.
      self_->send(it->second.root, msg);
    }
    next_change();
  }

  bool everyone_settled() {
    auto& s = st();
    for (const auto& m : s.cur.members)
      if (!s.settled.count(m.name))
        return false;
    return true;
  }

  caf::response_promise on_join(member m, caf::actor root) {
    auto rp = self_->make_response_promise();
    auto& s = st();
    if (s.cur.empty()) {
      rp.deliver(unavailable("node " + s.self.name + " is not in a cluster"));
      return rp;
    }
    if (root)
      on_peer(m.name, root);
    s.peers[m.name].m = m;
    if (s.self.name != s.cur.leader()) {
      auto it = s.peers.find(s.cur.leader());
      if (it == s.peers.end() || !it->second.root) {
        rp.deliver(
          unavailable("the leader " + s.cur.leader() + " is unreachable"));
        return rp;
      }
      rp.delegate(it->second.root, join_atom::value, std::move(m),
                  std::move(root));
      return rp;
    }
    s.changes.emplace_back(caf::make_message(join_atom::value, std::move(m)),
                           rp);
    next_change();
    return rp;
  }

  caf::response_promise on_leave(const std::string& name) {
    auto rp = self_->make_response_promise();
    auto& s = st();
    if (s.cur.empty() || s.self.name != s.cur.leader()) {
      auto it = s.cur.empty() ? s.peers.end() : s.peers.find(s.cur.leader());
      if (it == s.peers.end() || !it->second.root) {
        rp.deliver(unavailable("the leader is unreachable"));
        return rp;
      }
      rp.delegate(it->second.root, leave_atom::value, name);
      return rp;
    }
    s.changes.emplace_back(caf::make_message(leave_atom::value, name), rp);
    next_change();
    return rp;
  }

  void next_change() {
    auto& s = st();
    while (!s.changes.empty() && s.self.name == s.cur.leader()
           && s.all_settled >= s.cur.version) {
      auto [msg, rp] = std::move(s.changes.front());
      s.changes.pop_front();
      auto members = s.cur.members;
      if (msg.match_element<join_atom>(0)) {
        auto m = msg.get_as<member>(1);
        if (s.cur.find(m.name)) {
          rp.deliver(s.cur);
          continue;
        }
        members.push_back(m);
      } else {
        auto name = msg.get_as<std::string>(1);
        if (!s.cur.find(name)) {
          rp.deliver(s.cur);
          continue;
        }
        if (members.size() == 1) {
          rp.deliver(
            make_error(errc::invalid_command, "the last member cannot leave"));
          continue;
        }
        members.erase(
          std::remove_if(members.begin(), members.end(),
                         [&](const member& x) { return x.name == name; }),
          members.end());
      }
      auto v = next_view(s.cur, std::move(members), s.parts, s.cfg.vnodes);
      log(log_level::info, s.self.name + ": view " + std::to_string(v.version)
                             + " with " + std::to_string(v.members.size())
                             + " members");
      broadcast(v);
      adopt(v);
      rp.deliver(v);
      return; // one change at a time: wait until it settles
    }
  }

  void broadcast(const view& v) {
    auto& s = st();
    std::set<std::string> names;
    for (const auto& m : v.members)
      names.insert(m.name);
    for (const auto& m : v.previous)
      names.insert(m.name);
    for (const auto& n : names)
      if (n != s.self.name)
        if (auto it = s.peers.find(n); it != s.peers.end() && it->second.root)
          self_->send(it->second.root, view_atom::value, v);
  }

  caf::response_promise on_depart() {
    auto rp = self_->make_response_promise();
    auto& s = st();
    if (s.cur.empty() || !s.cur.find(s.self.name)) {
      rp.deliver(caf::ok_atom::value);
      return rp;
    }
    s.leave_waiters.push_back(rp);
    self_
      ->request(caf::actor_cast<caf::actor>(self_), caf::infinite,
                leave_atom::value, s.self.name)
      .then(
        [this](view& v) {
          st().leave_version = v.version;
          adopt(v);
          on_settled(0, "*");
        },
        [this](caf::error& err) {
          for (auto& w : st().leave_waiters)
            w.deliver(err);
          st().leave_waiters.clear();
        });
    return rp;
  }

  // -- reads
  // --------------------------------------------------------------------

  void read(std::string category, std::string id, uint64_t from, uint32_t max,
            uint32_t hops, caf::response_promise rp) {
    auto& s = st();
    if (s.cur.empty() || category.empty() || id.empty()) {
      rp.deliver(unavailable("not in a cluster, or no stream given"));
      return;
    }
    stream_id sid{category, id};
    auto p = partition_of(sid, s.parts);
    const auto& o = s.owner[p];
    if (o == s.self.name) {
      if (s.state[p] != active) {
        rp.deliver(unavailable("partition " + std::to_string(p)
                               + " is moving to node " + s.self.name));
        return;
      }
      fetch_reply out;
      auto visible = s.rt->visible_end(p);
      auto err = s.rt->store().scan_stream(
        sid, std::max<uint64_t>(from, 1), [&](const event_view& ev) {
          if (ev.pos > visible || out.events.size() >= max)
            return false;
          out.events.push_back(to_wire(ev));
          return true;
        });
      if (err)
        rp.deliver(std::move(err));
      else
        rp.deliver(std::move(out));
      return;
    }
    auto it = s.peers.find(o);
    if (hops >= 3 || it == s.peers.end() || !it->second.root) {
      rp.deliver(unavailable("partition " + std::to_string(p) + "'s owner " + o
                             + " is unreachable"));
      return;
    }
    ask_peer(o, it->second.root, s.cfg.request_timeout, rp, read_atom::value,
             std::move(category), std::move(id), from, max, hops + 1);
  }

  /// Asks node `name` (root `to`) for a `fetch_reply` on behalf of `rp`.
  /// Tracked like a routed command: a lost peer or a missed deadline fails
  /// it, rather than leaving `rp` waiting on a reply lost with the
  /// connection.
  template <class... Ts>
  void ask_peer(const std::string& name, const caf::actor& to,
                caf::timespan timeout, caf::response_promise rp, Ts&&... xs) {
    auto cid = track(name, std::nullopt, rp, timeout);
    self_->request(to, caf::infinite, std::forward<Ts>(xs)...)
      .then(
        [this, cid](fetch_reply& rep) {
          if (auto waiting = untrack(cid))
            waiting->deliver(std::move(rep));
        },
        [this, cid](caf::error& err) {
          if (auto waiting = untrack(cid))
            waiting->deliver(std::move(err));
        });
  }

  // -- subscriptions ----------------------------------------------------------

  /// A cursor's long-poll on peer `name` (deadline: the poll's own second
  /// plus the request timeout); on failure the cursor polls again.
  void fetch_remote(const std::string& name, fetch_request req,
                    caf::response_promise rp) {
    auto& s = st();
    auto it = s.peers.find(name);
    if (it == s.peers.end() || !it->second.root) {
      rp.deliver(unavailable("node " + name + " is unreachable"));
      return;
    }
    ask_peer(name, it->second.root,
             s.cfg.request_timeout + std::chrono::seconds{1}, rp,
             fetch_atom::value, std::move(req));
  }

  void on_fetch(fetch_request& req, caf::response_promise rp) {
    if (!try_fetch(req, rp))
      st().fetches.push_back(
        {std::move(req), rp, clock::now() + std::chrono::seconds{1}});
  }

  /// Answers if there is anything to report; false = nothing new yet.
  /// A request for no events (`max_events == 0`) asks only for the
  /// partitions' ends: it is answered at its deadline.
  bool try_fetch(fetch_request& req, caf::response_promise& rp,
                 bool force = false) {
    auto& store = st().rt->store();
    fetch_reply out;
    bool moved = false;
    bool all_read = true; // every partition read to its end
    for (std::size_t i = 0; i < req.partitions.size(); ++i) {
      auto p = req.partitions[i];
      auto after = i < req.after.size() ? req.after[i] : 0;
      auto reached = after;
      bool to_end = false;
      if (p < st().parts && out.events.size() < req.max_events) {
        to_end = true;
        auto visible = st().rt->visible_end(p);
        auto err
          = store.scan_partition(p, after + 1, [&](const event_view& ev) {
              if (ev.pos > visible) // not replicated yet
                return false;
              if (out.events.size() >= req.max_events) {
                to_end = false;
                return false;
              }
              reached = ev.pos;
              if ((req.category.empty() || ev.category == req.category)
                  && (req.id.empty() || ev.id == req.id))
                out.events.push_back(to_wire(ev));
              return true;
            });
        to_end = to_end && !err;
      }
      moved = moved || reached != after;
      out.reached.push_back(reached);
      out.ends.push_back(to_end ? reached : 0);
      all_read = all_read && (to_end || p >= st().parts);
    }
    if (!moved && !force)
      return false;
    if (!all_read)
      if (auto ends = store.partition_ends())
        for (std::size_t i = 0; i < req.partitions.size(); ++i)
          if (auto p = req.partitions[i]; p < ends->size())
            out.ends[i] = std::max(
              out.ends[i], std::min((*ends)[p], st().rt->visible_end(p)));
    rp.deliver(std::move(out));
    return true;
  }

  void on_wake(const std::vector<partition_id>& touched) {
    auto& s = st();
    if (s.fetches.empty())
      return;
    std::set<partition_id> t(touched.begin(), touched.end());
    for (auto it = s.fetches.begin(); it != s.fetches.end();) {
      bool hit = false;
      for (auto p : it->req.partitions)
        if (t.count(p)) {
          hit = true;
          break;
        }
      if (hit && try_fetch(it->req, it->rp))
        it = s.fetches.erase(it);
      else
        ++it;
    }
  }

  // -- periodic work ----------------------------------------------------------

  void on_tick() {
    auto& s = st();
    auto now = clock::now();
    for (auto it = s.fetches.begin(); it != s.fetches.end();) {
      if (it->deadline <= now) {
        try_fetch(it->req, it->rp, true);
        it = s.fetches.erase(it);
      } else {
        ++it;
      }
    }
    fail_calls({}, "no reply from the owner in time");
    // Commands held for a partition still moving here fail once its old
    // owner is out of reach, and give up after the request timeout anyway:
    // definite, nothing ran.
    for (uint32_t p = 0; p < s.parts; ++p) {
      auto& h = s.held[p];
      if (!h.empty()) {
        auto src = inbound_source(p);
        if (!src.empty() && out_of_reach(src)) {
          for (auto& x : h) {
            ++s.unavailable;
            x.rp.deliver(unavailable("partition " + std::to_string(p)
                                     + " is moving here from node " + src
                                     + ", which is unreachable"));
          }
          h.clear();
        }
      }
      while (!h.empty() && now - h.front().since > s.cfg.request_timeout) {
        ++s.unavailable;
        h.front().rp.deliver(unavailable("partition " + std::to_string(p)
                                         + " is still moving to node "
                                         + s.self.name));
        h.pop_front();
      }
    }
    check_peers();
    if (s.replicated)
      for (auto& [name, pr] : s.peers)
        if (pr.root)
          introduce_replicator(pr.root);
    for (auto& [name, pr] : s.peers)
      if (pr.connecting && now - pr.connect_started > std::chrono::seconds{5})
        pr.connecting = false;
    for (const auto& m : s.cur.members)
      connect(m);
    for (const auto& m : s.cur.previous)
      if (!s.cur.find(m.name) && s.peers.count(m.name)
          && s.peers[m.name].root == nullptr && !s.pending_ships.empty())
        connect(m);
    retry_inflows();
    if (s.all_settled < s.cur.version)
      maybe_settle();
    serve_ships();
    self_->delayed_send(self_, std::chrono::milliseconds{250},
                        tick_atom::value);
  }

  cluster_status status() {
    auto& s = st();
    cluster_status out;
    out.self = s.self.name;
    out.current = s.cur;
    for (const auto& m : s.cur.members)
      out.reachable.push_back(reachable(m.name));
    out.owners = s.owner;
    for (auto x : s.state) {
      out.active += x == active;
      out.inbound += x == inbound;
      out.outbound += x == releasing;
    }
    out.settled = s.all_settled >= s.cur.version && !s.cur.empty();
    if (s.replicated) {
      // Settled: a map, and every partition this node leads serves.
      out.settled = !s.cur.empty() && s.owner.size() == s.parts;
      for (uint32_t p = 0; out.settled && p < s.parts; ++p)
        if (s.owner[p] == s.self.name && s.state[p] != active)
          out.settled = false;
    }
    out.routed = s.routed;
    out.forwarded = s.forwarded;
    out.unavailable = s.unavailable;
    out.handoff_ms = s.handoff_ms;
    return out;
  }

  /// After a restart: partitions this node owns whose journal epoch is
  /// older than the view's were still being handed over: fetch them again.
  /// Partitions it does not own are fenced (it may have crashed before).
  void restore(const view& v) {
    auto& s = st();
    s.cur = v;
    s.stored_version = v.version; // it was read from the journal
    s.owner = owners_of(v.members, s.parts, s.cfg.vnodes);
    auto prev = v.previous.empty()
                  ? std::vector<std::string>{}
                  : owners_of(v.previous, s.parts, s.cfg.vnodes);
    auto& store = s.rt->store();
    std::vector<partition_id> not_mine;
    for (uint32_t p = 0; p < s.parts; ++p) {
      if (s.owner[p] == s.self.name) {
        auto e = store.partition_epoch(p);
        if (e && *e >= v.epochs[p]) {
          s.state[p] = active;
          s.rt->set_epoch(p, v.epochs[p]);
        } else if (!prev.empty() && prev[p] != s.self.name) {
          s.state[p] = inbound;
          auto& in = s.inflows[prev[p]];
          in.partitions.push_back(p);
          in.started = clock::now();
        } else {
          s.state[p] = active;
          s.rt->set_epoch(p, v.epochs[p]);
        }
      } else {
        s.state[p] = releasing;
        not_mine.push_back(p);
      }
    }
    fence_owned();
    if (!not_mine.empty())
      release(std::move(not_mine));
    for (const auto& m : v.members)
      connect(m);
    for (const auto& m : v.previous)
      connect(m);
  }

private:
  actor_type* self_;
};

caf::behavior node_behavior(actor_type* self, runtime* rt, node_config cfg,
                            member me, std::optional<view> stored,
                            caf::actor mm) {
  auto& s = self->state;
  s.rt = rt;
  s.cfg = std::move(cfg);
  s.self = std::move(me);
  s.parts = rt->store().partition_count();
  s.mm = std::move(mm);
  s.state.assign(s.parts, foreign);
  s.held.resize(s.parts);
  s.routes.resize(s.parts);
  s.serving.assign(s.parts, 0);
  s.replicated = !s.cfg.etcd.empty();
  auto logic = std::make_shared<node_logic>(self);
  self->set_down_handler([logic](caf::down_msg& dm) { logic->on_down(dm); });
  if (stored)
    logic->restore(*stored);
  self->send(rt->broker(), sub_join_atom::value,
             caf::actor_cast<caf::actor>(self));
  self->send(self, tick_atom::value);
  return {
    // Commands from local handles.
    [self, logic](command_envelope& env) {
      auto rp = self->make_response_promise();
      logic->route(std::move(env), rp, 0);
      return rp;
    },
    // Commands from other nodes.
    [self, logic](routed_atom, uint32_t hops, command_envelope& env) {
      auto rp = self->make_response_promise();
      logic->route(std::move(env), rp, hops);
      return rp;
    },
    [self, logic](hello_atom, member& m, caf::actor& root, view& v) {
      auto& ns = self->state;
      if (m.name != ns.self.name) {
        ns.peers[m.name].m = m;
        logic->on_peer(m.name, root);
      }
      logic->adopt(v);
      // The peer may be a restarted leader, which lost the settled reports
      // of the current view: report again (idempotent), or no membership
      // change would ever be accepted again.
      logic->maybe_settle();
      return ns.cur;
    },
    [logic](view& v) { logic->adopt(v); }, // reply to a hello
    [logic](view_atom, view& v) { logic->adopt(v); },
    [logic](join_atom, member& m, caf::actor& root) {
      return logic->on_join(std::move(m), std::move(root));
    },
    [logic](leave_atom, std::string& name) { return logic->on_leave(name); },
    [logic](depart_atom) { return logic->on_depart(); },
    [logic](ship_atom, ship_request& req) { return logic->on_ship(req); },
    [logic](settled_atom, uint64_t version, std::string& name) {
      logic->on_settled(version, name);
    },
    [self, logic](fetch_atom, fetch_request& req) {
      auto rp = self->make_response_promise();
      logic->on_fetch(req, rp);
      return rp;
    },
    // From a local cursor: fetch from node `name` (self or a peer).
    [self, logic](fetch_atom, std::string& name, fetch_request& req) {
      auto rp = self->make_response_promise();
      auto& ns = self->state;
      if (name == ns.self.name) {
        logic->on_fetch(req, rp);
      } else {
        logic->fetch_remote(name, std::move(req), rp);
      }
      return rp;
    },
    // Reads of one stream, served by its owner: (category, id, from
    // revision, max events, hops) -> fetch_reply.
    [self, logic](read_atom, std::string& category, std::string& id,
                  uint64_t from, uint32_t max, uint32_t hops) {
      auto rp = self->make_response_promise();
      logic->read(std::move(category), std::move(id), from, max, hops, rp);
      return rp;
    },
    [self](owners_atom) {
      auto& ns = self->state;
      return caf::make_message(ns.cur.version, ns.owner);
    },
    [logic](wake_atom, const std::vector<partition_id>& parts) {
      logic->on_wake(parts);
    },
    [](caf::ok_atom) {}, // the broker's registration reply
    [logic](status_atom) { return logic->status(); },
    [self, logic](view_atom, bool bootstrap) {
      // Local: start a new cluster alone.
      auto& ns = self->state;
      if (bootstrap && ns.cur.empty())
        logic->adopt(first_view(ns.self, ns.parts));
      return ns.cur;
    },
    [logic](tick_atom) { logic->on_tick(); },
    // Replicated mode.
    [self](repl_local_atom, caf::actor& replicator) {
      self->state.replicator = std::move(replicator);
      return caf::ok_atom::value;
    },
    [self](repl_watch_atom, peer_watch& w) {
      self->state.peer_changed = std::move(w.changed);
    },
    [self, logic](repl_peer_atom, std::string& name, caf::actor& theirs) {
      logic->on_replicator_of(name, std::move(theirs), self->current_sender());
    },
    [logic](repl_map_atom, const std::string& json) { logic->adopt_map(json); },
    [logic](repl_serving_atom, partition_id p, uint64_t epoch) {
      logic->on_serving(p, epoch);
    },
    [logic](repl_lost_atom, partition_id p, uint64_t epoch) {
      logic->on_lost(p, epoch);
    },
    [self, logic](alive_atom, const std::string& name, bool answer) {
      logic->on_alive(name, answer, self->current_sender());
    },
    [logic](probed_atom, const std::string& name, bool reachable) {
      logic->on_probed(name, reachable);
    },
    [self](connected_atom, member& m) {
      // Local: our own address, once the port is bound.
      self->state.self = std::move(m);
      return caf::ok_atom::value;
    },
  };
}

} // namespace

caf::actor spawn_node_actor(caf::actor_system& sys, runtime& rt,
                            node_config cfg, member self,
                            std::optional<view> stored, caf::actor mm) {
  return sys.spawn(node_behavior, &rt, std::move(cfg), std::move(self),
                   std::move(stored), std::move(mm));
}

} // namespace annals::cluster::detail
