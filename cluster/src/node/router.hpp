// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the node actor's command routing.
//
// What: a command envelope goes to its partition's leader -- the local
// aggregates when this node serves the partition, the leader's node actor
// otherwise (one hop; a node that is not the leader any more forwards it
// again, at most 4 hops). Commands for a partition this node is appointed
// to but does not serve yet wait here (`held`) until it serves, the map
// moves the partition away, or the request timeout.
// Guarantees: one sender's commands to one aggregate keep their order: a
// command never overtakes commands still on their way to a previous
// leader. Every command gets exactly one reply: its result, `unavailable`
// when nothing of it ran (no leader reachable, not served in time), or
// `outcome_unknown` when the leader failed or timed out with it in flight.
// Threads: confined to the node actor (`self`).
#pragma once

#include "annals/command.hpp"
#include "annals/runtime.hpp"

#include "node/node_context.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>

#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace annals::cluster::detail {

class router {
public:
  using clock = std::chrono::steady_clock;

  explicit router(node_context ctx);

  /// Routes `env` (arrived after `hops` hops) and answers `rp`.
  void route(command_envelope env, caf::response_promise rp, uint32_t hops);

  /// `p` serves here now: its held commands go.
  void release_held(partition_id p);

  /// Fails the commands held for `p` (nothing of them ran).
  void fail_held(partition_id p, const std::string& why);

  /// After a new map: commands waiting behind a finished route go.
  void reroute_waiting();

  /// Fails every call to `node` (`outcome_unknown`): it is gone.
  void fail_calls_to(const std::string& node, const std::string& why);

  /// Fails expired calls and commands held too long.
  void tick(clock::time_point now);

  /// A local host (`dm.source`) went down: forget it. True if it was one.
  bool on_host_down(const caf::down_msg& dm);

  struct counters {
    /// Commands routed through this node (local entry or forwarded).
    uint64_t routed = 0;
    uint64_t forwarded = 0;
    uint64_t unavailable = 0;
  };

  const counters& stats() const noexcept {
    return stats_;
  }

private:
  struct held_command {
    command_envelope env;
    caf::response_promise rp;
    uint32_t hops = 0;
    clock::time_point since = clock::now();
  };

  /// Per partition: commands in flight to `node`, and those queued behind
  /// them because the leader changed meanwhile.
  struct route_state {
    std::string node;
    uint32_t outstanding = 0;
    std::deque<held_command> waiting;
  };

  void deliver_local(command_envelope env, caf::response_promise& rp);
  void send_remote(partition_id p, const std::string& to, command_envelope env,
                   caf::response_promise rp, uint32_t hops);
  void done(partition_id p);
  void refuse(caf::response_promise& rp, std::string why);

  node_context ctx_;
  std::vector<route_state> routes_;
  std::vector<std::deque<held_command>> held_;
  /// The runtime's hosts by category, as found so far.
  std::unordered_map<std::string, caf::actor> hosts_;
  counters stats_;
};

} // namespace annals::cluster::detail
