// annals -- tests: three replicated node processes and a real etcd on
// loopback. Nothing acknowledged is lost when a leader is SIGKILLed: its
// partitions fail over to another replica and keep answering; the killed
// node comes back as a follower and catches up.
#include "annals/errc.hpp"
#include "annals/render.hpp"

#include "cluster_harness.hpp"
#include "etcd_harness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

using namespace annals;
using namespace annals::testing;

namespace {

struct replicated_nodes {
  temp_dir root;
  etcd_cluster etcd{1};
  std::vector<std::string> extra{"--cluster.etcd=" + etcd.endpoint(0),
                                 "--cluster.cluster-name=test",
                                 "--cluster.initial-members=3"};
  node_process n1{"n1", root.path() + "/n1", free_port(), extra};
  node_process n2{"n2", root.path() + "/n2", free_port(), extra};
  node_process n3{"n3", root.path() + "/n3", free_port(), extra};

  replicated_nodes() {
    n1.start();
    n2.start();
    n3.start();
    await_settled(all(), 3);
  }

  std::vector<node_process*> all() {
    return {&n1, &n2, &n3};
  }
};

std::string id_of(int i) {
  return "acct-" + std::to_string(i);
}

/// Sends `cmd` with command id `id` until it is acknowledged: a retry
/// after `unavailable` or `outcome_unknown` is safe with the same id.
template <class Cmd>
caf::expected<ack>
deposit_until(aggregate_handle<sample::account> h, const std::string& account,
              Cmd cmd, const std::string& id,
              std::chrono::seconds limit = std::chrono::seconds{20}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto res = h.ask(account, cmd, command_options{id, {}, {}, {}});
    if (res || std::chrono::steady_clock::now() > deadline
        || !(is(res.error(), errc::unavailable)
             || is(res.error(), errc::outcome_unknown)))
      return res;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Deposits `amount(i)` into accounts 0..count-1 through `h` (command ids
/// `<tag>-<i>`, retried as `deposit_until` does) and adds them to `expected`.
template <class Amount>
void deposit_all(aggregate_handle<sample::account> h, int count, Amount amount,
                 const std::string& tag,
                 std::map<std::string, int64_t>& expected,
                 std::chrono::seconds limit = std::chrono::seconds{20}) {
  for (int i = 0; i < count; ++i) {
    auto ack = deposit_until(h, id_of(i), sample::deposit{amount(i), ""},
                             tag + "-" + std::to_string(i), limit);
    INFO(id_of(i) << ": " << (ack ? "" : render(ack.error())));
    REQUIRE(ack);
    expected[id_of(i)] += amount(i);
  }
}

/// Every account's balance, read through each of `entries`, is its
/// expected one. A read refused as unavailable (or of unknown outcome) is
/// repeated for up to `patience`.
void check_balances(cluster_client& client,
                    const std::vector<node_process*>& entries,
                    const std::map<std::string, int64_t>& expected,
                    std::chrono::seconds patience) {
  for (auto* entry : entries) {
    auto h = client.accounts(entry->port());
    for (const auto& [id, want] : expected) {
      auto deadline = std::chrono::steady_clock::now() + patience;
      caf::expected<int64_t> bal = h.ask(id, sample::get_balance{});
      while (!bal
             && (is(bal.error(), errc::unavailable)
                 || is(bal.error(), errc::outcome_unknown))
             && std::chrono::steady_clock::now() < deadline)
        bal = h.ask(id, sample::get_balance{});
      INFO(entry->name() << " " << id << ": "
                         << (bal ? "" : render(bal.error())));
      REQUIRE(bal);
      CHECK(*bal == want);
    }
  }
}

} // namespace

TEST_CASE("replicated: a SIGKILLed leader's partitions fail over and nothing "
          "acknowledged is lost") {
  replicated_nodes c;
  cluster_client client;
  // Every node leads some of the 64 partitions.
  for (auto* n : c.all())
    CHECK(n->status().active > 0);
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c.n1.port());
  deposit_all(
    h1, 30, [](int i) { return int64_t{10} + i; }, "first", expected);
  c.n2.kill(SIGKILL);
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
  c.n2.start();
  await_settled(c.all(), 3);
  check_balances(client, c.all(), expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: a node whose disk was wiped comes back as a learner, "
          "catches up, becomes a voter again, and then carries a majority") {
  replicated_nodes c;
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h2 = client.accounts(c.n2.port());
  deposit_all(
    h2, 20, [](int i) { return int64_t{5} + i; }, "first", expected);
  // n3 loses its disk: killed, its data directory removed, restarted.
  c.n3.kill(SIGKILL);
  std::filesystem::remove_all(c.root.path() + "/n3");
  c.n3.start();
  // Every replica on n3 turns into a voter once it caught up (the map
  // names its new incarnation).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  for (;;) {
    auto lines = c.n3.replicas();
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
  c.n1.kill(SIGKILL);
  deposit_all(
    h2, 20, [](int) { return int64_t{1}; }, "second", expected);
  check_balances(client, {&c.n2}, expected, std::chrono::seconds{0});
  CHECK(c.n2.stop() == 0);
  CHECK(c.n3.stop() == 0);
}

TEST_CASE("replicated: a leader frozen (SIGSTOP) past its lease is replaced, "
          "thawed, it loses nothing acknowledged and rejoins") {
  replicated_nodes c;
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c.n1.port());
  deposit_all(
    h1, 20, [](int i) { return int64_t{3} + i; }, "first", expected);
  c.n2.kill(SIGSTOP);
  // Commands for n2's partitions wait (or time out: outcome unknown, and
  // retried with the same id) until its lease expires and others lead.
  deposit_all(
    h1, 20, [](int) { return int64_t{1}; }, "second", expected,
    std::chrono::seconds{40});
  // Thawed, n2 finds itself deposed: whatever it still ran as the old
  // leader is never acknowledged and is truncated away.
  c.n2.kill(SIGCONT);
  await_settled(c.all(), 3);
  check_balances(client, c.all(), expected, std::chrono::seconds{15});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: a cluster whose every node restarts serves again: each "
          "leader that fenced its epoch before is appointed at a new one") {
  replicated_nodes c;
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c.n1.port());
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
  auto h3 = client.accounts(c.n3.port());
  deposit_all(
    h3, 20, [](int) { return int64_t{1}; }, "second", expected);
  check_balances(client, c.all(), expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: a SIGKILLed controller's peers depose it and its "
          "partitions fail over before its lease would have expired") {
  replicated_nodes c;
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto etcd = c.etcd.make_client();
  auto holder = etcd.get("/annals/test/controller");
  REQUIRE(holder);
  REQUIRE(holder->kvs.size() == 1);
  auto controller = holder->kvs.front().value;
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
  auto now = etcd.get("/annals/test/controller");
  REQUIRE(now);
  REQUIRE(now->kvs.size() == 1);
  CHECK(now->kvs.front().value != controller);
  victim->start();
  await_settled(c.all(), 3);
  check_balances(client, {entry}, expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}

TEST_CASE("replicated: with etcd down, commits go on (no failover until it "
          "returns), and the cluster carries on when it is back") {
  replicated_nodes c;
  cluster_client client;
  std::map<std::string, int64_t> expected;
  auto h1 = client.accounts(c.n1.port());
  deposit_all(
    h1, 20, [](int i) { return int64_t{4} + i; }, "first", expected);
  c.etcd.kill(0);
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
  c.etcd.restart(0);
  c.etcd.await_all();
  REQUIRE(leases_alive(true));
  await_settled(c.all(), 3);
  deposit_all(
    h1, 20, [](int) { return int64_t{1}; }, "after", expected);
  check_balances(client, c.all(), expected, std::chrono::seconds{10});
  for (auto* n : c.all())
    CHECK(n->stop() == 0);
}
