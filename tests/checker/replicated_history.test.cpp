// annals -- the history checker against a replicated cluster: 3 node
// processes with an etcd on loopback, every partition on all three, under
// a deposit workload; random nodes are SIGKILLed (>= 20 cycles), some
// restarted at once (they lead again at a new epoch), some only after the
// load went on without them (their partitions fail over). The checker
// reads every node's journal: each is a replica, so any event one holds
// beyond or unlike the most advanced one is a second history.
#include "cluster_history.hpp"
#include "etcd_harness.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

using namespace annals;
using namespace annals::testing;

TEST_CASE("replicated: 3 nodes under load, SIGKILLed at random moments and "
          "restarted at once or later: no anomaly, nothing acknowledged lost",
          "[checker][replicated]") {
  auto t0 = steady_clock::now();
  temp_dir tmp;
  etcd_cluster etcd{1};
  history_log log{tmp.sub("history.txt")};
  std::vector<std::string> extra{"--cluster.etcd=" + etcd.endpoint(0),
                                 "--cluster.cluster-name=checker",
                                 "--cluster.initial-members=3"};
  std::vector<std::unique_ptr<node_proc>> nodes;
  std::vector<node_proc*> all;
  for (auto name : {"n1", "n2", "n3"}) {
    nodes.push_back(std::make_unique<node_proc>(ANNALS_CHECKER_NODE_CHILD, name,
                                                tmp.sub(name), &log, extra));
    all.push_back(nodes.back().get());
  }
  for (auto* n : all)
    REQUIRE(n->start({}, true));
  REQUIRE(await_settled(all, 3));
  std::mt19937 rng{Catch::rngSeed()};
  workload::settings ws;
  ws.seed = Catch::rngSeed();
  workload w{log, all, ws};
  w.start();
  constexpr std::size_t cycles = 20;
  std::size_t done = 0, later = 0;
  for (std::size_t i = 0; i < cycles; ++i) {
    INFO("cycle " << i);
    REQUIRE(w.await_acks(5 + rng() % 56));
    auto& victim = *all[rng() % 3];
    victim.kill();
    if (rng() % 2 == 0) {
      // The others go on; the victim's partitions fail over once its
      // lease expires (the acks of its accounts wait for that).
      ++later;
      REQUIRE(w.await_acks(40, std::chrono::seconds{60}));
    }
    REQUIRE(victim.start({}, true));
    ++done;
  }
  REQUIRE(await_settled(all, 3));
  REQUIRE(w.await_acks(20));
  w.stop();
  // Every replica catches up before the stop: then each journal must be
  // the whole history.
  for (auto* n : all) {
    auto st = n->stop();
    INFO(n->name() << " exit status " << st);
    CHECK(WIFEXITED(st));
  }
  auto secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  auto rep = check_cluster(log, all);
  std::ostringstream text;
  text << done << " kill cycles (" << later << " restarted after the load "
       << "went on) in " << secs << " s; " << w.acks << " acks ("
       << w.duplicate_acks << " duplicate), " << w.fails
       << " definite failures, " << w.unknowns << " unknown, " << w.unreachable
       << " connection refusals\n"
       << rep.to_string();
  std::printf("checker replicated run: %s", text.str().c_str());
  INFO(text.str());
  if (!rep.valid())
    keep_run(tmp, "checker-replicated");
  CHECK(done >= 20);
  CHECK(w.acks > 300);
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}
