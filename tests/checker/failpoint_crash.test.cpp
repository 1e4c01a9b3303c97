// annals -- crashes at named points (libfiu crash points, see
// annals/failpoint.hpp) in a 3-node cluster under the deposit workload: one
// point at a time is enabled in one running node, which must then die by
// SIGKILL of its own (the test never signals it) with that point's line on
// its stderr; it is restarted without the point and the load goes on.
// Commit, snapshot and checkpoint points fire under load; hand-off points
// during a join (old owners) and a leave (new owners) of a fourth node.
// Every point must fire, >= 20 crashes in all, and the history checker must
// find nothing.
//
// Known limit (CAF 0.17 BASP, found by this test): a node that stays in the
// cluster while a peer restarts sometimes never gets the old incarnation's
// down_msg (no "lost node" in its log) and kept its dead root; requests
// to it then failed with request_receiver_down or were never answered, and
// a hand-off involving the two stalled. Nodes now drop a root that answers
// no ping for 4 s; still, the victim is restarted only once every other
// member reports it unreachable (await_noticed), and n4 joins fresh for
// each join/leave pair instead of staying through load crashes.
#include "crash_points.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>

using namespace annals;
using namespace annals::testing;

namespace {

/// Keeps the history, data directories and node stderr of a run that did
/// not reach its end (a failed REQUIRE) or whose history has anomalies;
/// declared after the temp_dir and before the nodes, so it copies once
/// the nodes are gone.
struct keep_on_failure {
  const temp_dir& tmp;
  bool passed = false;
  ~keep_on_failure() {
    if (passed)
      return;
    keep_run(tmp, "failpoint");
  }
};

} // namespace

TEST_CASE("3 nodes under load crash at every named crash point, with joins "
          "and leaves: no anomaly",
          "[checker][cluster][failpoint]") {
  if (!failpoints_built_in()) {
    WARN("skipped: built with ANNALS_FAILPOINTS=OFF");
    return;
  }
  // A node may die while we write to its stdin: EPIPE, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  auto t0 = steady_clock::now();
  temp_dir tmp;
  history_log log{tmp.sub("history.txt")};
  keep_on_failure keep{tmp};
  auto args = crash_point_args();
  std::vector<std::unique_ptr<node_proc>> nodes;
  for (auto name : {"n1", "n2", "n3"})
    nodes.push_back(std::make_unique<node_proc>(ANNALS_CHECKER_NODE_CHILD, name,
                                                tmp.sub(name), &log, args));
  node_proc n4{ANNALS_CHECKER_NODE_CHILD, "n4", tmp.sub("n4"), &log, args};
  std::vector<node_proc*> three{nodes[0].get(), nodes[1].get(), nodes[2].get()};
  auto four = three;
  four.push_back(&n4);
  REQUIRE(start_logged(*nodes[0], {}, true));
  REQUIRE(start_logged(*nodes[1], nodes[0]->address(), true));
  REQUIRE(start_logged(*nodes[2], nodes[0]->address(), true));
  REQUIRE(await_settled(three, 3));
  std::mt19937 rng{Catch::rngSeed()};
  workload w{log, three, crash_workload(Catch::rngSeed())};
  w.start();

  auto points = crash_points();
  std::vector<crash_point> load, join, leave;
  for (auto& cp : points)
    (cp.when == trigger::load   ? load
     : cp.when == trigger::join ? join
                                : leave)
      .push_back(cp);
  std::shuffle(load.begin(), load.end(), rng);
  std::map<std::string, std::size_t> fired;
  std::size_t crashes = 0, next_load = 0;
  auto count = [&](const crash_point& cp) {
    ++fired[cp.name];
    ++crashes;
  };
  auto one_load_crash = [&] {
    const auto& cp = load[next_load++ % load.size()];
    load_crash(three, w, rng, cp, four);
    count(cp);
  };
  // Three rounds: load crashes while n4 is out, then n4 joins with an
  // old-owner point armed and leaves with a new-owner point armed. (n4
  // joins fresh each time: a node that stays while its peers restart may
  // keep a dead incarnation's route, see the report at the top.)
  for (std::size_t round = 0; round < 3; ++round) {
    for (int k = 0; k < 4; ++k)
      one_load_crash();
    const auto& j = join[round % join.size()];
    join_crash(three, n4, rng, j);
    count(j);
    const auto& l = leave[round % leave.size()];
    leave_crash(three, n4, w, rng, l);
    count(l);
  }
  while (crashes < 22)
    one_load_crash();
  REQUIRE(w.await_acks(20));
  w.stop();
  for (auto* n : four)
    if (n->up()) {
      auto st = n->stop();
      INFO(n->name() << " exit status " << st);
      CHECK(WIFEXITED(st));
      CHECK(WEXITSTATUS(st) == 0);
    }
  auto secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  auto rep = check_cluster(log, four);
  std::ostringstream o;
  o << crashes << " failpoint crashes in " << secs << " s (";
  for (auto& [name, n] : fired)
    o << name << " " << n << (name == fired.rbegin()->first ? "" : ", ");
  o << "); " << w.acks << " acks (" << w.duplicate_acks << " duplicate), "
    << w.fails << " definite failures, " << w.unknowns << " unknown, "
    << w.unreachable << " connection refusals\n"
    << rep.to_string();
  auto text = o.str();
  std::printf("checker failpoint run: %s", text.c_str());
  INFO(text);
  keep.passed = rep.valid();
  CHECK(crashes >= 20);
  for (const auto& cp : points) {
    INFO(cp.name);
    CHECK(fired[cp.name] >= 1);
  }
  CHECK(w.acks > 300);
  CHECK(rep.seen > w.acks); // every incarnation's subscriber reads all
  REQUIRE(rep.valid());
}
