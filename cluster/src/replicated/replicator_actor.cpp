// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the actor that runs a node's
// partition replicas.
#include "replicated/replicator_actor.hpp"

#include "annals/cluster/status.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"
#include "annals/runtime_types.hpp"

#include "control/partition_map.hpp"
#include "replication/replication_host.hpp"
#include "replication/wire.hpp"

#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

namespace annals::cluster::detail {

namespace {

using replication::host_output;
using replication::partition_change;
using replication::replication_host;

struct replicator_state {
  runtime* rt = nullptr;
  replicator_config cfg;
  caf::actor listener;
  std::unique_ptr<replication_host> host;
  std::optional<control::partition_map> map;
  std::map<std::string, caf::actor> peers;
  /// Per partition: the epoch this node's replica was appointed to lead.
  std::vector<uint64_t> appointed;
  /// Per partition: the node of each replica id under the current map
  /// (the voters in map order, then the learners on other nodes).
  std::vector<std::vector<std::string>> nodes;
  std::string incarnation;
  uint64_t unroutable = 0;
  /// Counters (status): frames in and out, ticks, commits, maps, peers.
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  /// Batches of frames in and out (one message per peer and round), and
  /// batches dropped because they did not decode.
  uint64_t batches_in = 0;
  uint64_t batches_out = 0;
  uint64_t dropped_batches = 0;
  uint64_t ticks = 0;
  uint64_t commits = 0;
  uint64_t maps = 0;
  uint64_t peer_updates = 0;
  /// Group commit: a flush message is on its way; flushes made.
  bool flush_scheduled = false;
  uint64_t flushes = 0;
  /// Caught-up learners and settled partitions reported lately (cleared
  /// with each map and about every second, so a lost report is repeated).
  std::set<std::tuple<partition_id, std::string, std::string>> reported;
  std::set<partition_id> reported_settled;
  /// Appointments this node's replicas refused as stale (partition ->
  /// epoch), reported again every second until the map moves past them.
  std::map<partition_id, uint64_t> stale;
};

using actor_type = caf::stateful_actor<replicator_state>;

class replicator_logic {
public:
  explicit replicator_logic(actor_type* self) : self_(self) {
  }

  void apply_map(const std::string& json) {
    auto& st = self_->state;
    auto decoded = control::decode_partition_map(json);
    if (!decoded) {
      log(log_level::error, st.cfg.self + ": ignoring a partition map: "
                              + render(decoded.error()));
      return;
    }
    if (st.map && decoded->version <= st.map->version)
      return;
    auto parts = st.rt->store().partition_count();
    if (decoded->partitions.size() != parts) {
      log(log_level::error, st.cfg.self + ": ignoring a partition map of "
                              + std::to_string(decoded->partitions.size())
                              + " partitions (the journal has "
                              + std::to_string(parts) + ")");
      return;
    }
    st.map = std::move(*decoded);
    st.reported.clear();
    st.reported_settled.clear();
    host_output out;
    std::vector<appointment> due;
    for (partition_id p = 0; p < parts; ++p)
      if (auto x = hold(p, out))
        due.push_back(std::move(*x));
    // This map's appointments of this node fence its replicas in one
    // commit; then each appointment goes ahead.
    std::vector<std::pair<partition_id, uint64_t>> fences;
    for (const auto& x : due)
      fences.emplace_back(x.partition, x.epoch);
    if (auto err = st.host->raise_fences(fences))
      log(log_level::warning,
          st.cfg.self + ": cannot fence " + std::to_string(fences.size())
            + " appointed partitions at once: " + render(err));
    for (const auto& x : due)
      appoint(x, out);
    handle(out);
  }

  /// An appointment of this node's replica that a map asks for.
  struct appointment {
    partition_id partition = 0;
    uint64_t epoch = 0;
    replication::membership members;
    replication::membership learners;
  };

  /// Holds `p`'s replica as the map says (and passes a leader its new
  /// learners); returns the appointment to make if the map makes this node
  /// leader of a new epoch.
  std::optional<appointment> hold(partition_id p, host_output& out) {
    auto& st = self_->state;
    const auto& a = st.map->partitions[p];
    // Replica ids: the voters in map order, then the learners on nodes
    // that are not voters (a wiped voter's learner answers under its voter
    // id with its new incarnation).
    auto& ids = st.nodes[p];
    ids.clear();
    appointment x{p, a.epoch, {}, {}};
    for (const auto& v : a.replicas) {
      x.members.push_back(
        {static_cast<replication::replica_id>(ids.size()), v.incarnation});
      ids.push_back(v.node);
    }
    for (const auto& l : a.learners) {
      if (std::find(ids.begin(), ids.end(), l.node) != ids.end())
        continue;
      x.learners.push_back(
        {static_cast<replication::replica_id>(ids.size()), l.incarnation});
      ids.push_back(l.node);
    }
    std::optional<replication::replica_id> slot;
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == st.cfg.self)
        slot = static_cast<replication::replica_id>(i);
    if (auto it = st.stale.find(p);
        it != st.stale.end()
        && (a.leader != st.cfg.self || a.epoch != it->second))
      st.stale.erase(it);
    if (!slot) {
      st.host->unassign(p, out);
      return std::nullopt;
    }
    if (auto err = st.host->assign(p, *slot, out)) {
      log(log_level::error, st.cfg.self
                              + ": cannot hold a replica of partition "
                              + std::to_string(p) + ": " + render(err));
      return std::nullopt;
    }
    auto voter_here = *slot < a.replicas.size()
                      && a.replicas[*slot].incarnation == st.incarnation;
    if (a.leader != st.cfg.self || !voter_here)
      return std::nullopt;
    if (a.epoch > st.appointed[p])
      return x;
    // Leading this epoch already: only the learners may have changed.
    if (a.epoch == st.appointed[p])
      st.host->set_learners(p, x.learners, out);
    return std::nullopt;
  }

  void appoint(const appointment& x, host_output& out) {
    auto& st = self_->state;
    auto p = x.partition;
    st.appointed[p] = x.epoch;
    auto err = st.host->appoint(p, x.epoch, x.members, x.learners, out);
    if (err && is(err, replication::replication_errc::stale_epoch)) {
      // Fenced before a restart: an epoch is never led twice.
      st.stale[p] = x.epoch;
      if (st.cfg.on_stale_appointment)
        st.cfg.on_stale_appointment(p, x.epoch);
    } else if (err) {
      log(log_level::warning, st.cfg.self + ": appointment to lead partition "
                                + std::to_string(p) + " at epoch "
                                + std::to_string(x.epoch)
                                + " refused: " + render(err));
    }
  }

  /// Repeats the stale appointments (a report may have been lost with a
  /// controller).
  void report_stale() {
    auto& st = self_->state;
    if (st.cfg.on_stale_appointment)
      for (auto [p, epoch] : st.stale)
        st.cfg.on_stale_appointment(p, epoch);
  }

  void handle(host_output& out) {
    auto& st = self_->state;
    // One message per peer (a batch of frames), not one per partition: a
    // commit that touched many partitions ships them all in one message to
    // each follower, and a flush acknowledges them all in one.
    std::map<std::string, std::vector<replication::partition_frame>> by_peer;
    for (auto& f : out.frames) {
      const auto& ids = st.nodes[f.partition];
      if (f.to >= ids.size()) {
        ++st.unroutable;
        continue;
      }
      auto peer = st.peers.find(ids[f.to]);
      if (peer == st.peers.end() || !peer->second) {
        ++st.unroutable; // retransmitted on a tick once it is reachable
        continue;
      }
      ++st.frames_out;
      by_peer[peer->first].push_back({f.partition, f.bytes});
    }
    for (auto& [name, frames] : by_peer) {
      std::vector<std::string> batches;
      replication::encode_frames(frames, batches);
      auto& peer = st.peers[name];
      for (auto& b : batches) {
        ++st.batches_out;
        self_->send(peer, repl_frames_atom::value, std::move(b));
      }
    }
    // High watermarks, batched like the frames: one wake of the
    // subscriptions and one release message to the writer per round. A
    // release goes before any later change of the same round (a lost or
    // carried leadership) reaches the writer.
    std::vector<committed_end> visible;
    std::vector<committed_end> released;
    auto flush_released = [&] {
      if (!released.empty())
        self_->send(st.rt->writer(), released_atom::value, std::move(released));
      released.clear();
    };
    for (const auto& c : out.changes) {
      if (c.what != partition_change::kind::committed
          && c.what != partition_change::kind::visible)
        flush_released();
      switch (c.what) {
      case partition_change::kind::visible:
        visible.push_back({c.partition, c.pos, 0});
        break;
      case partition_change::kind::committed:
        released.push_back({c.partition, c.pos, c.epoch});
        break;
      case partition_change::kind::serving:
        st.rt->set_epoch(c.partition, c.epoch);
        st.rt->set_leading(c.partition, true);
        if (st.listener)
          self_->send(st.listener, repl_serving_atom::value, c.partition,
                      c.epoch);
        break;
      case partition_change::kind::carried:
        // Appointed again at the next epoch: the held replies wait for it,
        // the aggregates keep their state (this log stays), and commands
        // wait at the node until the new epoch serves.
        self_->send(st.rt->writer(), carried_atom::value, c.partition,
                    c.previous_epoch, c.epoch);
        if (st.listener)
          self_->send(st.listener, repl_lost_atom::value, c.partition,
                      c.previous_epoch);
        break;
      case partition_change::kind::lost:
        st.rt->set_leading(c.partition, false);
        self_->send(st.rt->writer(), lost_atom::value, c.partition, c.epoch);
        // Aggregates of the partition hold state that the next leader may
        // change under them: stop them (they recover when they serve again).
        for (auto& h : st.rt->host_actors())
          self_
            ->request(h, caf::infinite, handoff_atom::value,
                      std::vector<partition_id>{c.partition})
            .then([](caf::ok_atom) {}, [](caf::error&) {});
        if (st.listener)
          self_->send(st.listener, repl_lost_atom::value, c.partition, c.epoch);
        break;
      }
    }
    flush_released();
    if (!visible.empty())
      st.rt->set_visible(visible);
    out.frames.clear();
    out.changes.clear();
    if (st.host->pending() && !st.flush_scheduled) {
      st.flush_scheduled = true;
      self_->send(self_, repl_flush_atom::value);
    }
  }

  /// Reports learners that caught up, and voters that settled, on
  /// partitions this node leads.
  void report_progress() {
    auto& st = self_->state;
    if (!st.map)
      return;
    for (partition_id p = 0; p < st.map->partitions.size(); ++p) {
      auto* r = st.host->find(p);
      if (r == nullptr || r->current_phase() != replication::phase::leader)
        continue;
      const auto& a = st.map->partitions[p];
      const auto& ids = st.nodes[p];
      if (st.cfg.on_caught_up)
        for (const auto& m : r->caught_up_learners()) {
          if (m.id >= ids.size())
            continue;
          auto key = std::make_tuple(p, ids[m.id], m.incarnation);
          if (st.reported.insert(key).second)
            st.cfg.on_caught_up(p, ids[m.id], m.incarnation);
        }
      if (st.cfg.on_settled && !a.settled && a.epoch == r->epoch()
          && r->settled() && st.reported_settled.insert(p).second)
        st.cfg.on_settled(p, r->epoch());
    }
  }

  /// Forgets what was reported, so that the next round repeats what still
  /// applies (a report may have been lost with a controller).
  void forget_reports() {
    self_->state.reported.clear();
    self_->state.reported_settled.clear();
  }

  std::vector<replica_status> replicas() {
    auto& st = self_->state;
    std::vector<replica_status> out;
    auto ends = st.rt->store().partition_ends();
    for (partition_id p = 0; p < st.appointed.size(); ++p) {
      auto* r = st.host->find(p);
      if (r == nullptr)
        continue;
      replica_status x;
      x.partition = p;
      x.phase = replication::to_string(r->current_phase());
      x.epoch = r->epoch();
      x.high_watermark = r->high_watermark();
      x.end = ends ? (*ends)[p] : 0;
      if (st.map && p < st.map->partitions.size()) {
        const auto& a = st.map->partitions[p];
        for (const auto& v : a.replicas)
          x.voter
            = x.voter
              || (v.node == st.cfg.self && v.incarnation == st.incarnation);
        if (auto id = r->leader(); id && *id < st.nodes[p].size())
          x.leader = st.nodes[p][*id];
      }
      out.push_back(std::move(x));
    }
    return out;
  }

  std::string status() {
    auto& st = self_->state;
    std::ostringstream os;
    os << "counters frames_in " << st.frames_in << " frames_out "
       << st.frames_out << " batches_in " << st.batches_in << " batches_out "
       << st.batches_out << " dropped_batches " << st.dropped_batches
       << " unroutable " << st.unroutable << " ticks " << st.ticks
       << " commits " << st.commits << " maps " << st.maps << " peer_updates "
       << st.peer_updates << " flushes " << st.flushes << " group_commits "
       << st.host->group_commits() << " dropped " << st.host->dropped_frames()
       << " peers";
    for (const auto& [name, a] : st.peers)
      os << ' ' << name << (a ? "+" : "-");
    os << '\n';
    for (const auto& x : replicas())
      os << x.partition << ' ' << (x.voter ? "voter " : "learner ") << x.phase
         << " epoch " << x.epoch << " hw " << x.high_watermark << " end "
         << x.end << " leader " << (x.leader.empty() ? "-" : x.leader) << '\n';
    return os.str();
  }

private:
  actor_type* self_;
};

/// The replicator's clock: a scheduled actor that sends it a tick every
/// `every` and quits when it terminates. The replicator runs on a thread of
/// its own (detached), and a detached actor must never have a delayed
/// message pending in CAF 0.17's clock when the actor system shuts down: the
/// message holds a strong reference that the stopped clock never releases,
/// so the actor's thread waits for its destruction forever and
/// `~actor_system` with it (seen as a node that never exits on stop). The
/// ticker holds only a weak reference (it never delays that destruction),
/// and it monitors the replicator rather than relying on the reference
/// count: a ticker still running would hold up `~actor_system` too.
caf::behavior ticker(caf::event_based_actor* self, caf::weak_actor_ptr target,
                     caf::timespan every) {
  auto strong = target.lock();
  if (!strong) {
    self->quit();
    return {};
  }
  self->monitor(strong);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  self->delayed_send(self, every, repl_tick_atom::value);
  return {
    [self, target, every](repl_tick_atom) {
      auto to = target.lock();
      if (!to) {
        self->quit();
        return;
      }
      self->send(caf::actor_cast<caf::actor>(to), repl_tick_atom::value);
      self->delayed_send(self, every, repl_tick_atom::value);
    },
  };
}

caf::behavior replicator(actor_type* self, runtime* rt, replicator_config cfg,
                         caf::actor listener) {
  auto& st = self->state;
  st.rt = rt;
  st.cfg = std::move(cfg);
  // A zero tick would spin the actor.
  st.cfg.tick = std::max(st.cfg.tick, std::chrono::milliseconds{10});
  st.listener = std::move(listener);
  st.host = std::make_unique<replication_host>(rt->store(), true);
  st.appointed.assign(rt->store().partition_count(), 0);
  st.nodes.resize(rt->store().partition_count());
  st.incarnation = rt->store().incarnation();
  auto logic = std::make_shared<replicator_logic>(self);
  self->spawn(ticker, caf::actor_cast<caf::weak_actor_ptr>(self),
              caf::timespan{st.cfg.tick});
  return {
    [self, logic](repl_map_atom, const std::string& json) {
      ++self->state.maps;
      logic->apply_map(json);
    },
    [self](repl_peer_atom, const std::string& node, caf::actor& peer) {
      ++self->state.peer_updates;
      self->state.peers[node] = std::move(peer);
    },
    [self, logic](repl_frames_atom, const std::string& batch) {
      auto& s = self->state;
      ++s.batches_in;
      auto frames = replication::decode_frames(batch);
      if (!frames) {
        ++s.dropped_batches;
        log(log_level::warning, s.cfg.self + ": dropping a replication batch: "
                                  + render(frames.error()));
        return;
      }
      s.frames_in += frames->size();
      if (!s.map)
        return;
      host_output out;
      for (const auto& f : *frames)
        s.host->receive(f.partition, f.bytes, out);
      logic->handle(out);
    },
    [self, logic](committed_atom, const std::vector<committed_end>& ends) {
      ++self->state.commits;
      if (!self->state.map)
        return;
      host_output out;
      for (const auto& e : ends)
        self->state.host->committed(e.partition, e.end, e.epoch, out);
      logic->handle(out);
    },
    [self, logic](repl_tick_atom) {
      ++self->state.ticks;
      if (!self->state.map)
        return;
      host_output out;
      self->state.host->tick(out);
      logic->handle(out);
      logic->report_progress();
      auto per_second = std::max<int64_t>(
        1, 1000 / std::max<int64_t>(1, self->state.cfg.tick.count()));
      if (self->state.ticks % static_cast<uint64_t>(per_second) == 0) {
        logic->report_stale();
        logic->forget_reports();
      }
    },
    [self, logic](repl_flush_atom) {
      auto& s = self->state;
      s.flush_scheduled = false;
      ++s.flushes;
      host_output out;
      if (auto err = s.host->flush(out))
        log(log_level::error,
            s.cfg.self + ": cannot commit replicated writes: " + render(err));
      logic->handle(out);
    },
    [logic](repl_status_atom) { return logic->status(); },
    [logic](repl_replicas_atom) { return logic->replicas(); },
  };
}

} // namespace

caf::actor spawn_replicator(caf::actor_system& sys, runtime& rt,
                            replicator_config cfg, caf::actor listener) {
  auto a = sys.spawn<caf::detached>(replicator, &rt, std::move(cfg),
                                    std::move(listener));
  rt.enable_replication(a);
  return a;
}

} // namespace annals::cluster::detail
