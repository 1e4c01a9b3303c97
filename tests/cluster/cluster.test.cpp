// annals -- multi-process cluster tests on loopback, nodes over a real
// etcd with one replica per partition (replication is not what these test;
// replicated_cluster.test.cpp is about failover): routing, order, join and
// leave under load, node loss and restart, a restarted controller.
#include "annals/errc.hpp"
#include "annals/render.hpp"

#include "cluster_harness.hpp"

#include <caf/scoped_actor.hpp>

#include <atomic>
#include <map>
#include <set>

using namespace annals;
using namespace annals::testing;

namespace {

/// Nodes over etcd, one replica per partition (the map places them).
etcd_cluster_fixture::settings rf1(uint32_t nodes) {
  etcd_cluster_fixture::settings s;
  s.replication_factor = 1;
  s.initial_members = nodes;
  return s;
}

} // namespace

TEST_CASE("three nodes: a command entering at any node reaches the owner") {
  etcd_nodes c{rf1(3)};
  cluster_client client;
  auto nodes = c.all();
  // Every node owns some of the 64 partitions.
  for (auto* n : nodes) {
    auto r = n->status();
    CHECK(r.active > 0);
    CHECK(r.active < 64);
  }
  // Deposit to 30 aggregates, each through a different entry node.
  for (int i = 0; i < 30; ++i) {
    auto h = client.accounts(nodes[i % 3]->port());
    auto ack = h.ask(id_of(i), sample::deposit{100 + i, "first"});
    INFO(i << ": " << (ack ? "" : render(ack.error())));
    REQUIRE(ack);
    CHECK(ack->revision == 1);
  }
  // Every node answers queries for every aggregate with the same state.
  for (auto* n : nodes)
    for (int i = 0; i < 30; ++i) {
      auto bal
        = client.accounts(n->port()).ask(id_of(i), sample::get_balance{});
      REQUIRE(bal);
      CHECK(*bal == 100 + i);
    }
  // A rejection travels back as the aggregate's own error.
  auto bad = client.accounts(c[1].port()).ask(id_of(0), sample::withdraw{1000});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().category() == caf::atom("sample"));
  // An idempotent retry through another node is recognised.
  command_options opts;
  opts.command_id = "cmd-42";
  auto a1
    = client.accounts(c[0].port()).ask(id_of(5), sample::deposit{7, ""}, opts);
  auto a2
    = client.accounts(c[2].port()).ask(id_of(5), sample::deposit{7, ""}, opts);
  REQUIRE(a1);
  REQUIRE(a2);
  CHECK_FALSE(a1->duplicate);
  CHECK(a2->duplicate);
  CHECK(a2->revision == a1->revision);
  for (auto* n : nodes)
    CHECK(n->stop() == 0);
}

TEST_CASE("three nodes: one sender's pipelined commands keep their order") {
  etcd_nodes c{rf1(3)};
  cluster_client client;
  // Three senders, one per entry node, each pipelining notes to the same
  // aggregates; each sender's acks must come back with growing revisions.
  constexpr int per_sender = 60;
  std::vector<std::thread> senders;
  std::atomic<int> violations{0}, failures{0};
  auto nodes = c.all();
  // Connected here: the client's connection table and Catch's assertions
  // are not thread-safe, the senders only send.
  std::vector<aggregate_handle<sample::account>> entries;
  for (auto* n : nodes)
    entries.push_back(client.accounts(n->port()));
  for (int s = 0; s < 3; ++s)
    senders.emplace_back([&, s] {
      auto h = entries[s];
      caf::scoped_actor self{client.system()};
      for (int agg = 0; agg < 4; ++agg) {
        std::vector<
          caf::response_handle<caf::blocking_actor, caf::message, true>>
          handles;
        for (int i = 0; i < per_sender; ++i)
          handles.push_back(self->request(
            h.actor(), std::chrono::seconds{20},
            h.make(id_of(agg), sample::note{"s" + std::to_string(s),
                                            static_cast<uint64_t>(i)})));
        uint64_t last = 0;
        for (auto& rh : handles)
          rh.receive(
            [&](const ack& a) {
              if (a.revision <= last)
                ++violations;
              last = a.revision;
            },
            [&](caf::error&) { ++failures; });
      }
    });
  for (auto& t : senders)
    t.join();
  CHECK(failures == 0);
  CHECK(violations == 0);
  // All 3 * 60 notes landed on each aggregate.
  for (int agg = 0; agg < 4; ++agg) {
    auto last
      = client.accounts(c[0].port()).ask(id_of(agg), sample::deposit{1, ""});
    REQUIRE(last);
    CHECK(last->revision == 3 * per_sender + 1);
  }
  for (auto* n : nodes)
    CHECK(n->stop() == 0);
}

TEST_CASE("one replica per partition: a killed node's partitions are "
          "unavailable (fast), the rest keep working, and it returns with "
          "nothing lost") {
  etcd_nodes c{rf1(3)};
  cluster_client client;
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < 40; ++i) {
    auto ack
      = client.accounts(c[0].port()).ask(id_of(i), sample::deposit{10 + i, ""});
    REQUIRE(ack);
    expected[id_of(i)] = 10 + i;
  }
  c[1].kill(SIGKILL);
  // Through n1: every aggregate either works or fails fast as unavailable.
  int ok = 0, unavailable = 0;
  for (int i = 0; i < 40; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto ack
      = client.accounts(c[0].port()).ask(id_of(i), sample::deposit{1, ""});
    auto took = std::chrono::steady_clock::now() - t0;
    if (ack) {
      ++ok;
      expected[id_of(i)] += 1;
    } else {
      INFO(render(ack.error()));
      CHECK(is(ack.error(), errc::unavailable));
      CHECK(took < std::chrono::seconds{1});
      ++unavailable;
    }
  }
  CHECK(ok > 0);
  CHECK(unavailable > 0);
  // n2 returns on the same port and data: everything is served again.
  c[1].start();
  await_settled({&c[0], &c[1], &c[2]}, 3);
  for (int i = 0; i < 40; ++i) {
    auto bal
      = client.accounts(c[2].port()).ask(id_of(i), sample::get_balance{});
    INFO(id_of(i) << ": " << (bal ? "" : render(bal.error())));
    REQUIRE(bal);
    CHECK(*bal == expected[id_of(i)]);
  }
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("join and leave under load: no acknowledged command lost, order "
          "kept") {
  // Two nodes; n3 joins and n2 leaves while a client writes through n1.
  // With one replica per partition, each move hands the only copy over:
  // the new node catches up as a learner, then leads.
  etcd_nodes c{rf1(2)};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto& n3 = c.add("n3");
  cluster_client client;
  constexpr int aggregates = 24;
  std::atomic<bool> running{true};
  std::atomic<int> acked{0}, anomalies{0}, gave_up{0};
  std::vector<int64_t> sums(aggregates, 0);
  std::vector<uint64_t> revs(aggregates, 0);
  auto entry = client.accounts(n1.port()); // not thread-safe: connect here
  std::thread load{[&] {
    auto h = entry;
    for (uint64_t k = 0; running; ++k) {
      auto i = static_cast<int>(k % aggregates);
      command_options opts;
      opts.command_id = "c" + std::to_string(k);
      int64_t cents = 1 + static_cast<int64_t>(k % 7);
      bool done = false;
      bool unknown = false; // an earlier attempt may have committed
      // Retry unavailable/unknown outcomes for up to 20 s, as a client
      // would: a partition is briefly unavailable while its leader moves,
      // and a commit in flight when leadership moves has an unknown
      // outcome (the retry, with the same id, tells).
      auto give_up_at
        = std::chrono::steady_clock::now() + std::chrono::seconds{20};
      while (!done && std::chrono::steady_clock::now() < give_up_at) {
        auto ack = h.ask(id_of(i), sample::deposit{cents, ""}, opts);
        if (ack) {
          done = true;
          // A duplicate only after an unknown outcome: the earlier attempt
          // committed (a write the sender never sent is an anomaly).
          if (ack->duplicate && !unknown)
            ++anomalies;
          if (ack->revision != revs[i] + 1)
            ++anomalies; // a gap or a second history
          revs[i] = ack->revision;
          sums[i] += cents;
          ++acked;
        } else if (is(ack.error(), errc::unavailable)
                   || is(ack.error(), errc::outcome_unknown)) {
          unknown = unknown || is(ack.error(), errc::outcome_unknown);
          std::this_thread::sleep_for(std::chrono::milliseconds{5});
        } else {
          FAIL_CHECK("unexpected error: " << render(ack.error()));
          done = true;
        }
      }
      if (!done)
        ++gave_up;
    }
  }};
  auto await_acks = [&](int n) {
    auto target = acked.load() + n;
    CHECK(await([&] { return acked >= target; }, std::chrono::seconds{60}));
  };
  await_acks(100);
  n3.start(); // join under load
  auto joined = c.control.await_map({"n1", "n2", "n3"});
  REQUIRE(joined);
  CHECK(partitions_led(*joined, "n3") > 0);
  await_settled({&n1, &n2, &n3}, 3);
  await_acks(100);
  CHECK(n2.leave() == "ok"); // leave under load
  auto left = c.control.await_map({"n1", "n3"});
  REQUIRE(left);
  CHECK(partitions_led(*left, "n2") == 0);
  CHECK(partitions_led(*left, "n1") + partitions_led(*left, "n3") == 64);
  await_acks(100);
  CHECK(n2.stop() == 0);
  await_settled({&n1, &n3}, 2);
  await_acks(100);
  running = false;
  load.join();
  CHECK(anomalies == 0);
  CHECK(gave_up == 0);
  // Every acknowledged deposit is there, exactly once, on the new leaders.
  for (int i = 0; i < aggregates; ++i) {
    auto bal = client.accounts(n3.port()).ask(id_of(i), sample::get_balance{});
    REQUIRE(bal);
    CHECK(*bal == sums[i]);
  }
  WARN("acked " << acked << " deposits through a join and a leave");
  CHECK(n3.status().active > 0);
  CHECK(n1.stop() == 0);
  CHECK(n3.stop() == 0);
}

TEST_CASE("a restarted controller rejoins and a later join is accepted") {
  // Regression of the former membership leader that never settled again
  // after a restart: the node holding the controller key is SIGKILLed and
  // restarted on its data; the cluster settles with it, and a fourth node
  // joins and is given partitions.
  etcd_nodes c{rf1(3)};
  auto controller = c.control.controller();
  REQUIRE_FALSE(controller.empty());
  auto* victim = c.find(controller);
  REQUIRE(victim != nullptr);
  victim->kill(SIGKILL);
  victim->start();
  await_settled(c.all(), 3);
  auto& n4 = c.add("n4");
  n4.start();
  auto joined = c.control.await_map({"n1", "n2", "n3", "n4"});
  REQUIRE(joined);
  CHECK(partitions_led(*joined, "n4") > 0);
  await_settled(c.all(), 4);
  // Commands through the new node reach every partition's leader.
  cluster_client client;
  std::map<std::string, int64_t> expected;
  deposit_all(
    client.accounts(n4.port()), 20, [](int i) { return int64_t{1} + i; },
    "after-join", expected);
  check_balances(client, {&c[0]}, expected, std::chrono::seconds{0});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}
