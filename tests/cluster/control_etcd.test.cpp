// annals -- the control plane's controller and map watcher
// (cluster/src/control) against real etcd 3.4 members on loopback.
#include "control/control_errc.hpp"
#include "control/controller.hpp"
#include "control/map_watcher.hpp"
#include "etcd/etcd_errc.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd_harness.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>

using namespace annals::cluster::control;
using annals::partition_id;
using annals::cluster::etcd::client;
using annals::cluster::etcd::lease_keeper;
using annals::testing::await;
using annals::testing::etcd_cluster;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr plan_config test_plan{16, 3, 64};

/// One annals node's control-plane side: its lease and its controller.
struct test_node {
  std::string name;
  std::unique_ptr<lease_keeper> keeper;
  std::unique_ptr<controller> ctl;

  test_node(const client& c, std::string n, std::chrono::seconds ttl = 2s,
            int incarnation = 1)
    : name(std::move(n)) {
    auto k = lease_keeper::start(c, ttl, [](caf::error) {});
    REQUIRE(k);
    keeper = std::move(*k);
    ctl = std::make_unique<controller>(
      c, controller_config{"test", name, test_plan}, keeper->id());
    registration reg{name + "-" + std::to_string(incarnation),
                     "127.0.0.1:" + std::to_string(7000 + name.size()),
                     member_intent::serve};
    REQUIRE(!ctl->register_member(reg));
  }
};

step_result must_step(controller& ctl) {
  auto res = ctl.step();
  if (!res)
    FAIL(describe(res.error()));
  return std::move(*res);
}

/// Maps and errors a watcher delivered, collected from its thread.
struct watch_record {
  std::mutex mtx;
  std::vector<uint64_t> versions;
  std::vector<int64_t> revisions;
  std::vector<caf::error> errors;

  map_watcher::map_handler on_map() {
    return [this](const map_read& x) {
      std::lock_guard guard{mtx};
      versions.push_back(x.map.version);
      revisions.push_back(x.mod_revision);
    };
  }

  map_watcher::error_handler on_error() {
    return [this](const caf::error& err) {
      std::lock_guard guard{mtx};
      errors.push_back(err);
    };
  }

  bool saw_version(uint64_t v) {
    std::lock_guard guard{mtx};
    return std::find(versions.begin(), versions.end(), v) != versions.end();
  }

  bool saw_error(control_errc code) {
    std::lock_guard guard{mtx};
    return std::any_of(errors.begin(), errors.end(),
                       [code](const auto& e) { return is(e, code); });
  }
};

/// Writes `m` with its version raised by one (retrying through etcd
/// leader changes; a write whose outcome was unknown is read back).
partition_map write_next(controller& ctl, partition_map m) {
  ++m.version;
  bool done = await(
    [&] {
      auto cur = ctl.read_map();
      if (!cur || !*cur)
        return false;
      if ((*cur)->map.version == m.version)
        return true;
      return static_cast<bool>(ctl.write_map(m, (*cur)->mod_revision));
    },
    5s);
  REQUIRE(done);
  return m;
}

} // namespace

TEST_CASE("control: one controller is elected, another takes over once its "
          "lease expires",
          "[control][etcd]") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  test_node a{c, "a", 1s};
  test_node b{c, "b"};
  auto ra = a.ctl->campaign();
  REQUIRE(ra);
  CHECK(ra->elected);
  auto rb = b.ctl->campaign();
  REQUIRE(rb);
  CHECK_FALSE(rb->elected);
  CHECK(rb->holder == "a");
  auto again = a.ctl->campaign(); // idempotent for the holder
  REQUIRE(again);
  CHECK(again->elected);
  CHECK(is(b.ctl->step().error(), control_errc::not_controller));
  // a stops renewing (as if it crashed): its lease expires after its TTL.
  REQUIRE(!a.keeper->stop(false));
  auto t0 = steady::now();
  CHECK(await(
    [&] {
      auto r = b.ctl->campaign();
      return r && r->elected;
    },
    5s));
  CHECK(steady::now() - t0 < 4s);
  auto ra2 = a.ctl->campaign();
  REQUIRE(ra2);
  CHECK_FALSE(ra2->elected);
  CHECK(ra2->holder == "b");
  CHECK(must_step(*b.ctl).written);
}

TEST_CASE("control: a deposed controller's map write fails and changes "
          "nothing",
          "[control][etcd]") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  test_node a{c, "a"};
  test_node b{c, "b"};
  test_node d{c, "d"};
  REQUIRE(a.ctl->campaign()->elected);
  auto first = must_step(*a.ctl);
  REQUIRE(first.written);
  CHECK(first.map.version == 1);
  CHECK(first.map.rf == 3);
  // a's lease is revoked (a peer saw it die): its keys go at once.
  REQUIRE(!a.keeper->stop(true));
  REQUIRE(b.ctl->campaign()->elected);
  CHECK(is(a.ctl->step().error(), control_errc::not_controller));
  auto stale = first.map;
  ++stale.version;
  auto refused = a.ctl->write_map(stale, first.mod_revision);
  REQUIRE(!refused);
  CHECK(is(refused.error(), control_errc::conflict));
  CHECK(a.ctl->counters().conflicts == 1);
  CHECK(a.ctl->counters().map_writes == 1);
  auto now = b.ctl->read_map();
  REQUIRE(now);
  REQUIRE(*now);
  CHECK((*now)->mod_revision == first.mod_revision);
  CHECK((*now)->map == first.map);
  // The new controller fails a's partitions over.
  auto second = must_step(*b.ctl);
  CHECK(second.written);
  CHECK(second.map.version == 2);
  CHECK(second.failovers > 0);
  for (const auto& x : second.map.partitions)
    CHECK(x.leader != "a");
  // A CAS from a revision that is no longer the map's is refused too.
  auto racing = b.ctl->write_map(stale, first.mod_revision);
  CHECK(is(racing.error(), control_errc::conflict));
  auto last = b.ctl->read_map();
  REQUIRE(last);
  CHECK((*last)->map == second.map);
}

TEST_CASE("control: a failover is one etcd write, a wiped node rejoins as a "
          "learner and is promoted",
          "[control][etcd]") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  test_node n1{c, "n1"};
  test_node n2{c, "n2"};
  auto n3 = std::make_unique<test_node>(c, "n3");
  auto& ctl = *n1.ctl;
  REQUIRE(ctl.campaign()->elected);
  auto first = must_step(ctl);
  REQUIRE(first.written);
  CHECK(first.map.rf == 3);
  CHECK_FALSE(must_step(ctl).written);
  uint32_t led_by_n3 = 0;
  for (const auto& x : first.map.partitions)
    led_by_n3 += x.leader == "n3" ? 1 : 0;
  REQUIRE(led_by_n3 > 0);
  REQUIRE(!n3->keeper->stop(true));
  n3.reset();
  auto before = ctl.counters();
  auto failover = must_step(ctl);
  CHECK(failover.written);
  CHECK(failover.failovers == led_by_n3);
  CHECK(ctl.counters().map_writes == before.map_writes + 1);
  CHECK(ctl.counters().failover_writes == 1);
  CHECK(ctl.counters().failovers == led_by_n3);
  auto raw = c.get(ctl.keys().map());
  REQUIRE(raw);
  REQUIRE(raw->kvs.size() == 1);
  CHECK(raw->kvs.front().version == 2); // the map key was written twice
  CHECK(raw->kvs.front().mod_revision == failover.mod_revision);
  for (partition_id p = 0; p < test_plan.partitions; ++p) {
    const auto& x = failover.map.partitions[p];
    CHECK(x.leader != "n3");
    auto was_n3 = first.map.partitions[p].leader == "n3";
    CHECK(x.epoch == (was_n3 ? 2u : 1u));
  }
  CHECK_FALSE(must_step(ctl).written);
  // n3 returns with a wiped data directory (incarnation 2).
  test_node n3b{c, "n3", 2s, 2};
  auto rejoin = must_step(ctl);
  CHECK(rejoin.written);
  CHECK(rejoin.failovers == 0);
  CHECK(ctl.counters().failover_writes == 1);
  const auto& p0 = rejoin.map.partitions[0];
  REQUIRE(p0.learners.size() == 1);
  CHECK(p0.learners.front() == replica_ref{"n3", "n3-2"});
  CHECK(is(ctl.promote(0, "n3", "n3-1").error(), control_errc::not_a_learner));
  auto promoted = ctl.promote(0, "n3", "n3-2");
  REQUIRE(promoted);
  CHECK(promoted->map.partitions[0].learners.empty());
  CHECK(promoted->map.partitions[0].epoch == p0.epoch + 1);
  CHECK(promoted->map.version == rejoin.map.version + 1);
  CHECK_FALSE(must_step(ctl).written);
}

TEST_CASE("control: the map watcher delivers each new map and re-reads "
          "after its watch stream is lost",
          "[control][etcd]") {
  etcd_cluster etcd{3};
  // The controller avoids member 0, which the watcher uses first.
  auto writer = etcd.make_client(1s, {etcd.endpoint(1), etcd.endpoint(2)});
  test_node n1{writer, "n1", 5s};
  REQUIRE(n1.ctl->campaign()->elected);
  watch_record seen;
  map_watcher watcher{etcd.make_client(), cluster_keys{"test"}, seen.on_map(),
                      seen.on_error(), 10s};
  auto m = must_step(*n1.ctl).map;
  CHECK(await([&] { return seen.saw_version(1); }, 3s));
  for (int i = 0; i < 3; ++i) {
    m = write_next(*n1.ctl, m);
    CHECK(await([&] { return seen.saw_version(m.version); }, 3s));
  }
  CHECK(watcher.watches_started() == 1);
  // The poll interval is 10 s: only the watch (or its end) prompts these.
  etcd.kill(0);
  m = write_next(*n1.ctl, m);
  CHECK(await([&] { return seen.saw_version(m.version); }, 5s));
  CHECK(await([&] { return watcher.watches_started() >= 2; }, 3s));
  m = write_next(*n1.ctl, m);
  CHECK(await([&] { return seen.saw_version(m.version); }, 3s));
  watcher.stop();
  std::lock_guard guard{seen.mtx};
  CHECK(seen.versions == std::vector<uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK(std::is_sorted(seen.revisions.begin(), seen.revisions.end()));
}

TEST_CASE("control: a malformed map in etcd is a clear error and is never "
          "overwritten",
          "[control][etcd]") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  test_node n1{c, "n1"};
  REQUIRE(n1.ctl->campaign()->elected);
  watch_record seen;
  map_watcher watcher{c, n1.ctl->keys(), seen.on_map(), seen.on_error(), 10s};
  auto key = n1.ctl->keys().map();
  REQUIRE(c.put(key, "{\"format\":1,\"version\":"));
  auto read = n1.ctl->read_map();
  REQUIRE(!read);
  CHECK(is(read.error(), control_errc::malformed_value));
  CHECK(describe(read.error()).find("mod revision") != std::string::npos);
  auto step = n1.ctl->step();
  REQUIRE(!step);
  CHECK(is(step.error(), control_errc::malformed_value));
  CHECK(c.get(key)->kvs.front().value == "{\"format\":1,\"version\":");
  CHECK(
    await([&] { return seen.saw_error(control_errc::malformed_value); }, 3s));
  REQUIRE(c.put(key, "{\"format\":3}"));
  CHECK(is(n1.ctl->step().error(), control_errc::unknown_format));
  CHECK(
    await([&] { return seen.saw_error(control_errc::unknown_format); }, 3s));
  CHECK(n1.ctl->counters().map_writes == 0);
  // Repaired by an operator (deleted): the controller writes a first map.
  REQUIRE(c.erase(key));
  CHECK(must_step(*n1.ctl).written);
  CHECK(await([&] { return seen.saw_version(1); }, 3s));
  // A registration that does not decode is left out and counted.
  REQUIRE(c.put(n1.ctl->keys().member("junk"), "junk", n1.keeper->id()));
  CHECK_FALSE(must_step(*n1.ctl).written);
  CHECK(n1.ctl->counters().malformed_members == 1);
}

TEST_CASE("control: a suspected member fails over at once, a suspected node "
          "the map does not list still joins",
          "[control][etcd]") {
  etcd_cluster etcd;
  auto c = etcd.make_client();
  test_node n1{c, "n1"};
  test_node n2{c, "n2"};
  test_node n3{c, "n3"};
  auto& ctl = *n1.ctl;
  REQUIRE(ctl.campaign()->elected);
  auto first = must_step(ctl);
  REQUIRE(first.written);
  uint32_t led_by_n2 = 0;
  for (const auto& x : first.map.partitions)
    led_by_n2 += x.leader == "n2" ? 1 : 0;
  REQUIRE(led_by_n2 > 0);
  // n2 is live in etcd, but this node lost its connection: failed over.
  auto res = ctl.step({"n2"});
  REQUIRE(res);
  CHECK(res->written);
  CHECK(res->failovers == led_by_n2);
  for (const auto& x : res->map.partitions)
    CHECK(x.leader != "n2");
  // n4 registers while this node still suspects a connection of its
  // previous life (nobody dials a node the map does not list, so nothing
  // would clear that): it joins anyway.
  test_node n4{c, "n4"};
  auto joined = ctl.step({"n2", "n4"});
  REQUIRE(joined);
  CHECK(joined->written);
  CHECK(joined->map.find_member("n4") != nullptr);
}
