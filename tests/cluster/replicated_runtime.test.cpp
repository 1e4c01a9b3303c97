// annals -- tests: three runtimes in one process, each with its own LMDB
// journal and replicator, driven by a partition map as the controller would
// write it. Commands are acknowledged only once a majority holds them; a
// failover ends the old leader's held replies `outcome_unknown` and
// truncates what it alone had; followers' subscriptions never see past the
// high watermark.
#include "annals/errc.hpp"
#include "annals/render.hpp"
#include "annals/runtime.hpp"

#include "await.hpp"
#include "control/partition_map.hpp"
#include "replicated/replicator_actor.hpp"
#include "runtime_fixture.hpp"
#include "sample_account.hpp"
#include "temp_dir.hpp"

#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <mutex>

using namespace annals;
using namespace annals::cluster;
using namespace sample;
using annals::testing::await;

namespace {

constexpr uint32_t partitions = 8;

cluster::detail::replicator_config make_config(const std::string& name) {
  cluster::detail::replicator_config rc;
  rc.self = name;
  return rc;
}

struct one_node {
  std::string name;
  annals::testing::temp_dir dir;
  std::unique_ptr<runtime> rt;
  caf::actor replicator;
};

struct three_runtimes {
  three_runtimes() : sys(conf) {
    for (int i = 0; i < 3; ++i) {
      auto& n = nodes.emplace_back(std::make_unique<one_node>());
      n->name = "n" + std::to_string(i);
      runtime_config rc;
      rc.journal.partitions = partitions;
      rc.journal.sync = durability::unsafe_no_sync;
      rc.command_timeout = std::chrono::seconds{10};
      rc.data_dir = n->dir.path();
      auto rt = runtime::start(sys, rc);
      REQUIRE(rt);
      n->rt = std::move(*rt);
      n->replicator = cluster::detail::spawn_replicator(
        sys, *n->rt, make_config(n->name), caf::actor{});
    }
    connect_all();
    map.version = 0;
    map.rf = 3;
    for (auto& n : nodes)
      map.members.push_back(
        {n->name, n->rt->store().incarnation(), "127.0.0.1:0", {}});
    map.partitions.resize(partitions);
    for (partition_id p = 0; p < partitions; ++p) {
      auto& a = map.partitions[p];
      a.epoch = 1;
      a.leader = nodes[p % 3]->name;
      for (auto& n : nodes)
        a.replicas.push_back({n->name, n->rt->store().incarnation()});
    }
    publish();
  }

  ~three_runtimes() {
    // Replicators use their runtime: they go first.
    caf::scoped_actor self{sys};
    for (auto& n : nodes) {
      self->monitor(n->replicator);
      self->send_exit(n->replicator, caf::exit_reason::user_shutdown);
      self->receive([](const caf::down_msg&) {});
    }
    for (auto& n : nodes)
      n->rt.reset();
  }

  std::string describe(partition_id p) {
    std::string out;
    for (int i = 0; i < 3; ++i) {
      out += nodes[i]->name + ": " + std::to_string(events(i, p).size())
             + " events, visible "
             + std::to_string(nodes[i]->rt->visible_end(p)) + "; ";
      caf::scoped_actor self{sys};
      self
        ->request(nodes[i]->replicator, std::chrono::seconds(5),
                  cluster::detail::repl_status_atom::value)
        .receive(
          [&](const std::string& status) {
            auto at = status.find("\n" + std::to_string(p) + " ");
            if (status.rfind(std::to_string(p) + " ", 0) == 0)
              at = 0;
            else if (at != std::string::npos)
              ++at;
            if (at != std::string::npos)
              out += status.substr(at, status.find('\n', at) - at) + "; ";
          },
          [&](caf::error&) {});
    }
    return out;
  }

  /// Every replicator learns where the others are (or that `cut` is not
  /// reachable, and cannot reach anyone).
  void connect_all(int cut = -1) {
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        if (i != j)
          caf::anon_send(nodes[i]->replicator,
                         cluster::detail::repl_peer_atom::value, nodes[j]->name,
                         i == cut || j == cut ? caf::actor{}
                                              : nodes[j]->replicator);
  }

  void publish() {
    ++map.version;
    auto json = control::encode(map);
    for (auto& n : nodes)
      caf::anon_send(n->replicator, cluster::detail::repl_map_atom::value,
                     json);
  }

  partition_id partition_of_account(const std::string& id) const {
    return partition_of(stream_id{std::string{account::category}, id},
                        partitions);
  }

  int leader_of(const std::string& id) const {
    auto& a = map.partitions[partition_of_account(id)];
    for (int i = 0; i < 3; ++i)
      if (nodes[i]->name == a.leader)
        return i;
    return -1;
  }

  std::vector<recorded_event> events(int i, partition_id p) {
    auto all = nodes[i]->rt->store().read_partition(p, 1);
    REQUIRE(all);
    return std::move(*all);
  }

  bool replicas_agree(partition_id p) {
    auto first = events(0, p);
    return events(1, p) == first && events(2, p) == first;
  }

  annals::testing::test_config conf;
  caf::actor_system sys;
  std::vector<std::unique_ptr<one_node>> nodes;
  control::partition_map map;
};

} // namespace

TEST_CASE("a command is acknowledged once a majority holds it, and every "
          "replica ends up with the same log",
          "[replicated-runtime]") {
  three_runtimes t;
  std::vector<std::string> ids;
  for (int k = 0; k < 12; ++k)
    ids.push_back("acc-" + std::to_string(k));
  for (const auto& id : ids) {
    auto h = t.nodes[t.leader_of(id)]->rt->host<account>();
    caf::expected<ack> res = caf::error{};
    // The leader serves once it has fenced a majority: retry until then.
    REQUIRE(await([&] {
      res
        = h.ask(id, deposit{10, ""}, command_options{"cmd-" + id, {}, {}, {}});
      return static_cast<bool>(res);
    }));
  }
  for (partition_id p = 0; p < partitions; ++p) {
    auto agreed = await([&] { return t.replicas_agree(p); });
    INFO("partition " << p << ": " << t.describe(p));
    REQUIRE(agreed);
  }
  // Readers on a follower see the committed events once they are visible.
  for (const auto& id : ids) {
    auto p = t.partition_of_account(id);
    auto follower = (t.leader_of(id) + 1) % 3;
    REQUIRE(await([&] {
      return t.nodes[follower]->rt->visible_end(p)
             == t.events(follower, p).size();
    }));
  }
}

TEST_CASE("a failover ends the old leader's held replies outcome_unknown and "
          "truncates what only it had",
          "[replicated-runtime]") {
  three_runtimes t;
  std::string id = "acc-7";
  auto p = t.partition_of_account(id);
  auto old = t.leader_of(id);
  auto h = t.nodes[old]->rt->host<account>();
  REQUIRE(await([&] { return static_cast<bool>(h.ask(id, deposit{1, ""})); }));
  // Cut the leader off: its next command commits locally and waits.
  t.connect_all(old);
  auto held = std::async(std::launch::async, [&] {
    return h.ask(id, deposit{100, ""}, command_options{"lost", {}, {}, {}});
  });
  REQUIRE(await([&] {
    return t.events(old, p).size() > t.events((old + 1) % 3, p).size();
  }));
  CHECK(held.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
  // The controller appoints another replica at epoch 2.
  auto next = (old + 1) % 3;
  t.map.partitions[p].epoch = 2;
  t.map.partitions[p].leader = t.nodes[next]->name;
  t.publish();
  auto h2 = t.nodes[next]->rt->host<account>();
  caf::expected<ack> served = caf::error{};
  REQUIRE(await([&] {
    served = h2.ask(id, deposit{5, ""});
    return static_cast<bool>(served);
  }));
  // The old leader hears of epoch 2 when it is reachable again.
  t.connect_all();
  REQUIRE(held.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto res = held.get();
  INFO(t.describe(p));
  REQUIRE_FALSE(res);
  INFO(render(res.error()));
  CHECK(is(res.error(), errc::outcome_unknown));
  REQUIRE(await([&] { return t.replicas_agree(p); }));
  // Its unreplicated deposit is gone everywhere; a retry runs once.
  CHECK(t.nodes[old]->rt->store().find_command(
          stream_id{std::string{account::category}, id}, "lost")
        == std::nullopt);
  auto retry
    = h2.ask(id, deposit{100, ""}, command_options{"lost", {}, {}, {}});
  REQUIRE(retry);
  auto again
    = h2.ask(id, deposit{100, ""}, command_options{"lost", {}, {}, {}});
  REQUIRE(again);
  CHECK(again->duplicate);
  auto balance = h2.ask(id, get_balance{});
  REQUIRE(balance);
  CHECK(*balance == 106);
}
