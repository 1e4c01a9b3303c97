// annals -- test support for crashes at named crash points (libfiu,
// annals/failpoint.hpp) in checker-node processes: which points exist, what
// makes each fire, and one crash of a node by one of them, checked from its
// exit status and the line the crash point writes to its stderr.
#pragma once

#include "annals/failpoint.hpp"

#include "cluster_history.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace annals::testing {

/// What makes a crash point fire in a loaded cluster of checker nodes.
enum class trigger {
  load,  ///< commands (commits, snapshots, checkpoints): any member
  join,  ///< a member giving partitions to a joining node (old owner)
  leave, ///< a member taking partitions of a leaving node (new owner)
};

struct crash_point {
  std::string name;
  trigger when;
  /// Chance to fire at each pass of the site; < 1 picks a random moment
  /// among many passes.
  double probability;
};

/// Every crash point of annals with its trigger, in failpoint_names() order.
inline std::vector<crash_point> crash_points() {
  std::vector<crash_point> out;
  for (const auto& name : failpoint_names()) {
    // truncate is reached only by journal::truncate_partition, which only
    // replicated nodes call (replicated_crash kills there); index_flush only
    // once a node's index tail holds 4096 events, which a freshly restarted
    // node under this load may not reach in the 20 s allowed (seen once).
    // tests/persistence/journal_failpoint kills at both, with a small tail.
    if (name == "annals/journal/truncate"
        || name == "annals/journal/index_flush")
      continue;
    // Replicated mode only (tests/checker/replicated_crash.test.cpp).
    if (name.rfind("annals/replica/", 0) == 0)
      continue;
    if (name.rfind("annals/handoff/old_", 0) == 0)
      out.push_back({name, trigger::join, 1.0});
    else if (name.rfind("annals/handoff/new_", 0) == 0)
      out.push_back({name, trigger::leave, 1.0});
    else if (name.rfind("annals/journal/", 0) == 0
             || name.rfind("annals/writer/", 0) == 0)
      out.push_back({name, trigger::load, 0.05});
    else
      out.push_back({name, trigger::load, 0.2}); // snapshots, checkpoints
  }
  return out;
}

/// Node arguments that make every crash point reachable under the deposit
/// workload: a snapshot every 4 events of an aggregate, hand-offs in
/// chunks of 4 events (so a hand-off imports several chunks before the
/// fence), and a durable consumer checkpointing every 8 events. A joining
/// node gives up after 8 s instead of 30: when the leader crashes after
/// deciding the join but before replying, the joiner's one request is never
/// answered (a request to a dead remote actor times out in CAF 0.17), and
/// the test starts it again (joining is idempotent). Info-level logs go to
/// the node's stderr file.
inline std::vector<std::string> crash_point_args() {
  return {"--annals.snapshot-every=4", "--chunk-events=4",
          "--consumer=crash-points", "--join-timeout=8", "--verbose"};
}

/// The deposit workload for crash points: 96 aggregates, so that every
/// partition has some (a new owner's import then has events to chunk).
inline workload::settings crash_workload(unsigned seed) {
  workload::settings ws;
  ws.aggregates = 96;
  ws.seed = seed;
  return ws;
}

/// Starts `n` with its stderr in a file of its own (next to its data
/// directory, one per start), where a crash point leaves its line.
inline bool start_logged(node_proc& n, const std::string& seeds = {},
                         bool subscribe = false) {
  static std::atomic<int> counter{0};
  n.stderr_file = n.dir() + ".stderr." + std::to_string(++counter);
  return n.start(seeds, subscribe);
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
/// down_msg at its peers (see the report of failpoint_crash.test.cpp).
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
  REQUIRE(start_logged(victim, {}, true));
}

/// `joiner` joins `three` (settled) with old-owner point `cp` armed in one
/// of them; awaits the crash, restarts the victim and awaits the settled
/// view of four.
inline void join_crash(const std::vector<node_proc*>& three, node_proc& joiner,
                       std::mt19937& rng, const crash_point& cp) {
  REQUIRE(await_settled(three, 3));
  auto v = rng() % 3;
  auto& victim = *three[v];
  INFO("crash point " << cp.name << " in " << victim.name() << " (join)");
  REQUIRE(arm(victim, cp));
  // Through the leader (the first node): a join through another node gets
  // its reply relayed, and CAF then keeps a relayed route to the leader in
  // the joiner that hides the leader's death from it (see await_noticed).
  auto seed = three[0]->address();
  bool ready = start_logged(joiner, seed);
  auto why = await_crash(victim, cp, std::chrono::seconds{40});
  INFO(why);
  REQUIRE(why.empty());
  auto others = except(three, &victim);
  if (ready)
    others.push_back(&joiner);
  REQUIRE(await_noticed(others));
  REQUIRE(start_logged(victim, {}, true));
  if (!ready) {
    // The join went through the leader, which crashed before it replied:
    // the joiner gave up (exit 4, "unavailable"). Joining is idempotent.
    auto st = joiner.await_exit(std::chrono::seconds{15});
    REQUIRE(st);
    CHECK(WIFEXITED(*st));
    REQUIRE(start_logged(joiner, seed));
  }
  auto four = three;
  four.push_back(&joiner);
  REQUIRE(await_settled(four, 4));
}

/// `leaver` leaves `three` with new-owner point `cp` armed in one of them;
/// awaits the crash, restarts the victim, awaits "LEFT ok", stops the
/// leaver and awaits the settled view of three.
inline void leave_crash(const std::vector<node_proc*>& three, node_proc& leaver,
                        workload& w, std::mt19937& rng, const crash_point& cp) {
  auto four = three;
  four.push_back(&leaver);
  REQUIRE(await_settled(four, 4));
  // Events for the leaver to ship back: several chunks per new owner (with
  // crash_workload()'s aggregates spread over every partition).
  REQUIRE(w.await_acks(200));
  auto& victim = *three[rng() % 3];
  INFO("crash point " << cp.name << " in " << victim.name() << " (leave)");
  REQUIRE(arm(victim, cp));
  leaver.ask("leave", "LEFT", std::chrono::seconds{0}); // awaited below
  auto why = await_crash(victim, cp, std::chrono::seconds{40});
  if (!why.empty()) // did the leave end without moving anything?
    why += "; " + leaver.name() + " answered "
           + leaver.await("LEFT", std::chrono::seconds{0}).value_or("nothing");
  INFO(why);
  REQUIRE(why.empty());
  // Not the leaver: it answers nothing while its leave is in progress.
  REQUIRE(await_noticed(except(three, &victim)));
  REQUIRE(start_logged(victim, {}, true));
  auto left = leaver.await("LEFT", std::chrono::seconds{60});
  REQUIRE(left);
  CHECK(*left == "LEFT ok");
  auto st = leaver.stop();
  CHECK(WIFEXITED(st));
  REQUIRE(await_settled(three, 3));
}

} // namespace annals::testing
