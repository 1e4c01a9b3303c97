// annals -- the history checker against a replicated cluster: 3 node
// processes with an etcd on loopback, every partition on all three, under
// a deposit workload; a fourth node joins and the first leaves, their
// replicas moving one voter at a time. The checker reads every node's
// journal (the one that left included): each is a replica, so any event
// one holds beyond or unlike the most advanced one is a second history.
// (SIGKILLs at random moments, joins and leaves among them:
// cluster_history.test.cpp.)
#include "replicated_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>

using namespace annals;
using namespace annals::testing;

TEST_CASE("replicated: a node joins and another leaves under load: their "
          "replicas move one voter at a time, nothing acknowledged is lost",
          "[checker][replicated]") {
  replicated_cluster::options o;
  o.name = "moves";
  replicated_cluster c{o};
  auto& n1 = c[0];
  auto& n4 = c.add("n4");
  // Through n2 and n3: n1 leaves, and a node that left serves nothing.
  auto& w = c.start_load({&c[1], &c[2]});
  // n4 joins: it catches up as a learner of the partitions the ring moves
  // to it, becomes a fourth voter, then the voter the ring dropped leaves.
  REQUIRE(c.start(n4));
  auto joined = await_moved(*c.etcd, o.name, {"n1", "n2", "n3", "n4"});
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
  auto after = await_moved(*c.etcd, o.name, {"n2", "n3", "n4"});
  REQUIRE(after);
  CHECK(after->find_member("n1") == nullptr);
  for (const auto& x : after->partitions) {
    CHECK_FALSE(voter_of(x, "n1"));
    CHECK(x.replicas.size() == 3);
  }
  REQUIRE(w.await_acks(100, std::chrono::seconds{60}));
  w.stop();
  auto rep = c.stop_and_check("checker replicated moves");
  std::printf("checker replicated moves: %zu acks (%zu duplicate), %zu "
              "definite failures, %zu unknown; n4 holds %ld partitions after "
              "its join\n",
              static_cast<std::size_t>(w.acks),
              static_cast<std::size_t>(w.duplicate_acks),
              static_cast<std::size_t>(w.fails),
              static_cast<std::size_t>(w.unknowns), held_by_n4);
  INFO(rep.to_string());
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}
