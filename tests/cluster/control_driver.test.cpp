// annals -- the control driver (cluster/src/replicated/control_driver):
// three nodes' drivers over one real etcd 3.4 member on loopback.
#include "replicated/control_driver.hpp"

#include "control/control_errc.hpp"
#include "control/keys.hpp"
#include "etcd/etcd_errc.hpp"
#include "etcd_harness.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace annals::cluster::control;
using annals::testing::await;
using annals::testing::etcd_cluster;
using annals::testing::free_port;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr plan_config test_plan{16, 3, 64};

/// What one driver handed out, collected from its threads.
struct probe {
  std::mutex mtx;
  std::vector<partition_map> maps;
  std::vector<std::string> jsons;
  std::vector<std::string> lines;

  control_driver::map_handler on_map() {
    return [this](const partition_map& m, std::string json) {
      std::lock_guard guard{mtx};
      maps.push_back(m);
      jsons.push_back(std::move(json));
    };
  }

  control_driver::status_handler on_status() {
    return [this](const std::string& line) {
      std::lock_guard guard{mtx};
      lines.push_back(line);
    };
  }

  std::optional<partition_map> last() {
    std::lock_guard guard{mtx};
    if (maps.empty())
      return std::nullopt;
    return maps.back();
  }

  size_t delivered() {
    std::lock_guard guard{mtx};
    return maps.size();
  }

  bool logged(const std::string& part) {
    std::lock_guard guard{mtx};
    for (const auto& line : lines)
      if (line.find(part) != std::string::npos)
        return true;
    return false;
  }

  /// Every delivered JSON decodes to the map delivered with it, and
  /// versions only grow.
  bool consistent() {
    std::lock_guard guard{mtx};
    for (size_t i = 0; i < maps.size(); ++i) {
      auto decoded = decode_partition_map(jsons[i]);
      if (!decoded || *decoded != maps[i])
        return false;
      if (i > 0 && maps[i].version <= maps[i - 1].version)
        return false;
    }
    return true;
  }
};

driver_config make_config(const etcd_cluster& etcd, const std::string& name) {
  driver_config cfg;
  cfg.etcd.endpoints = etcd.endpoints();
  cfg.etcd.deadline = 500ms;
  cfg.controller = controller_config{"test", name, test_plan};
  cfg.self
    = registration{name + "-inc1", "127.0.0.1:7000", member_intent::serve};
  cfg.bootstrap_members = 3;
  return cfg;
}

/// Three drivers n0, n1, n2 over `etcd`.
struct three_nodes {
  std::vector<std::string> names{"n0", "n1", "n2"};
  std::vector<std::unique_ptr<probe>> probes;
  std::vector<std::unique_ptr<control_driver>> drivers;

  explicit three_nodes(const etcd_cluster& etcd) {
    for (const auto& name : names) {
      probes.push_back(std::make_unique<probe>());
      auto d = control_driver::start(make_config(etcd, name),
                                     probes.back()->on_map(),
                                     probes.back()->on_status());
      if (!d)
        FAIL("start " << name << ": " << describe(d.error()));
      drivers.push_back(std::move(*d));
    }
  }

  /// Index of the single driver that reports itself controller, if the
  /// live drivers agree on it.
  std::optional<size_t> controller() {
    std::optional<size_t> found;
    std::set<std::string> holders;
    for (size_t i = 0; i < drivers.size(); ++i) {
      if (!drivers[i])
        continue;
      auto st = drivers[i]->status();
      holders.insert(st.controller);
      if (st.is_controller) {
        if (found)
          return std::nullopt;
        found = i;
      }
    }
    if (!found || holders.size() != 1 || *holders.begin() != names[*found])
      return std::nullopt;
    return found;
  }

  /// The map every live driver delivered last, if they agree and `pred`
  /// holds for it.
  template <class Pred>
  std::optional<partition_map> agreed_map(Pred pred) {
    std::optional<partition_map> out;
    for (size_t i = 0; i < drivers.size(); ++i) {
      if (!drivers[i])
        continue;
      auto m = probes[i]->last();
      if (!m || !pred(*m) || (out && *out != *m))
        return std::nullopt;
      out = std::move(m);
    }
    return out;
  }
};

bool fully_replicated(const partition_map& m) {
  if (m.members.size() != 3 || m.rf != 3
      || m.partitions.size() != test_plan.partitions)
    return false;
  for (const auto& p : m.partitions)
    if (p.replicas.size() != 3 || !p.learners.empty())
      return false;
  return true;
}

} // namespace

TEST_CASE("control driver: three nodes elect one controller and all follow "
          "one map with every node a voter",
          "[control][driver][etcd]") {
  etcd_cluster etcd;
  three_nodes nodes{etcd};
  std::optional<partition_map> map;
  REQUIRE(await(
    [&] {
      map = nodes.agreed_map(fully_replicated);
      return map && nodes.controller();
    },
    5s));
  // The bootstrap waited for all three: the first map already has them.
  CHECK(map->version == 1);
  for (const auto& member : map->members)
    CHECK(member.incarnation == member.name + "-inc1");
  auto ctl = *nodes.controller();
  for (size_t i = 0; i < 3; ++i) {
    CHECK(nodes.probes[i]->consistent());
    auto st = nodes.drivers[i]->status();
    CHECK(st.lease_alive);
    CHECK(st.leases_granted == 1);
    CHECK(st.map_version == 1);
    CHECK(st.is_controller == (i == ctl));
  }
  auto other = (ctl + 1) % 3;
  // promote: refused by a node that is not controller, forwarded by the
  // controller (whose controller refuses an unknown learner).
  auto refused = nodes.drivers[other]->promote(0, "n9", "n9-inc1");
  REQUIRE(!refused);
  CHECK(is(refused.error(), control_errc::not_controller));
  auto forwarded = nodes.drivers[ctl]->promote(0, "n9", "n9-inc1");
  REQUIRE(!forwarded);
  CHECK(is(forwarded.error(), control_errc::not_a_learner));
  // A planned leave is registered; the controller shrinks the replica sets
  // (RF 3 of 2 serving members is 2) and then drops the leaving member.
  REQUIRE(!nodes.drivers[other]->leave());
  auto name = nodes.names[other];
  CHECK(await(
    [&] {
      return static_cast<bool>(nodes.agreed_map([&](const partition_map& m) {
        if (m.find_member(name) != nullptr || m.rf != 2)
          return false;
        for (const auto& p : m.partitions)
          if (p.replicas.size() != 2)
            return false;
        return true;
      }));
    },
    5s));
}

TEST_CASE("control driver: stopping the controller's driver revokes its "
          "lease and another node fails its partitions over at once",
          "[control][driver][etcd]") {
  etcd_cluster etcd;
  three_nodes nodes{etcd};
  std::optional<partition_map> before;
  REQUIRE(await(
    [&] {
      before = nodes.agreed_map(fully_replicated);
      return before && nodes.controller();
    },
    5s));
  auto ctl = *nodes.controller();
  auto stopped = nodes.names[ctl];
  auto t0 = steady::now();
  nodes.drivers[ctl]->stop();
  nodes.drivers[ctl]->stop(); // idempotent
  // Without a lease: no promote, and a leave cannot reach etcd.
  auto promoted = nodes.drivers[ctl]->promote(0, "n9", "n9-inc1");
  REQUIRE(!promoted);
  CHECK(is(promoted.error(), control_errc::not_controller));
  CHECK(is(nodes.drivers[ctl]->leave(),
           annals::cluster::etcd::etcd_errc::unavailable));
  nodes.drivers[ctl].reset();
  // Revoked, not expired: the registration is gone at once.
  auto c = etcd.make_client();
  auto reg = c.get(cluster_keys{"test"}.member(stopped));
  REQUIRE(reg);
  CHECK(reg->kvs.empty());
  std::optional<partition_map> after;
  CHECK(await(
    [&] {
      after = nodes.agreed_map([&](const partition_map& m) {
        for (const auto& p : m.partitions)
          if (p.leader == stopped)
            return false;
        return true;
      });
      return after && nodes.controller();
    },
    3s));
  CHECK(steady::now() - t0 < 3s);
  REQUIRE(after);
  CHECK(*nodes.controller() != ctl);
  for (size_t p = 0; p < after->partitions.size(); ++p) {
    const auto& was = before->partitions[p];
    const auto& now = after->partitions[p];
    CHECK(now.leader != stopped);
    CHECK(now.replicas == was.replicas); // a failover, no re-replication
    CHECK(now.epoch == (was.leader == stopped ? was.epoch + 1 : was.epoch));
  }
}

TEST_CASE("control driver: after an etcd outage longer than the lease the "
          "nodes re-register with the same incarnation and nothing fails "
          "over",
          "[control][driver][etcd]") {
  etcd_cluster etcd;
  three_nodes nodes{etcd};
  std::optional<partition_map> before;
  REQUIRE(await(
    [&] {
      before = nodes.agreed_map(fully_replicated);
      return before && nodes.controller();
    },
    5s));
  std::vector<size_t> delivered;
  for (auto& p : nodes.probes)
    delivered.push_back(p->delivered());
  etcd.kill(0);
  // Every keeper notices after its TTL (2 s) without a keep-alive.
  REQUIRE(await(
    [&] {
      for (auto& d : nodes.drivers)
        if (d->status().leases_lost != 1)
          return false;
      return true;
    },
    5s));
  uint64_t steps_down = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto st = nodes.drivers[i]->status();
    CHECK(!st.lease_alive);
    CHECK(st.lease == 0);
    CHECK(!st.is_controller);
    steps_down += st.steps;
    // The last map stays in force: nothing new was delivered.
    CHECK(nodes.probes[i]->delivered() == delivered[i]);
    CHECK(nodes.probes[i]->logged("lost"));
  }
  etcd.restart(0);
  etcd.await_all();
  // New leases, registrations on them, a controller that stepped again.
  REQUIRE(await(
    [&] {
      uint64_t steps = 0;
      for (auto& d : nodes.drivers) {
        auto st = d->status();
        if (!st.lease_alive || st.leases_granted != 2)
          return false;
        steps += st.steps;
      }
      return nodes.controller() && steps > steps_down;
    },
    8s));
  auto c = etcd.make_client();
  cluster_keys keys{"test"};
  for (size_t i = 0; i < 3; ++i) {
    auto reg = c.get(keys.member(nodes.names[i]));
    REQUIRE(reg);
    REQUIRE(reg->kvs.size() == 1);
    CHECK(reg->kvs[0].lease == nodes.drivers[i]->status().lease);
    auto decoded = decode_registration(reg->kvs[0].value);
    REQUIRE(decoded);
    CHECK(decoded->incarnation == nodes.names[i] + "-inc1");
  }
  auto now = c.get(keys.map());
  REQUIRE(now);
  REQUIRE(now->kvs.size() == 1);
  auto after = decode_partition_map(now->kvs[0].value);
  REQUIRE(after);
  CHECK(after->version >= before->version);
  for (size_t p = 0; p < after->partitions.size(); ++p) {
    CHECK(after->partitions[p].epoch == before->partitions[p].epoch);
    CHECK(after->partitions[p].leader == before->partitions[p].leader);
  }
  for (auto& p : nodes.probes)
    CHECK(p->consistent());
}

TEST_CASE("control driver: an unusable configuration or an unreachable etcd "
          "is a clear error from start",
          "[control][driver]") {
  driver_config cfg;
  cfg.controller = controller_config{"test", "n0", test_plan};
  cfg.self = registration{"n0-inc1", "127.0.0.1:7000", member_intent::serve};
  auto start = [](driver_config x) {
    return control_driver::start(std::move(x), nullptr, nullptr);
  };
  SECTION("no endpoints") {
    auto d = start(cfg);
    REQUIRE(!d);
    CHECK(is(d.error(), control_errc::invalid_argument));
    CHECK_THAT(describe(d.error()), Catch::Contains("no etcd endpoints"));
  }
  cfg.etcd.endpoints = {"127.0.0.1:" + std::to_string(free_port())};
  cfg.etcd.deadline = 300ms;
  SECTION("an empty node name") {
    cfg.controller.self.clear();
    auto d = start(cfg);
    REQUIRE(!d);
    CHECK(is(d.error(), control_errc::invalid_argument));
    CHECK_THAT(describe(d.error()), Catch::Contains("empty node name"));
  }
  SECTION("an empty incarnation") {
    cfg.self.incarnation.clear();
    auto d = start(cfg);
    REQUIRE(!d);
    CHECK_THAT(describe(d.error()), Catch::Contains("empty incarnation"));
  }
  SECTION("zero partitions") {
    cfg.controller.plan.partitions = 0;
    auto d = start(cfg);
    REQUIRE(!d);
    CHECK_THAT(describe(d.error()), Catch::Contains("zero partitions"));
  }
  SECTION("an endpoint that is not host:port") {
    cfg.etcd.endpoints = {"not an endpoint"};
    auto d = start(cfg);
    REQUIRE(!d);
    CHECK(is(d.error(), annals::cluster::etcd::etcd_errc::invalid_argument));
  }
  SECTION("nothing listens at the endpoint") {
    auto t0 = steady::now();
    auto d = start(cfg);
    REQUIRE(!d);
    CHECK((is(d.error(), annals::cluster::etcd::etcd_errc::unavailable)
           || is(d.error(), annals::cluster::etcd::etcd_errc::timeout)));
    CHECK(steady::now() - t0 < 2s);
  }
}
