// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module (internal): the host of one aggregate type.
//
// # Operation
// The host routes each command envelope to the actor of its aggregate id,
// spawning it on first use (Akka's shard region, in-process). It keeps at
// most `max_live` aggregates: beyond that it stops the least recently used
// one. Stopping is a handshake so that no command is lost or reordered:
// the host marks the id "stopping" and buffers new commands for it, the
// aggregate finishes what it has and quits, and on its `down_msg` the host
// spawns a fresh actor for the buffered commands (which recovers from the
// journal). Aggregates not used for `passivate_after` are stopped the same
// way: the host keeps its ids in least-recently-used order with their last
// use, and ONE timer of the host -- not one per aggregate: a pending timer
// keeps a stopped actor's memory alive until it fires -- stops the idle ones
// from the old end of that list.
//
// # Shutdown
// On an exit message the host sends an exit to each live aggregate, answers
// what it buffered and any hand-off with `errc::unavailable`, answers new
// commands the same way, and quits once the last aggregate is gone: the
// host's down message means its aggregates are all gone too.
//
// # Concurrency
// Actor-confined. The host only forwards (`delegate`), so the aggregate's
// reply goes straight to the client.
#pragma once

#include "annals/command.hpp"
#include "annals/detail/aggregate_actor.hpp"
#include "annals/detail/runtime_context.hpp"
#include "annals/errc.hpp"
#include "annals/failpoint.hpp"
#include "annals/runtime_types.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <chrono>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

namespace annals::detail {

struct host_state {
  static inline const char* name = "annals.host";

  // Not an aggregate: CAF 0.17 constructs a state from the actor pointer
  // when it can, which C++20 parenthesised aggregate init would allow.
  host_state() = default;

  struct entry {
    caf::actor actor;
    std::list<std::string>::iterator lru;
    std::chrono::steady_clock::time_point last_used;
    bool stopping = false;
    std::vector<std::pair<command_envelope, caf::response_promise>> buffer;
  };

  context_ptr ctx;
  host_options opts;
  std::string category;
  std::unordered_map<std::string, entry> live;
  std::unordered_map<caf::actor_addr, std::string> by_addr;
  /// Most recently used first; only ids that are not stopping.
  std::list<std::string> lru;
  /// Hand-offs in progress: partitions whose aggregates must all stop, and
  /// who to tell once none is live.
  std::vector<std::pair<std::vector<bool>, caf::response_promise>> releases;
  /// Live aggregates (stopping ones included) per partition, so that a
  /// hand-off checks its partitions, not every live aggregate.
  std::vector<uint32_t> live_in;
  /// The runtime stops: quit once `live` is empty.
  bool exiting = false;
  caf::error exit_reason;
};

template <class A>
class host_logic {
public:
  using actor_type = caf::stateful_actor<host_state>;

  explicit host_logic(actor_type* self) : self_(self) {
  }

  caf::response_promise on_command(command_envelope& env) {
    auto& st = self_->state;
    auto rp = self_->make_response_promise();
    if (st.exiting) {
      rp.deliver(runtime_stopped_error(st.category + "/" + env.id));
      return rp;
    }
    if (env.id.size() > max_stream_id_bytes || env.category != st.category) {
      rp.deliver(make_error(errc::invalid_command,
                            env.category != st.category
                              ? "command for category " + env.category
                                  + " sent to the host of " + st.category
                              : "aggregate id longer than "
                                  + std::to_string(max_stream_id_bytes)
                                  + " bytes"));
      return rp;
    }
    auto it = st.live.find(env.id);
    if (it == st.live.end())
      it = spawn(env.id);
    auto& e = it->second;
    if (e.stopping) {
      e.buffer.emplace_back(std::move(env), rp);
      return rp;
    }
    st.lru.splice(st.lru.begin(), st.lru, e.lru);
    e.last_used = std::chrono::steady_clock::now();
    rp.delegate(e.actor, std::move(env));
    return rp;
  }

  /// Stops every aggregate unused for `passivate_after`, oldest first.
  void on_idle_tick() {
    auto& st = self_->state;
    if (st.exiting)
      return;
    auto now = std::chrono::steady_clock::now();
    while (!st.lru.empty()) {
      auto it = st.live.find(st.lru.back());
      if (it == st.live.end()
          || now - it->second.last_used < st.opts.passivate_after)
        break;
      ++st.ctx->metrics.passivations;
      stop(it->second);
    }
    arm_idle_tick();
  }

  void arm_idle_tick() {
    auto& st = self_->state;
    if (st.opts.passivate_after.count() <= 0)
      return;
    auto interval = std::max<caf::timespan>(st.opts.passivate_after / 4,
                                            std::chrono::milliseconds{5});
    self_->delayed_send(self_, interval, idle_atom::value);
  }

  void on_down(const caf::down_msg& dm) {
    auto& st = self_->state;
    auto a = st.by_addr.find(dm.source);
    if (a == st.by_addr.end())
      return;
    auto id = std::move(a->second);
    st.by_addr.erase(a);
    auto it = st.live.find(id);
    if (it == st.live.end())
      return;
    auto buffer = std::move(it->second.buffer);
    if (!it->second.stopping)
      st.lru.erase(it->second.lru);
    st.live.erase(it);
    --live_count(id);
    if (st.exiting) {
      if (st.live.empty())
        self_->quit(st.exit_reason);
      return;
    }
    if (!buffer.empty()) {
      // Commands that arrived while it stopped go to a fresh actor, in order.
      auto& e = spawn(id)->second;
      for (auto& [env, rp] : buffer)
        rp.delegate(e.actor, std::move(env));
      // Handing its partition off: it stops again once they are done.
      if (releasing(id))
        stop(e);
    }
    check_releases();
  }

  /// An aggregate that cannot go on (its recovery failed) asks to be
  /// stopped, through the same handshake as passivation.
  void on_passivate(const caf::actor_addr& who) {
    auto& st = self_->state;
    auto a = st.by_addr.find(who);
    if (a == st.by_addr.end() || st.exiting)
      return;
    auto it = st.live.find(a->second);
    if (it != st.live.end() && !it->second.stopping)
      stop(it->second);
  }

  /// Stops every aggregate of `parts` (commands already sent to them
  /// finish first) and replies once none is live (cluster hand-off).
  caf::response_promise on_handoff(const std::vector<partition_id>& parts) {
    auto& st = self_->state;
    auto rp = self_->make_response_promise();
    if (st.exiting) {
      rp.deliver(make_error(errc::unavailable, "the runtime stopped"));
      return rp;
    }
    std::vector<bool> set(st.ctx->store->partition_count(), false);
    for (auto p : parts)
      if (p < set.size())
        set[p] = true;
    st.releases.emplace_back(std::move(set), rp);
    for (auto& [id, e] : st.live)
      if (!e.stopping && releasing(id))
        stop(e);
    check_releases();
    return rp;
  }

  void on_exit(const caf::exit_msg& em) {
    auto& st = self_->state;
    if (st.exiting)
      return;
    st.exiting = true;
    st.exit_reason = em.reason;
    for (auto& [id, e] : st.live) {
      for (auto& [env, rp] : e.buffer)
        rp.deliver(runtime_stopped_error(st.category + "/" + id));
      e.buffer.clear();
      self_->send_exit(e.actor, em.reason);
    }
    for (auto& r : st.releases)
      r.second.deliver(make_error(errc::unavailable, "the runtime stopped"));
    st.releases.clear();
    if (st.live.empty())
      self_->quit(st.exit_reason);
  }

private:
  partition_id partition(const std::string& id) const {
    auto& st = self_->state;
    return partition_of(stream_id{st.category, id},
                        st.ctx->store->partition_count());
  }

  uint32_t& live_count(const std::string& id) {
    auto& st = self_->state;
    if (st.live_in.empty())
      st.live_in.assign(st.ctx->store->partition_count(), 0);
    return st.live_in[partition(id)];
  }

  bool releasing(const std::string& id) const {
    auto& st = self_->state;
    if (st.releases.empty())
      return false;
    auto p = partition(id);
    for (auto& r : st.releases)
      if (r.first[p])
        return true;
    return false;
  }

  void check_releases() {
    auto& st = self_->state;
    for (auto it = st.releases.begin(); it != st.releases.end();) {
      bool busy = false;
      for (std::size_t p = 0; p < it->first.size() && !busy; ++p)
        busy = it->first[p] && p < st.live_in.size() && st.live_in[p] > 0;
      if (busy) {
        ++it;
      } else {
        // Hand-off, old owner: its aggregates stopped, partitions unfenced.
        ANNALS_CRASH_POINT("annals/handoff/old_stopped");
        it->second.deliver(caf::ok_atom::value);
        it = st.releases.erase(it);
      }
    }
  }

  std::unordered_map<std::string, host_state::entry>::iterator
  spawn(const std::string& id) {
    auto& st = self_->state;
    auto actor = self_->spawn(aggregate_actor<A>, st.ctx, st.opts, id,
                              caf::actor_cast<caf::actor>(self_));
    self_->monitor(actor);
    st.lru.push_front(id);
    host_state::entry e;
    e.actor = actor;
    e.lru = st.lru.begin();
    e.last_used = std::chrono::steady_clock::now();
    st.by_addr.emplace(actor.address(), id);
    auto it = st.live.emplace(id, std::move(e)).first;
    ++live_count(id);
    // Over the cap: stop the least recently used (never the new one).
    if (st.opts.max_live > 0 && st.lru.size() > st.opts.max_live) {
      auto victim = st.live.find(st.lru.back());
      if (victim != st.live.end() && victim != it)
        stop(victim->second);
    }
    return it;
  }

  void stop(host_state::entry& e) {
    auto& st = self_->state;
    e.stopping = true;
    st.lru.erase(e.lru);
    self_->send(e.actor, stop_atom::value);
  }

  actor_type* self_;
};

/// The behavior of the host of aggregate type `A`.
template <class A>
caf::behavior aggregate_host(caf::stateful_actor<host_state>* self,
                             context_ptr ctx, host_options opts) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.opts = opts;
  st.category = std::string{A::category};
  auto logic = std::make_shared<host_logic<A>>(self);
  self->set_down_handler([logic](caf::down_msg& dm) { logic->on_down(dm); });
  self->set_exit_handler([logic](caf::exit_msg& em) { logic->on_exit(em); });
  logic->arm_idle_tick();
  return {
    [logic](command_envelope& env) { return logic->on_command(env); },
    [logic](idle_atom) { logic->on_idle_tick(); },
    [logic](passivate_atom, const caf::actor_addr& who) {
      logic->on_passivate(who);
    },
    [logic](handoff_atom, const std::vector<partition_id>& parts) {
      return logic->on_handoff(parts);
    },
  };
}

} // namespace annals::detail
