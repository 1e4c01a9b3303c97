// annals -- the control plane's planner (cluster/src/control/planner.hpp):
// pure functions, no etcd.
#include "annals/cluster/ring.hpp"

#include "control/control_errc.hpp"
#include "control/planner.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

using namespace annals::cluster::control;
using annals::partition_id;
using annals::cluster::ring;

namespace {

constexpr plan_config cfg{32, 3, 64};

live_member node(const std::string& name, int incarnation = 1,
                 member_intent intent = member_intent::serve) {
  return {name, name + "-" + std::to_string(incarnation), name + ":7000",
          intent};
}

plan_result run(const std::optional<partition_map>& current,
                std::vector<live_member> live, plan_config c = cfg) {
  auto res = plan(current, std::move(live), c);
  if (!res)
    FAIL(describe(res.error()));
  REQUIRE(!validate(res->map));
  return std::move(*res);
}

partition_map promote(const partition_map& m, partition_id p,
                      const replica_ref& learner) {
  auto res
    = promote_learner(m, p, learner.node, learner.incarnation, cfg.vnodes);
  if (!res)
    FAIL(describe(res.error()));
  return std::move(*res);
}

std::vector<std::string> nodes_of(const std::vector<replica_ref>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs)
    out.push_back(r.node);
  return out;
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// Every partition's leader reports its voters settled.
partition_map mark_settled(const partition_map& m) {
  std::vector<settled_epoch> reports;
  for (partition_id p = 0; p < m.partitions.size(); ++p)
    reports.push_back({p, m.partitions[p].leader, m.partitions[p].epoch});
  auto res = settle(m, reports);
  if (!res)
    FAIL(describe(res.error()));
  return std::move(res->map);
}

/// Promotes the first learner of every partition, lets the leaders report
/// settled, plans again (removing voters the ring dropped), and settles
/// again, until the map has no learners and no extra voters left.
partition_map converge(partition_map m, const std::vector<live_member>& live) {
  for (int round = 0; round < 8; ++round) {
    bool any = false;
    for (partition_id p = 0; p < m.partitions.size(); ++p) {
      if (!m.partitions[p].learners.empty()) {
        m = promote(m, p, m.partitions[p].learners.front());
        any = true;
      }
    }
    m = run(mark_settled(m), live).map;
    m = mark_settled(m);
    if (!any)
      return m;
  }
  FAIL("the map did not converge");
  return m;
}

} // namespace

TEST_CASE("control: ring successors are distinct and start at the owner",
          "[control][planner]") {
  ring r{64};
  for (auto n : {"a", "b", "c", "d", "e"})
    r.add(n);
  for (partition_id p = 0; p < 64; ++p) {
    auto three = r.successors(p, 3);
    REQUIRE(three.size() == 3);
    CHECK(three.front() == r.owner(p));
    CHECK(std::set<std::string>(three.begin(), three.end()).size() == 3);
    auto all = r.successors(p, 10);
    CHECK(all.size() == 5);
    CHECK(std::equal(three.begin(), three.end(), all.begin()));
  }
  CHECK(ring{}.successors(0, 3).empty());
}

TEST_CASE("control: the first map clamps RF to the members (3, 2, 1 nodes)",
          "[control][planner]") {
  for (size_t n = 1; n <= 5; ++n) {
    std::vector<live_member> live;
    for (size_t i = 0; i < n; ++i)
      live.push_back(node("n" + std::to_string(i)));
    auto res = run(std::nullopt, live);
    CHECK(res.changed);
    const auto& m = res.map;
    CHECK(m.version == 1);
    CHECK(m.rf == std::min<size_t>(n, 3));
    CHECK(m.members.size() == n);
    REQUIRE(m.partitions.size() == cfg.partitions);
    for (partition_id p = 0; p < cfg.partitions; ++p) {
      const auto& x = m.partitions[p];
      CHECK(x.epoch == 1);
      CHECK(nodes_of(x.replicas) == target_replicas(m, p, cfg.vnodes));
      CHECK(x.leader == x.replicas.front().node);
      CHECK(x.learners.empty());
      for (const auto& r : x.replicas)
        CHECK(r.incarnation == r.node + "-1");
    }
  }
}

TEST_CASE("control: bad planner inputs are errors", "[control][planner]") {
  using e = control_errc;
  CHECK(is(plan(std::nullopt, {}, cfg).error(), e::no_members));
  CHECK(
    is(plan(std::nullopt, {node("a", 1, member_intent::leave)}, cfg).error(),
       e::no_members));
  CHECK(is(plan(std::nullopt, {node("a"), node("a", 2)}, cfg).error(),
           e::invalid_argument));
  CHECK(is(plan(std::nullopt, {live_member{"", "i", "x"}}, cfg).error(),
           e::invalid_argument));
  CHECK(is(plan(std::nullopt, {node("a")}, plan_config{0, 3, 64}).error(),
           e::invalid_argument));
  CHECK(is(plan(std::nullopt, {node("a")}, plan_config{8, 0, 64}).error(),
           e::invalid_argument));
  auto m = run(std::nullopt, {node("a")}).map;
  CHECK(is(plan(m, {node("a")}, plan_config{8, 3, 64}).error(),
           e::invalid_argument));
  auto broken = m;
  broken.partitions[0].leader = "zz";
  CHECK(is(plan(broken, {node("a")}, cfg).error(), e::malformed_value));
  CHECK(
    is(promote_learner(m, 99, "a", "a-1", 64).error(), e::invalid_argument));
  CHECK(is(promote_learner(m, 0, "a", "a-1", 64).error(), e::not_a_learner));
}

TEST_CASE("control: planning is deterministic and idempotent",
          "[control][planner]") {
  std::vector<live_member> live{node("c"), node("a"), node("e"), node("b"),
                                node("d")};
  auto first = run(std::nullopt, live).map;
  std::reverse(live.begin(), live.end());
  CHECK(run(std::nullopt, live).map == first);
  std::rotate(live.begin(), live.begin() + 2, live.end());
  auto again = run(first, live);
  CHECK_FALSE(again.changed);
  CHECK(again.map == first);
  CHECK(again.map.version == 1);
  // The same failover from two member orders gives the same map.
  std::vector<live_member> without_b{node("e"), node("a"), node("d"),
                                     node("c")};
  auto x = run(first, without_b).map;
  std::sort(without_b.begin(), without_b.end(),
            [](const auto& l, const auto& r) { return l.name < r.name; });
  CHECK(run(first, without_b).map == x);
}

TEST_CASE("control: a dead leader fails over to the ring's first live voter "
          "at epoch + 1, in one map change",
          "[control][planner]") {
  std::vector<live_member> all{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, all).map;
  auto res = run(m1, {node("a"), node("b")});
  CHECK(res.changed);
  const auto& m2 = res.map;
  CHECK(m2.version == 2);
  CHECK(m2.rf == 3);
  CHECK(m2.members == m1.members); // a dead node stays a member
  uint32_t led_by_c = 0;
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& before = m1.partitions[p];
    const auto& after = m2.partitions[p];
    CHECK(after.replicas == before.replicas); // voters never change here
    CHECK(after.learners.empty());
    if (before.leader != "c") {
      CHECK(after == before);
      continue;
    }
    ++led_by_c;
    CHECK(after.epoch == before.epoch + 1);
    auto order = ring_order(m1, p, cfg.vnodes);
    order.erase(std::find(order.begin(), order.end(), "c"));
    CHECK(after.leader == order.front());
  }
  CHECK(led_by_c > 0);
  CHECK(res.failovers == led_by_c);
  // Nothing more to do while c stays away; when it returns (same disk) it
  // follows: no leader moves back, nothing changes but nothing is lost.
  CHECK_FALSE(run(m2, {node("a"), node("b")}).changed);
  CHECK_FALSE(run(m2, all).changed);
}

TEST_CASE("control: with a minority of its voters live a partition keeps "
          "its leader and epoch",
          "[control][planner]") {
  std::vector<live_member> all{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, all).map;
  auto res = run(m1, {node("a")});
  CHECK_FALSE(res.changed);
  CHECK(res.failovers == 0);
  CHECK(res.map == m1);
  // Two nodes, RF 2: losing one leaves 1 of 2 voters, not a majority.
  auto two = run(std::nullopt, {node("a"), node("b")}).map;
  CHECK(two.rf == 2);
  CHECK_FALSE(run(two, {node("b")}).changed);
}

TEST_CASE("control: a wiped replica becomes a learner, then one promotion "
          "swaps its incarnation in at epoch + 1",
          "[control][planner]") {
  std::vector<live_member> all{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, all).map;
  std::vector<live_member> wiped{node("a"), node("b"), node("c", 2)};
  auto m2 = run(m1, wiped).map;
  CHECK(m2.find_member("c")->incarnation == "c-2");
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& before = m1.partitions[p];
    const auto& after = m2.partitions[p];
    CHECK(after.replicas == before.replicas); // old incarnation still voter
    REQUIRE(after.learners.size() == 1);
    CHECK(after.learners.front() == replica_ref{"c", "c-2"});
    // a leader that came back empty is not a live voter: it failed over
    if (before.leader == "c") {
      CHECK(after.leader != "c");
      CHECK(after.epoch == before.epoch + 1);
    } else {
      CHECK(after.epoch == before.epoch);
    }
  }
  CHECK_FALSE(run(m2, wiped).changed);
  // A stale report (another incarnation) is refused.
  CHECK(is(promote_learner(m2, 0, "c", "c-1", cfg.vnodes).error(),
           control_errc::not_a_learner));
  auto m3 = promote(m2, 0, {"c", "c-2"});
  CHECK(m3.version == m2.version + 1);
  CHECK(m3.partitions[0].epoch == m2.partitions[0].epoch + 1);
  CHECK(m3.partitions[0].learners.empty());
  CHECK(m3.partitions[0].leader == m2.partitions[0].leader);
  auto slot
    = std::find(m2.partitions[0].replicas.begin(),
                m2.partitions[0].replicas.end(), replica_ref{"c", "c-1"})
      - m2.partitions[0].replicas.begin();
  CHECK(m3.partitions[0].replicas[static_cast<size_t>(slot)]
        == replica_ref{"c", "c-2"});
  for (partition_id p = 1; p < cfg.partitions; ++p)
    CHECK(m3.partitions[p] == m2.partitions[p]);
  CHECK_FALSE(run(m3, wiped).changed);
  // Wiped again before its promotion: the learner's incarnation follows.
  auto m4 = run(m3, {node("a"), node("b"), node("c", 3)}).map;
  CHECK(m4.partitions[1].learners.front() == replica_ref{"c", "c-3"});
  CHECK(m4.partitions[0].learners.front() == replica_ref{"c", "c-3"});
}

TEST_CASE("control: a joining node enters as a learner where the ring "
          "moves partitions to it, and nowhere else",
          "[control][planner]") {
  std::vector<live_member> three{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, three).map;
  auto four = three;
  four.push_back(node("d"));
  auto m2 = run(m1, four).map;
  CHECK(m2.find_member("d") != nullptr);
  uint32_t moved = 0;
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& before = m1.partitions[p];
    const auto& after = m2.partitions[p];
    CHECK(after.replicas == before.replicas);
    CHECK(after.epoch == before.epoch);
    CHECK(after.leader == before.leader);
    if (has(target_replicas(m2, p, cfg.vnodes), "d")) {
      ++moved;
      REQUIRE(after.learners.size() == 1);
      CHECK(after.learners.front() == replica_ref{"d", "d-1"});
    } else {
      CHECK(after.learners.empty());
    }
  }
  CHECK(moved > 0);
  CHECK(moved < cfg.partitions);
  // Promotion adds d as a fourth voter (epoch + 1, not settled); nothing
  // shrinks until the leader reports the new voters settled; then the
  // voter the ring dropped goes (epoch + 1 again), the leadership with it
  // to the first live voter in ring order if it led.
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    if (m2.partitions[p].learners.empty())
      continue;
    auto m3 = promote(m2, p, {"d", "d-1"});
    const auto& added = m3.partitions[p];
    CHECK(added.replicas.size() == 4);
    CHECK(added.replicas.back() == replica_ref{"d", "d-1"});
    CHECK(added.epoch == m2.partitions[p].epoch + 1);
    CHECK(added.leader == m2.partitions[p].leader);
    CHECK_FALSE(added.settled);
    CHECK_FALSE(run(m3, four).changed); // no shrink before settled
    // An unsettled partition takes no other voter change either.
    auto again = m3;
    again.partitions[p].learners.push_back({"e", "e-1"});
    again.members.push_back({"e", "e-1", "e:7000", member_intent::serve});
    CHECK(is(promote_learner(again, p, "e", "e-1", cfg.vnodes).error(),
             control_errc::not_a_learner));
    auto shrunk = run(mark_settled(m3), four).map.partitions[p];
    CHECK(shrunk.replicas.size() == 3);
    CHECK(has(nodes_of(shrunk.replicas), "d"));
    CHECK(shrunk.epoch == added.epoch + 1);
    CHECK_FALSE(shrunk.settled);
    if (has(nodes_of(shrunk.replicas), added.leader))
      CHECK(shrunk.leader == added.leader);
    break;
  }
  auto done = converge(m2, four);
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& before = m1.partitions[p];
    const auto& after = done.partitions[p];
    auto target = target_replicas(done, p, cfg.vnodes);
    auto voters = nodes_of(after.replicas);
    CHECK(std::set<std::string>(voters.begin(), voters.end())
          == std::set<std::string>(target.begin(), target.end()));
    CHECK(after.settled);
    if (!has(target, "d")) {
      CHECK(after == before);
      continue;
    }
    CHECK(after.epoch == before.epoch + 2); // one voter added, one removed
    if (has(target, before.leader))
      CHECK(after.leader == before.leader);
  }
}

TEST_CASE("control: a leaving node's replicas move away, then it is "
          "dropped from the map",
          "[control][planner]") {
  std::vector<live_member> four{node("a"), node("b"), node("c"), node("d")};
  auto m1 = run(std::nullopt, four).map;
  auto leaving = four;
  leaving[3] = node("d", 1, member_intent::leave);
  auto m2 = run(m1, leaving).map;
  CHECK(m2.find_member("d")->intent == member_intent::leave);
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    bool had_d = has(nodes_of(m1.partitions[p].replicas), "d");
    CHECK(m2.partitions[p].learners.size() == (had_d ? 1u : 0u));
    CHECK(m2.partitions[p].replicas == m1.partitions[p].replicas);
  }
  auto done = converge(m2, leaving);
  CHECK(done.find_member("d") == nullptr);
  CHECK(done.members.size() == 3);
  for (const auto& x : done.partitions)
    CHECK_FALSE(has(nodes_of(x.replicas), "d"));
}

TEST_CASE("control: a leave below the configured RF shrinks the replica "
          "sets, one voter per change",
          "[control][planner]") {
  std::vector<live_member> three{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, three).map;
  std::vector<live_member> leaving{node("a"), node("b"),
                                   node("c", 1, member_intent::leave)};
  auto m2 = run(m1, leaving).map;
  CHECK(m2.rf == 2);
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& before = m1.partitions[p];
    const auto& after = m2.partitions[p];
    CHECK(after.replicas.size() == 2);
    CHECK_FALSE(has(nodes_of(after.replicas), "c"));
    CHECK(after.epoch == before.epoch + 1);
    CHECK(after.leader
          == (before.leader == "c" ? after.leader : before.leader));
    CHECK(after.leader != "c");
  }
  CHECK(m2.find_member("c") == nullptr);
  CHECK_FALSE(run(m2, {node("a"), node("b")}).changed);
}

TEST_CASE("control: a second node raises RF from 1 to 2 through learners",
          "[control][planner]") {
  auto m1 = run(std::nullopt, {node("a")}).map;
  CHECK(m1.rf == 1);
  std::vector<live_member> two{node("a"), node("b")};
  auto m2 = run(m1, two).map;
  CHECK(m2.rf == 2);
  for (const auto& x : m2.partitions) {
    CHECK(nodes_of(x.replicas) == std::vector<std::string>{"a"});
    CHECK(x.learners == std::vector<replica_ref>{{"b", "b-1"}});
  }
  auto m3 = promote(m2, 5, {"b", "b-1"});
  CHECK(nodes_of(m3.partitions[5].replicas)
        == std::vector<std::string>{"a", "b"});
  CHECK(m3.partitions[5].leader == "a");
  CHECK(m3.partitions[5].epoch == 2);
}

TEST_CASE("control: under random membership changes epochs never decrease "
          "and each (partition, epoch) has one leader and one voter set",
          "[control][planner]") {
  // splitmix64: portable and seeded, unlike the standard distributions.
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto next = [&seed](uint64_t bound) {
    uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) % bound;
  };
  std::map<std::string, int> incarnation{{"a", 1}, {"b", 1}, {"c", 1}};
  std::map<std::string, bool> alive{{"a", true}, {"b", true}, {"c", true}};
  std::set<std::string> leaving;
  auto live = [&] {
    std::vector<live_member> out;
    for (const auto& [name, up] : alive)
      if (up)
        out.push_back(node(name, incarnation[name],
                           leaving.count(name) ? member_intent::leave
                                               : member_intent::serve));
    return out;
  };
  std::optional<partition_map> map;
  std::map<std::pair<partition_id, uint64_t>, partition_assignment> seen;
  int joined = 0;
  int voter_changes = 0;
  for (int step = 0; step < 600; ++step) {
    auto names = std::vector<std::string>{};
    for (const auto& [name, up] : alive)
      names.push_back(name);
    const auto& pick = names[next(names.size())];
    switch (next(6)) {
    case 0:
      alive[pick] = !alive[pick];
      break;
    case 1:
      ++incarnation[pick];
      break;
    case 2:
      if (joined < 3) {
        auto n = "j" + std::to_string(joined++);
        incarnation[n] = 1;
        alive[n] = true;
      }
      break;
    case 3:
      if (leaving.size() + 3 < names.size())
        leaving.insert(pick);
      break;
    default:
      break; // promote below only
    }
    std::optional<partition_map> before = map;
    if (map && next(2) == 0) {
      // Some leaders report their voters settled.
      auto p = static_cast<partition_id>(next(cfg.partitions));
      const auto& x = map->partitions[p];
      auto res = settle(*map, {{p, x.leader, x.epoch}});
      REQUIRE(res);
      map = std::move(res->map);
      before = map;
    }
    if (map && next(2) == 0) {
      auto p = static_cast<partition_id>(next(cfg.partitions));
      const auto& learners = map->partitions[p].learners;
      if (!learners.empty()) {
        auto res = promote_learner(*map, p, learners.front().node,
                                   learners.front().incarnation, cfg.vnodes);
        if (res)
          map = std::move(*res);
        else
          CHECK(is(res.error(), control_errc::not_a_learner));
      }
    }
    auto res = plan(map, live(), cfg);
    if (!res) {
      CHECK(is(res.error(), control_errc::no_members));
      continue;
    }
    REQUIRE(!validate(res->map));
    if (map) {
      CHECK(res->map.version == map->version + (res->changed ? 1 : 0));
      for (partition_id p = 0; p < cfg.partitions; ++p)
        CHECK(res->map.partitions[p].epoch >= map->partitions[p].epoch);
    }
    map = res->map;
    for (partition_id p = 0; p < cfg.partitions; ++p) {
      const auto& x = map->partitions[p];
      auto [it, fresh] = seen.emplace(std::make_pair(p, x.epoch), x);
      if (!fresh) {
        CHECK(it->second.leader == x.leader);
        CHECK(it->second.replicas == x.replicas);
      }
    }
    if (before)
      for (partition_id p = 0; p < cfg.partitions; ++p) {
        const auto& was = before->partitions[p];
        const auto& now = map->partitions[p];
        CHECK(now.epoch >= was.epoch);
        // Voters change one at a time (or one incarnation in place), and
        // only from a settled set.
        std::set<std::pair<std::string, std::string>> a, b;
        for (const auto& r : was.replicas)
          a.insert({r.node, r.incarnation});
        for (const auto& r : now.replicas)
          b.insert({r.node, r.incarnation});
        if (a == b)
          continue;
        ++voter_changes;
        std::vector<std::pair<std::string, std::string>> added, removed;
        std::set_difference(b.begin(), b.end(), a.begin(), a.end(),
                            std::back_inserter(added));
        std::set_difference(a.begin(), a.end(), b.begin(), b.end(),
                            std::back_inserter(removed));
        INFO("partition " << p << " step " << step);
        CHECK(was.settled);
        CHECK_FALSE(now.settled);
        CHECK(now.epoch > was.epoch);
        CHECK(added.size() + removed.size() >= 1);
        if (added.size() == 1 && removed.size() == 1)
          CHECK(added.front().first == removed.front().first);
        else
          CHECK(added.size() + removed.size() == 1);
      }
  }
  CHECK(seen.size() > cfg.partitions); // epochs did move
  CHECK(voter_changes > 10);
}

TEST_CASE("control: settled reports of many partitions are one map change, "
          "stale ones are skipped",
          "[control][planner]") {
  std::vector<live_member> four{node("a"), node("b"), node("c"), node("d")};
  auto m1 = run(std::nullopt, {node("a"), node("b"), node("c")}).map;
  auto m2 = run(m1, four).map;
  std::vector<settled_epoch> reports;
  for (partition_id p = 0; p < cfg.partitions; ++p)
    if (!m2.partitions[p].learners.empty()) {
      m2 = promote(m2, p, m2.partitions[p].learners.front());
      const auto& x = m2.partitions[p];
      reports.push_back({p, x.leader, x.epoch});
      reports.push_back({p, x.leader, x.epoch - 1}); // an older epoch
      reports.push_back({p, "zz", x.epoch});         // not its leader
    }
  REQUIRE(reports.size() >= 3);
  reports.push_back({999, "a", 1}); // no such partition
  auto res = settle(m2, reports);
  REQUIRE(res);
  CHECK(res->promoted == (reports.size() - 1) / 3);
  CHECK(res->map.version == m2.version + 1);
  for (const auto& x : res->map.partitions)
    CHECK(x.settled);
  auto again = settle(res->map, reports);
  REQUIRE(again);
  CHECK(again->promoted == 0);
  CHECK(again->map == res->map);
}

TEST_CASE("control: caught-up learners of many partitions are promoted in one "
          "map change, stale reports are skipped",
          "[control][planner]") {
  std::vector<live_member> all{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, all).map;
  auto m2 = run(m1, {node("a"), node("b"), node("c", 2)}).map;
  std::vector<learner_report> reports;
  for (partition_id p = 0; p < cfg.partitions; ++p)
    reports.push_back({p, "c", "c-2"});
  reports.push_back({0, "c", "c-1"});   // another incarnation: not a learner
  reports.push_back({999, "c", "c-2"}); // no such partition
  auto res = promote_learners(m2, reports, cfg.vnodes);
  REQUIRE(res);
  CHECK(res->promoted == cfg.partitions);
  CHECK(res->map.version == m2.version + 1);
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    CHECK(res->map.partitions[p].learners.empty());
    CHECK(res->map.partitions[p].epoch == m2.partitions[p].epoch + 1);
  }
  CHECK(!validate(res->map));
  // Nothing left to promote: the same map, same version.
  auto again = promote_learners(res->map, reports, cfg.vnodes);
  REQUIRE(again);
  CHECK(again->promoted == 0);
  CHECK(again->map == res->map);
  CHECK(is(promote_learners(m2, reports, 0).error(),
           control_errc::invalid_argument));
}

TEST_CASE("control: a leader that restarted after fencing its epoch is "
          "appointed again at epoch + 1 in one map change",
          "[control][planner]") {
  std::vector<live_member> all{node("a"), node("b"), node("c")};
  auto m1 = run(std::nullopt, all).map;
  std::vector<stale_appointment> reports;
  uint32_t led_by_a = 0;
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& x = m1.partitions[p];
    if (x.leader == "a") {
      reports.push_back({p, "a", x.epoch});
      ++led_by_a;
    } else {
      reports.push_back({p, "a", x.epoch}); // "a" does not lead it: skipped
    }
  }
  REQUIRE(led_by_a > 0);
  auto res = reappoint(m1, reports);
  REQUIRE(res);
  CHECK(res->promoted == led_by_a);
  CHECK(res->map.version == m1.version + 1);
  for (partition_id p = 0; p < cfg.partitions; ++p) {
    const auto& before = m1.partitions[p];
    const auto& after = res->map.partitions[p];
    CHECK(after.leader == before.leader);
    CHECK(after.replicas == before.replicas);
    CHECK(after.epoch == before.epoch + (before.leader == "a" ? 1 : 0));
  }
  // The same reports again are stale (the epoch moved on): no change.
  auto again = reappoint(res->map, reports);
  REQUIRE(again);
  CHECK(again->promoted == 0);
  CHECK(again->map == res->map);
  // The planner leaves the new epochs alone.
  CHECK_FALSE(run(res->map, all).changed);
}
