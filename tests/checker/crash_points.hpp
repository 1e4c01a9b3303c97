// annals -- test support for crashes at named crash points (libfiu,
// annals/failpoint.hpp) in checker-node processes: which points exist, what
// makes each fire, and one crash of a node by one of them, checked from its
// exit status and the line the crash point writes to its stderr.
#pragma once

#include "annals/failpoint.hpp"

#include "cluster_history.hpp"
#include "replicated_cluster.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace annals::testing {

/// What makes a crash point fire in a loaded replicated cluster of
/// checker nodes.
enum class trigger {
  load,  ///< commands (commits, snapshots, checkpoints): any member
  join,  ///< a joining node catching up as a learner (armed from its start)
  leave, ///< a member taking replicas of a leaving node (while it leaves)
};

struct crash_point {
  std::string name;
  trigger when;
  /// Chance to fire at each pass of the site; < 1 picks a random moment
  /// among many passes.
  double probability;
};

/// The crash points this file's tests fire, in failpoint_names() order:
/// the journal's, the writer's, the snapshots' and the checkpoints' under
/// load, and the follower's group commit (`annals/replica/*_group_commit`)
/// in a joining learner and in a member receiving a leaving node's
/// replicas. Not here: `annals/journal/truncate` and the other
/// `annals/replica/*` points (failover and return: replicated_crash.test),
/// `annals/journal/index_flush` (a node's index tail must hold 4096 events
/// first, which a freshly restarted node under this load may not reach in
/// the 20 s allowed; tests/persistence/journal_failpoint kills there), and
/// the view mode's hand-off points (`annals/handoff/*`, gone with it).
inline std::vector<crash_point> crash_points() {
  std::vector<crash_point> out;
  for (const auto& name : failpoint_names()) {
    if (name == "annals/journal/truncate"
        || name == "annals/journal/index_flush"
        || name.rfind("annals/handoff/", 0) == 0)
      continue;
    if (name == "annals/replica/before_group_commit"
        || name == "annals/replica/after_group_commit") {
      out.push_back({name, trigger::join, 1.0});
      out.push_back({name, trigger::leave, 0.2});
    } else if (name.rfind("annals/replica/", 0) == 0) {
      continue;
    } else if (name.rfind("annals/journal/", 0) == 0
               || name.rfind("annals/writer/", 0) == 0) {
      out.push_back({name, trigger::load, 0.05});
    } else {
      out.push_back({name, trigger::load, 0.2}); // snapshots, checkpoints
    }
  }
  return out;
}

/// Node arguments that make every crash point reachable under the deposit
/// workload: a snapshot every 4 events of an aggregate and a durable
/// consumer checkpointing every 8 events.
inline std::vector<std::string> crash_point_args() {
  return {"--annals.snapshot-every=4", "--consumer=crash-points"};
}

/// The deposit workload for crash points: 96 aggregates, so that every
/// partition has some (a learner then has events to catch up on in each).
inline workload::settings crash_workload(unsigned seed) {
  workload::settings ws;
  ws.aggregates = 96;
  ws.seed = seed;
  return ws;
}

/// Starts `n` with its stderr in a file of its own (next to its data
/// directory, one per start), where a crash point leaves its line.
inline bool start_logged(node_proc& n, bool subscribe = false) {
  static std::atomic<int> counter{0};
  n.stderr_file = n.dir() + ".stderr." + std::to_string(++counter);
  return n.start(subscribe);
}

/// Enables `cp` in the running node `victim`; false if it refused. No
/// reply counts as enabled: the point may have fired at once.
inline bool arm(node_proc& victim, const crash_point& cp) {
  std::ostringstream cmd;
  cmd << "fail " << cp.name << ' ' << cp.probability;
  auto reply = victim.ask(cmd.str(), "FAIL", std::chrono::seconds{10});
  return !reply || *reply == "FAIL ok";
}

/// Waits up to `limit` for `victim` (started by start_logged, armed with
/// `cp`, never signalled by the test) to die by `cp`: SIGKILL as its end
/// and `cp`'s line in its stderr. Empty if so, else what happened instead.
inline std::string await_crash(node_proc& victim, const crash_point& cp,
                               std::chrono::seconds limit) {
  auto st = victim.await_exit(limit);
  if (!st)
    return victim.name() + " still runs " + std::to_string(limit.count())
           + " s after arming " + cp.name;
  if (!WIFSIGNALED(*st) || WTERMSIG(*st) != SIGKILL)
    return victim.name() + " armed with " + cp.name + " ended with wait status "
           + std::to_string(*st) + " instead of SIGKILL";
  std::ifstream in{victim.stderr_file};
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  auto line = "annals: failpoint " + cp.name + " fired: SIGKILL";
  if (text.find(line) == std::string::npos)
    return victim.name() + " died by SIGKILL without \"" + line + "\" in "
           + victim.stderr_file;
  return {};
}

/// Waits until every node of `others` that is up reports a member it
/// cannot reach (the crashed one); false after `limit`. Restarting the
/// victim only then keeps its new incarnation from racing the old one's
/// down_msg at its peers (CAF 0.17 BASP: a peer that never got the old
/// incarnation's down_msg kept its dead route, seen in view mode).
inline bool await_noticed(const std::vector<node_proc*>& others,
                          std::chrono::seconds limit
                          = std::chrono::seconds{20}) {
  auto deadline = steady_clock::now() + limit;
  for (;;) {
    bool all = true;
    for (auto* n : others)
      if (n->up()) {
        auto st = status_of(*n);
        all = all && st && st->reachable < st->members;
      }
    if (all)
      return true;
    if (steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// `all` without `x`.
inline std::vector<node_proc*> except(std::vector<node_proc*> all,
                                      const node_proc* x) {
  all.erase(std::remove(all.begin(), all.end(), x), all.end());
  return all;
}

// -- one crash each (Catch2 assertions: test translation units only) ---------

/// Arms load point `cp` in a random node of `members` once `w` has some
/// more acks, awaits the crash and, once every other member that is up
/// has noticed it, restarts the victim (subscribing).
inline void load_crash(const std::vector<node_proc*>& members, workload& w,
                       std::mt19937& rng, const crash_point& cp,
                       const std::vector<node_proc*>& watchers = {}) {
  REQUIRE(w.await_acks(5 + rng() % 40));
  auto& victim = *members[rng() % members.size()];
  INFO("crash point " << cp.name << " in " << victim.name());
  REQUIRE(arm(victim, cp));
  auto why = await_crash(victim, cp, std::chrono::seconds{20});
  INFO(why);
  REQUIRE(why.empty());
  REQUIRE(
    await_noticed(except(watchers.empty() ? members : watchers, &victim)));
  REQUIRE(start_logged(victim, true));
}

/// The names of `nodes`.
inline std::set<std::string> names_of(const std::vector<node_proc*>& nodes) {
  std::set<std::string> out;
  for (auto* n : nodes)
    out.insert(n->name());
  return out;
}

/// `joiner` (never started before) joins `three` (their replicas settled)
/// with `cp` armed from its start: it must die by it while catching up;
/// restarted plainly, its join completes (every replica moved).
inline void join_crash(replicated_cluster& c,
                       const std::vector<node_proc*>& three, node_proc& joiner,
                       const crash_point& cp) {
  auto four = names_of(three);
  REQUIRE(await_moved(*c.etcd, c.opts.name, four));
  four.insert(joiner.name());
  INFO("crash point " << cp.name << " in joining " << joiner.name());
  joiner.wrapper = {"/usr/bin/env", "ANNALS_FAILPOINTS=" + cp.name};
  static_cast<void>(start_logged(joiner, true)); // may die before READY
  joiner.wrapper.clear();
  auto why = await_crash(joiner, cp, std::chrono::seconds{40});
  INFO(why);
  REQUIRE(why.empty());
  REQUIRE(start_logged(joiner, true));
  REQUIRE(await_moved(*c.etcd, c.opts.name, four));
}

/// `leaver` leaves with `cp` armed in a random member of `three`: the
/// member must die by it; restarted, the leave completes ("LEFT ok", every
/// replica moved back to `three`).
inline void leave_crash(replicated_cluster& c,
                        const std::vector<node_proc*>& three, node_proc& leaver,
                        workload& w, std::mt19937& rng, const crash_point& cp) {
  REQUIRE(w.await_acks(50));
  auto& victim = *three[rng() % 3];
  INFO("crash point " << cp.name << " in " << victim.name() << " while "
                      << leaver.name() << " leaves");
  leaver.ask("leave", "LEFT", std::chrono::seconds{0}); // awaited below
  REQUIRE(arm(victim, cp));
  auto why = await_crash(victim, cp, std::chrono::seconds{40});
  INFO(why);
  REQUIRE(why.empty());
  REQUIRE(await_noticed(except(three, &victim)));
  REQUIRE(start_logged(victim, true));
  auto left = leaver.await("LEFT", std::chrono::seconds{90});
  REQUIRE(left);
  CHECK(*left == "LEFT ok");
  auto st = leaver.stop();
  CHECK(WIFEXITED(st));
  REQUIRE(await_moved(*c.etcd, c.opts.name, names_of(three)));
}

} // namespace annals::testing
