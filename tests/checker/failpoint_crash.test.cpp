// annals -- crashes at named points (libfiu crash points, see
// annals/failpoint.hpp) in a replicated 3-node cluster (etcd on loopback,
// every partition on all three) under the deposit workload: one point at a
// time is enabled in one running node, which must then die by SIGKILL of
// its own (the test never signals it) with that point's line on its
// stderr; it is restarted without the point and the load goes on. Commit,
// snapshot and checkpoint points fire under load; the follower's group
// commit points fire in a fourth node joining (armed from its start: it
// dies while catching up as a learner, and its join resumes after the
// restart) and in a member while the fourth leaves (the leave still
// completes); twice, with a fresh fourth node each time. Every point must fire,
// and the history checker must find nothing. (The replication's failover and
// truncation points: replicated_crash.test.cpp.)
#include "crash_points.hpp"
#include "replicated_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>

using namespace annals;
using namespace annals::testing;

namespace {

/// Keeps the history, data directories and node stderr of a run that did
/// not reach its end (a failed REQUIRE) or whose history has anomalies.
struct keep_on_failure {
  const temp_dir& tmp;
  bool passed = false;
  ~keep_on_failure() {
    if (!passed)
      keep_run(tmp, "failpoint");
  }
};

} // namespace

TEST_CASE("replicated: 3 nodes under load crash at every named crash point, "
          "with joins and leaves: no anomaly",
          "[checker][replicated][failpoint]") {
  if (!failpoints_built_in()) {
    WARN("skipped: built with ANNALS_FAILPOINTS=OFF");
    return;
  }
  // A node may die while we write to its stdin: EPIPE, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  auto t0 = steady_clock::now();
  replicated_cluster::options o;
  o.name = "failpoint";
  o.extra = crash_point_args();
  replicated_cluster c{o};
  keep_on_failure keep{c.tmp};
  auto three = c.all();
  std::mt19937 rng{Catch::rngSeed()};
  auto& w = c.start_load(three, crash_workload(Catch::rngSeed()), 20);

  auto points = crash_points();
  std::vector<crash_point> load, join, leave;
  for (auto& cp : points)
    (cp.when == trigger::load   ? load
     : cp.when == trigger::join ? join
                                : leave)
      .push_back(cp);
  std::shuffle(load.begin(), load.end(), rng);
  std::map<std::string, std::size_t> fired; // by "<trigger> <name>"
  auto key = [](const crash_point& cp) {
    return std::string{cp.when == trigger::load   ? "load "
                       : cp.when == trigger::join ? "join "
                                                  : "leave "}
           + cp.name;
  };
  auto note = [&](const crash_point& cp, const char* how) {
    ++fired[key(cp)];
    std::printf("  %5.1f s: crashed at %s (%s)\n",
                std::chrono::duration<double>(steady_clock::now() - t0).count(),
                cp.name.c_str(), how);
  };
  // Each load point once, split over two rounds, each round ending with a
  // join and a leave of a fresh fourth node, n4 then n5 (one group-commit
  // point each).
  std::size_t next_load = 0;
  for (std::size_t round = 0; round < 2; ++round) {
    for (std::size_t k = 0;
         k < (load.size() + 1) / 2 && next_load < load.size(); ++k) {
      const auto& cp = load[next_load++];
      load_crash(three, w, rng, cp);
      note(cp, "under load");
    }
    auto& fourth = c.add("n" + std::to_string(4 + round));
    const auto& j = join[round % join.size()];
    join_crash(c, three, fourth, j);
    note(j, "joining learner");
    const auto& l = leave[round % leave.size()];
    leave_crash(c, three, fourth, w, rng, l);
    note(l, "during a leave");
  }
  REQUIRE(w.await_acks(20));
  w.stop();
  std::string why;
  auto same = await_converged(three, why);
  INFO(why);
  REQUIRE(same);
  auto secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  auto rep = c.stop_and_check("checker failpoint run");
  std::size_t crashes = 0;
  std::ostringstream o2;
  for (auto& [name, n] : fired) {
    crashes += n;
    o2 << (o2.tellp() == 0 ? "" : ", ") << name << " " << n;
  }
  std::printf("checker failpoint run: %zu crashes in %.1f s (%s); %zu acks "
              "(%zu duplicate), %zu definite failures, %zu unknown, %zu "
              "connection refusals\n",
              crashes, secs, o2.str().c_str(), static_cast<std::size_t>(w.acks),
              static_cast<std::size_t>(w.duplicate_acks),
              static_cast<std::size_t>(w.fails),
              static_cast<std::size_t>(w.unknowns),
              static_cast<std::size_t>(w.unreachable));
  INFO(rep.to_string());
  keep.passed = rep.valid();
  for (const auto& cp : points) {
    INFO(key(cp));
    CHECK(fired[key(cp)] >= 1);
  }
  CHECK(w.acks > 300);
  CHECK(rep.seen > w.acks); // every incarnation's subscriber reads all
  REQUIRE(rep.valid());
}
