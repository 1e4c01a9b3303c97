// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "node/router.hpp"

#include "annals/errc.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"
#include "annals/runtime_types.hpp"

#include "protocol.hpp"

#include <caf/sec.hpp>

namespace annals::cluster::detail {

namespace {

caf::error unavailable(std::string what) {
  return make_error(errc::unavailable, std::move(what));
}

/// A remote hop past this many is a routing loop (maps disagreeing while
/// one changes): refused, nothing ran.
constexpr uint32_t max_hops = 4;

} // namespace

router::router(node_context ctx)
  : ctx_(ctx), routes_(ctx.table.size()), held_(ctx.table.size()) {
}

void router::refuse(caf::response_promise& rp, std::string why) {
  ++stats_.unavailable;
  rp.deliver(unavailable(std::move(why)));
}

void router::route(command_envelope env, caf::response_promise rp,
                   uint32_t hops) {
  ++stats_.routed;
  const auto& me = ctx_.peers.self().name;
  if (ctx_.table.empty()) {
    refuse(rp, "node " + me + " has no partition map yet");
    return;
  }
  if (env.id.empty() || env.category.empty()) {
    rp.deliver(make_error(errc::invalid_command,
                          "a command needs a category and an id"));
    return;
  }
  auto p = ctx_.table.partition_of(stream_id{env.category, env.id});
  const auto& leader = ctx_.table.leader(p);
  if (leader == me) {
    switch (ctx_.table.phase_of(p)) {
    case phase::serving:
      deliver_local(std::move(env), rp);
      return;
    case phase::appointed:
      held_[p].push_back({std::move(env), rp, hops});
      return;
    case phase::foreign:
      break;
    }
    refuse(rp,
           "partition " + std::to_string(p) + " is not ready on node " + me);
    return;
  }
  if (hops >= max_hops) {
    refuse(rp, "the leader of partition " + std::to_string(p)
                 + " is changing; retry");
    return;
  }
  auto& r = routes_[p];
  // One sender's order per aggregate: never overtake commands still on
  // their way to a previous leader.
  if (r.outstanding > 0 && r.node != leader) {
    r.waiting.push_back({std::move(env), rp, hops});
    return;
  }
  send_remote(p, leader, std::move(env), rp, hops);
}

void router::deliver_local(command_envelope env, caf::response_promise& rp) {
  // Hosts never go away while the node runs: look each category up in the
  // runtime (a lock) once, not per command.
  auto& host = hosts_[env.category];
  if (!host) {
    host = ctx_.rt.host_actor(env.category);
    if (host)
      ctx_.self->monitor(host); // a host that dies is looked up again
  }
  if (!host) {
    hosts_.erase(env.category);
    rp.deliver(make_error(errc::invalid_command,
                          "no aggregate type " + env.category
                            + " is hosted on node " + ctx_.peers.self().name));
    return;
  }
  rp.delegate(host, std::move(env));
}

void router::send_remote(partition_id p, const std::string& to,
                         command_envelope env, caf::response_promise rp,
                         uint32_t hops) {
  auto root = ctx_.peers.root_of(to);
  if (!root) {
    refuse(rp, "partition " + std::to_string(p) + "'s leader " + to
                 + " is unreachable");
    return;
  }
  ++stats_.forwarded;
  auto& r = routes_[p];
  r.node = to;
  ++r.outstanding;
  bool boxed_in = env.boxed_reply;
  env.boxed_reply = true;
  auto id = ctx_.calls.track(to, p, rp, ctx_.request_timeout);
  ctx_.self
    ->request(root, caf::infinite, routed_atom::value, hops + 1, std::move(env))
    .then(
      [this, id, p, boxed_in](routed_reply& reply) {
        if (auto c = ctx_.calls.finish(id)) {
          if (boxed_in)
            c->rp.deliver(std::move(reply));
          else
            c->rp.deliver(std::move(reply.value));
          done(p);
        }
      },
      [this, id, to, p](caf::error& err) {
        if (auto c = ctx_.calls.finish(id)) {
          // The leader was down before the command reached it: nothing
          // ran, a retry may go elsewhere.
          if (err == caf::sec::request_receiver_down)
            err = unavailable("partition " + std::to_string(p) + "'s leader "
                              + to + " is down");
          c->rp.deliver(std::move(err));
          done(p);
        }
      });
}

void router::done(partition_id p) {
  auto& r = routes_[p];
  if (r.outstanding > 0)
    --r.outstanding;
  if (r.outstanding == 0 && !r.waiting.empty()) {
    auto waiting = std::move(r.waiting);
    r.waiting.clear();
    for (auto& h : waiting)
      route(std::move(h.env), h.rp, h.hops);
  }
}

void router::release_held(partition_id p) {
  auto held = std::move(held_[p]);
  held_[p].clear();
  for (auto& h : held)
    route(std::move(h.env), h.rp, h.hops);
}

void router::fail_held(partition_id p, const std::string& why) {
  for (auto& h : held_[p])
    refuse(h.rp, why);
  held_[p].clear();
}

void router::reroute_waiting() {
  for (uint32_t p = 0; p < routes_.size(); ++p)
    if (routes_[p].outstanding == 0 && !routes_[p].waiting.empty())
      done(p);
}

void router::fail_calls_to(const std::string& node, const std::string& why) {
  for (auto& c : ctx_.calls.take_to(node)) {
    c.rp.deliver(make_error(errc::outcome_unknown,
                            why + " while the request was in flight"));
    if (c.partition)
      done(*c.partition);
  }
}

void router::tick(clock::time_point now) {
  for (auto& c : ctx_.calls.take_expired(now)) {
    c.rp.deliver(make_error(errc::outcome_unknown,
                            "no reply from node " + c.node + " in time"));
    if (c.partition)
      done(*c.partition);
  }
  // Commands held for a partition not served in time: definite, nothing
  // ran.
  for (uint32_t p = 0; p < held_.size(); ++p) {
    auto& h = held_[p];
    while (!h.empty() && now - h.front().since > ctx_.request_timeout) {
      refuse(h.front().rp, "partition " + std::to_string(p)
                             + " is not served yet on node "
                             + ctx_.peers.self().name);
      h.pop_front();
    }
  }
}

bool router::on_host_down(const caf::down_msg& dm) {
  for (auto it = hosts_.begin(); it != hosts_.end(); ++it)
    if (it->second && it->second.address() == dm.source) {
      log(log_level::error, ctx_.peers.self().name + ": the host of "
                              + it->first
                              + " stopped: " + to_string(dm.reason));
      hosts_.erase(it);
      return true;
    }
  return false;
}

} // namespace annals::cluster::detail
