// annals -- tests: three replicated node processes and a real etcd on
// loopback. Nothing acknowledged is lost when a leader is SIGKILLed: its
// partitions fail over to another replica and keep answering; the killed
// node comes back as a follower and catches up.
#include "annals/errc.hpp"
#include "annals/render.hpp"

#include "cluster_harness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

using namespace annals;
using namespace annals::testing;

namespace {

/// Three nodes, every partition on all three.
etcd_cluster_fixture::settings rf3() {
  etcd_cluster_fixture::settings s;
  s.replication_factor = 3;
  s.initial_members = 3;
  return s;
}

} // namespace

TEST_CASE("replicated: a SIGKILLed leader's partitions fail over and nothing "
          "acknowledged is lost") {
  etcd_nodes c{rf3()};
  cluster_client client;
  // Every node leads some of the 64 partitions.
  for (auto* n : c.all())
    CHECK(n->status().active > 0);
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c[0].port());
  deposit_all(
    h1, 30, [](int i) { return int64_t{10} + i; }, "first", expected);
  c[1].kill(SIGKILL);
  // Through n1, every account answers again once its partition failed over.
  auto t0 = std::chrono::steady_clock::now();
  deposit_all(
    h1, 30, [](int) { return int64_t{1}; }, "second", expected);
  auto gap = std::chrono::steady_clock::now() - t0;
  WARN("every account answered "
       << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
       << " ms after the kill");
  CHECK(gap < std::chrono::seconds{10});
  // n2 returns on its data directory and catches up as a follower.
  c[1].start();
  await_settled(c.all(), 3);
  check_balances(client, c.all(), expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: a node whose disk was wiped comes back as a learner, "
          "catches up, becomes a voter again, and then carries a majority") {
  etcd_nodes c{rf3()};
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h2 = client.accounts(c[1].port());
  deposit_all(
    h2, 20, [](int i) { return int64_t{5} + i; }, "first", expected);
  // n3 loses its disk: killed, its data directory removed, restarted.
  c[2].kill(SIGKILL);
  std::filesystem::remove_all(c.root.path() + "/n3");
  c[2].start();
  // Every replica on n3 turns into a voter once it caught up (the map
  // names its new incarnation).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  for (;;) {
    auto lines = c[2].replicas();
    std::size_t voters = 0, replicas = 0;
    for (const auto& l : lines)
      if (l.rfind("counters", 0) != 0) {
        ++replicas;
        voters += l.find(" voter ") != std::string::npos ? 1 : 0;
      }
    if (replicas == 64 && voters == 64)
      break;
    INFO("n3 has " << voters << " voters of " << replicas << " replicas");
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  // With n1 gone too, n2 and the rebuilt n3 are a majority of every
  // partition: everything acknowledged is there, and new commands commit.
  c[0].kill(SIGKILL);
  deposit_all(
    h2, 20, [](int) { return int64_t{1}; }, "second", expected);
  check_balances(client, {&c[1]}, expected, std::chrono::seconds{0});
  CHECK(c[1].stop() == 0);
  CHECK(c[2].stop() == 0);
}

TEST_CASE("replicated: a leader frozen (SIGSTOP) past its lease is replaced, "
          "thawed, it loses nothing acknowledged and rejoins") {
  etcd_nodes c{rf3()};
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c[0].port());
  deposit_all(
    h1, 20, [](int i) { return int64_t{3} + i; }, "first", expected);
  c[1].kill(SIGSTOP);
  // Commands for n2's partitions wait (or time out: outcome unknown, and
  // retried with the same id) until its lease expires and others lead.
  deposit_all(
    h1, 20, [](int) { return int64_t{1}; }, "second", expected,
    std::chrono::seconds{40});
  // Thawed, n2 finds itself deposed: whatever it still ran as the old
  // leader is never acknowledged and is truncated away.
  c[1].kill(SIGCONT);
  await_settled(c.all(), 3);
  check_balances(client, c.all(), expected, std::chrono::seconds{15});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: a cluster whose every node restarts serves again: each "
          "leader that fenced its epoch before is appointed at a new one") {
  etcd_nodes c{rf3()};
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c[0].port());
  deposit_all(
    h1, 20, [](int i) { return int64_t{7} + i; }, "first", expected);
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
  for (auto* n : c.all()) {
    client.forget(n->port());
    n->start();
  }
  // Every leader's replica refuses the epoch it fenced before the restart;
  // the controller appoints each again (one map write), and they serve.
  await_settled(c.all(), 3);
  auto h3 = client.accounts(c[2].port());
  deposit_all(
    h3, 20, [](int) { return int64_t{1}; }, "second", expected);
  check_balances(client, c.all(), expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: a SIGKILLed controller's peers depose it and its "
          "partitions fail over before its lease would have expired") {
  etcd_nodes c{rf3()};
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto controller = c.control.controller();
  REQUIRE_FALSE(controller.empty());
  node_process* victim = nullptr;
  node_process* entry = nullptr;
  for (auto* n : c.all()) {
    if (n->name() == controller)
      victim = n;
    else if (entry == nullptr)
      entry = n;
  }
  REQUIRE(victim != nullptr);
  REQUIRE(entry != nullptr);
  auto h = client.accounts(entry->port());
  deposit_all(
    h, 30, [](int i) { return int64_t{2} + i; }, "first", expected);
  victim->kill(SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  deposit_all(
    h, 30, [](int) { return int64_t{1}; }, "second", expected);
  auto gap = std::chrono::steady_clock::now() - t0;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(gap).count();
  WARN("every account answered " << ms << " ms after the controller ("
                                 << controller << ") was killed");
  // What is under test is "before the lease TTL (2 s) runs out": the
  // peers saw the connection drop, revoked the lease and failed over.
  CHECK(ms < 1900);
  auto now = c.control.controller();
  CHECK_FALSE(now.empty());
  CHECK(now != controller);
  victim->start();
  await_settled(c.all(), 3);
  check_balances(client, {entry}, expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: with etcd down, commits go on (no failover until it "
          "returns), and the cluster carries on when it is back") {
  etcd_nodes c{rf3()};
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c[0].port());
  deposit_all(
    h1, 20, [](int i) { return int64_t{4} + i; }, "first", expected);
  c.control.etcd.kill(0);
  // Once every node knows its lease is unconfirmed, the data plane goes on
  // without etcd: every partition keeps its leader.
  auto leases_alive = [&](bool alive) {
    return await(
      [&] {
        for (auto* n : c.all())
          if (n->status().lease_alive != alive)
            return false;
        return true;
      },
      std::chrono::seconds{20});
  };
  REQUIRE(leases_alive(false));
  deposit_all(
    h1, 20, [](int) { return int64_t{1}; }, "without-etcd", expected,
    std::chrono::seconds{10});
  c.control.etcd.restart(0);
  c.control.etcd.await_all();
  REQUIRE(leases_alive(true));
  await_settled(c.all(), 3);
  deposit_all(
    h1, 20, [](int) { return int64_t{1}; }, "after", expected);
  check_balances(client, c.all(), expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}
