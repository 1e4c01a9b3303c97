// annals -- the history checker against a replicated cluster: 3 node
// processes with an etcd on loopback, every partition on all three, under
// a deposit workload; random nodes are SIGKILLed (>= 20 cycles), some
// restarted at once (they lead again at a new epoch), some only after the
// load went on without them (their partitions fail over). The checker
// reads every node's journal: each is a replica, so any event one holds
// beyond or unlike the most advanced one is a second history.
#include "cluster_history.hpp"
#include "control/map_store.hpp"
#include "control/planner.hpp"
#include "etcd_harness.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

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

namespace {

/// The partition map in etcd once its members are `members` and every
/// partition is settled, has no learner, and has exactly the ring's target
/// as voters; nothing if that does not happen within `timeout`.
std::optional<cluster::control::partition_map>
await_moved(const etcd_cluster& etcd, const std::string& cluster,
            const std::set<std::string>& members,
            std::chrono::seconds timeout) {
  using namespace cluster::control;
  auto c = etcd.make_client();
  cluster_keys keys{cluster};
  std::optional<partition_map> out;
  await(
    [&] {
      auto read = read_map(c, keys);
      if (!read || !*read)
        return false;
      const auto& m = (*read)->map;
      std::set<std::string> names;
      for (const auto& x : m.members)
        names.insert(x.name);
      if (names != members)
        return false;
      for (partition_id p = 0; p < m.partitions.size(); ++p) {
        const auto& x = m.partitions[p];
        auto target = target_replicas(m, p, 128);
        std::set<std::string> voters;
        for (const auto& r : x.replicas)
          voters.insert(r.node);
        if (!x.settled || !x.learners.empty()
            || voters != std::set<std::string>(target.begin(), target.end()))
          return false;
      }
      out = m;
      return true;
    },
    timeout);
  return out;
}

bool voter_of(const cluster::control::partition_assignment& x,
              const std::string& node) {
  return std::any_of(x.replicas.begin(), x.replicas.end(),
                     [&](const auto& r) { return r.node == node; });
}

} // namespace

TEST_CASE("replicated: a node joins and another leaves under load: their "
          "replicas move one voter at a time, nothing acknowledged is lost",
          "[checker][replicated]") {
  temp_dir tmp;
  etcd_cluster etcd{1};
  history_log log{tmp.sub("history.txt")};
  std::vector<std::string> extra{"--cluster.etcd=" + etcd.endpoint(0),
                                 "--cluster.cluster-name=moves",
                                 "--cluster.initial-members=3"};
  std::vector<std::unique_ptr<node_proc>> nodes;
  for (auto name : {"n1", "n2", "n3", "n4"})
    nodes.push_back(std::make_unique<node_proc>(ANNALS_CHECKER_NODE_CHILD, name,
                                                tmp.sub(name), &log, extra));
  auto& n1 = *nodes[0];
  auto& n4 = *nodes[3];
  for (int i = 0; i < 3; ++i)
    REQUIRE(nodes[static_cast<size_t>(i)]->start({}, true));
  REQUIRE(await_settled({nodes[0].get(), nodes[1].get(), nodes[2].get()}, 3));
  workload::settings ws;
  ws.seed = Catch::rngSeed();
  // Through n2 and n3: n1 leaves, and a node that left serves nothing.
  workload w{log, {nodes[1].get(), nodes[2].get()}, ws};
  w.start();
  REQUIRE(w.await_acks(50));
  // n4 joins: it catches up as a learner of the partitions the ring moves
  // to it, becomes a fourth voter, then the voter the ring dropped leaves.
  REQUIRE(n4.start({}, true));
  auto joined = await_moved(etcd, "moves", {"n1", "n2", "n3", "n4"},
                            std::chrono::seconds{60});
  REQUIRE(joined);
  CHECK(joined->members.size() == 4);
  auto held_by_n4
    = std::count_if(joined->partitions.begin(), joined->partitions.end(),
                    [](const auto& x) { return voter_of(x, "n4"); });
  CHECK(held_by_n4 > 0);
  CHECK(held_by_n4 < static_cast<long>(joined->partitions.size()));
  REQUIRE(w.await_acks(100, std::chrono::seconds{60}));
  // n1 leaves: its replicas move to the others the same way.
  auto left = n1.ask("leave", "LEFT", std::chrono::seconds{90});
  REQUIRE(left);
  CHECK(*left == "LEFT ok");
  auto after
    = await_moved(etcd, "moves", {"n2", "n3", "n4"}, std::chrono::seconds{60});
  REQUIRE(after);
  CHECK(after->find_member("n1") == nullptr);
  for (const auto& x : after->partitions) {
    CHECK_FALSE(voter_of(x, "n1"));
    CHECK(x.replicas.size() == 3);
  }
  REQUIRE(w.await_acks(100, std::chrono::seconds{60}));
  w.stop();
  for (auto& n : nodes) {
    auto st = n->stop();
    INFO(n->name() << " exit status " << st);
    CHECK(WIFEXITED(st));
  }
  std::vector<node_proc*> all;
  for (auto& n : nodes)
    all.push_back(n.get());
  auto rep = check_cluster(log, all);
  std::ostringstream text;
  text << w.acks << " acks (" << w.duplicate_acks << " duplicate), " << w.fails
       << " definite failures, " << w.unknowns << " unknown; n4 holds "
       << held_by_n4 << " partitions after its join\n"
       << rep.to_string();
  std::printf("checker replicated moves: %s", text.str().c_str());
  INFO(text.str());
  if (!rep.valid())
    keep_run(tmp, "checker-replicated-moves");
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}
