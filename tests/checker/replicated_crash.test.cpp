// annals -- crashes at named crash points (annals/failpoint.hpp) in a
// replicated cluster: 3 node processes with an etcd on loopback, every
// partition on all three, under the deposit workload (snapshots every 4
// events, a durable consumer checkpointing every 8). Each point is made to
// fire in one node, which must then die by SIGKILL of its own with the
// point's line on its stderr (a point that never fires fails the test); it
// is restarted without the point and the cluster must serve every
// partition again (one leader, both others following it at its epoch).
//
// How each point is reached:
// - under load, armed with probability 0.1 in a running node: the
//   journal's commit points, the writer's snapshot points and the
//   consumer's checkpoint in any node, the follower's group commit
//   (`annals/replica/before_group_commit`, `after_group_commit`) in one
//   that follows partitions;
// - on failover: the node leading most partitions is SIGKILLed and the
//   point armed in another, which fences every partition the dead one led
//   (`annals/replica/before_fence`, `after_fence`) and, where the planner
//   makes it their new leader, appends its epoch's marker
//   (`annals/replica/after_marker`; another pair tries if it got none);
// - on return: the node leading most partitions dies at
//   `annals/writer/after_commit` (a batch durable at home, never shipped),
//   the others take over at a new epoch, and if its journal holds entries
//   their new leaders lack (read beside them), it comes back with
//   `annals/journal/truncate` or `annals/replica/after_truncate` in
//   ANNALS_FAILPOINTS and must die cutting them.
// At the end the load stops, every replica must reach the same partition
// ends (checked in the closed journals too, beyond the markers of the
// failovers the stops cause), and the history checker must
// find nothing: every acknowledged deposit once, no second history.
#include "crash_points.hpp"
#include "replicated_cluster.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <map>

using namespace annals;
using namespace annals::testing;

namespace {

/// The node of `nodes` that leads most partitions (as `view` sees them).
node_proc* busiest_leader(const std::vector<node_proc*>& nodes,
                          node_proc& view) {
  std::map<std::string, std::size_t> led;
  for (const auto& [p, r] : replicas_of(view))
    ++led[r.leader];
  node_proc* best = nullptr;
  for (auto* n : nodes)
    if (best == nullptr || led[n->name()] > led[best->name()])
      best = n;
  return best;
}

/// Empty if `victim` ended (wait status `st`) by crash point `cp`: SIGKILL
/// and the point's line in its stderr; else what happened instead.
std::string crashed_by(const node_proc& victim, int st, const std::string& cp) {
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
    return victim.name() + " armed with " + cp + " ended with wait status "
           + std::to_string(st) + " instead of SIGKILL";
  std::ifstream in{victim.stderr_file};
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  auto line = "annals: failpoint " + cp + " fired: SIGKILL";
  if (text.find(line) == std::string::npos)
    return victim.name() + " died by SIGKILL without \"" + line + "\" in "
           + victim.stderr_file;
  return {};
}

/// Partitions in which the journal of `dead` (its process gone) holds
/// entries that their new leader's journal (`leaders`, read beside its
/// node) lacks: positions at or after the start of an epoch newer than any
/// in `dead`'s lineage of that partition. `dead` must cut them on return.
std::size_t divergent(const node_proc& dead,
                      const std::map<uint32_t, node_proc*>& leaders) {
  std::map<std::string, std::unique_ptr<journal>> open;
  auto get = [&open](const node_proc& n) -> journal& {
    auto& j = open[n.name()];
    if (!j) {
      auto r = open_lmdb_journal_read_only(n.dir());
      INFO(n.dir());
      REQUIRE(r);
      j = std::move(*r);
    }
    return *j;
  };
  auto& mine = get(dead);
  auto ends = mine.partition_ends();
  REQUIRE(ends);
  std::size_t out = 0;
  for (const auto& [p, n] : leaders) {
    auto own = mine.partition_lineage(p);
    auto theirs = get(*n).partition_lineage(p);
    REQUIRE(own);
    REQUIRE(theirs);
    auto last = own->empty() ? 0 : own->back().epoch;
    for (const auto& e : *theirs)
      if (e.epoch > last) {
        out += (*ends)[p] >= e.first ? 1 : 0;
        break;
      }
  }
  return out;
}

/// Keeps the run (history, data directories, node stderr) unless it
/// passed; declared after the temp_dir and before the nodes.
struct keep_on_failure {
  const temp_dir& tmp;
  bool passed = false;
  ~keep_on_failure() {
    if (!passed)
      keep_run(tmp, "replicated-crash");
  }
};

} // namespace

TEST_CASE("replicated: 3 nodes under load crash at every replication crash "
          "point and the journal's: no anomaly, replicas converge",
          "[checker][replicated][failpoint]") {
  if (!failpoints_built_in()) {
    WARN("skipped: built with ANNALS_FAILPOINTS=OFF");
    return;
  }
  std::signal(SIGPIPE, SIG_IGN); // a node may die while we write to it
  auto t0 = steady_clock::now();
  replicated_cluster::options opts;
  opts.name = "crash";
  opts.extra = crash_point_args();
  opts.start = false; // started below with start_logged (crash lines)
  replicated_cluster c{opts};
  auto& log = c.log;
  keep_on_failure keep{c.tmp};
  auto all = c.added();
  for (auto* n : all)
    REQUIRE(start_logged(*n, true));
  std::string why;
  {
    auto served = await_serving(all, why, std::chrono::seconds{60});
    INFO(why);
    REQUIRE(served);
  }
  std::mt19937 rng{Catch::rngSeed()};
  workload w{log, all, crash_workload(Catch::rngSeed())};
  w.start();

  std::map<std::string, std::size_t> fired;
  auto note = [&](const std::string& point, const node_proc& n,
                  const char* how) {
    ++fired[point];
    auto at = std::chrono::duration<double>(steady_clock::now() - t0).count();
    std::printf("  %5.1f s: %s crashed at %s (%s)\n", at, n.name().c_str(),
                point.c_str(), how);
  };
  auto restart_all_down = [&] {
    for (auto* n : all)
      if (!n->up())
        REQUIRE(start_logged(*n, true));
    auto ok = await_serving(all, why);
    INFO(why);
    REQUIRE(ok);
  };
  auto other_than = [&](const node_proc* x) { return except(all, x); };

  // Under load: one node, the point armed with a small probability (a
  // random commit among many). Which node: any, one that follows
  // partitions, or the one that leads most (the writer's points).
  enum class role { any, follower, leader };
  auto load_crash = [&](const std::string& point, role r) {
    REQUIRE(w.await_acks(20 + rng() % 40));
    auto* busiest = busiest_leader(all, *all[0]);
    auto* victim = r == role::leader     ? busiest
                   : r == role::follower ? other_than(busiest)[rng() % 2]
                                         : all[rng() % all.size()];
    INFO("crash point " << point << " in " << victim->name());
    REQUIRE(arm(*victim, {point, trigger::load, 0.1}));
    auto why_not = await_crash(*victim, {point, trigger::load, 0.1},
                               std::chrono::seconds{20});
    INFO(why_not);
    REQUIRE(why_not.empty());
    note(point, *victim, "under load");
    restart_all_down();
  };

  // Failover: the busiest leader is SIGKILLed with `point` armed in one of
  // the others, which fences every partition the dead one led (as their
  // new leader or as a voter the new leader needs). It appends a marker
  // only where the planner makes it the new leader; if the two serve
  // every partition and it never did, another pair tries.
  auto failover_crash = [&](const std::string& point) {
    for (int attempt = 0; attempt < 4; ++attempt) {
      REQUIRE(w.await_acks(20 + rng() % 40));
      auto* dead = busiest_leader(all, *all[0]);
      auto two = other_than(dead);
      auto* v = two[rng() % 2];
      INFO("crash point " << point << " in " << v->name() << " after killing "
                          << dead->name() << ", attempt " << attempt);
      REQUIRE(arm(*v, {point, trigger::load, 1.0}));
      dead->kill();
      auto deadline = steady_clock::now() + std::chrono::seconds{30};
      bool took_over = false;
      while (!took_over && steady_clock::now() < deadline) {
        if (auto st = v->await_exit(std::chrono::milliseconds{100})) {
          auto why_not = crashed_by(*v, *st, point);
          INFO(why_not);
          REQUIRE(why_not.empty());
          note(point, *v, ("failover from " + dead->name()).c_str());
          restart_all_down();
          return;
        }
        took_over = serving(two, why);
      }
      INFO(why);
      REQUIRE(took_over);
      std::printf("  %s took over from %s without passing %s\n",
                  v->name().c_str(), dead->name().c_str(), point.c_str());
      REQUIRE(v->ask("pass " + point, "PASS"));
      restart_all_down();
    }
    FAIL("no failover passed " << point << " in 4 attempts");
  };

  // Return with a suffix to cut: the busiest leader dies right after a
  // commit of its own writer (never shipped), the others serve its
  // partitions at a new epoch, and it restarts with `point` armed from the
  // start. It must cut where its journal holds entries its partitions' new
  // leaders lack; if that batch stored nothing new (snapshots only, or
  // resent commands: about half the time, as clients retry their unknown
  // commands after each crash), it restarts plainly and the busiest leader
  // tries again (16 times at most).
  auto truncate_crash = [&](const std::string& point) {
    const std::string writer = "annals/writer/after_commit";
    for (int attempt = 0; attempt < 16; ++attempt) {
      REQUIRE(w.await_acks(20 + rng() % 40));
      auto* l = busiest_leader(all, *all[0]);
      INFO("crash point " << point << " in " << l->name() << ", attempt "
                          << attempt);
      REQUIRE(arm(*l, {writer, trigger::load, 1.0}));
      auto why_not = await_crash(*l, {writer, trigger::load, 1.0},
                                 std::chrono::seconds{20});
      INFO(why_not);
      REQUIRE(why_not.empty());
      note(writer, *l, "leader, before shipping");
      auto two = other_than(l);
      auto taken_over = await_serving(two, why);
      INFO(why);
      REQUIRE(taken_over);
      std::map<uint32_t, node_proc*> leaders;
      for (auto* n : two)
        for (const auto& [p, r] : replicas_of(*n))
          if (r.phase == "leader")
            leaders[p] = n;
      auto cut = divergent(*l, leaders);
      if (cut == 0) {
        std::printf("  %s holds nothing the new leaders lack\n",
                    l->name().c_str());
        restart_all_down();
        continue;
      }
      l->wrapper = {"/usr/bin/env", "ANNALS_FAILPOINTS=" + point};
      static_cast<void>(start_logged(*l, true)); // may die before READY
      l->wrapper.clear();
      auto st = l->await_exit(std::chrono::seconds{30});
      INFO(l->name() << " returned with " << cut
                     << " partitions to cut and still runs");
      REQUIRE(st);
      auto why_cut = crashed_by(*l, *st, point);
      INFO(why_cut);
      REQUIRE(why_cut.empty());
      note(
        point, *l,
        ("returning, cutting " + std::to_string(cut) + " partitions").c_str());
      restart_all_down();
      return;
    }
    FAIL("no crashed leader held a suffix to cut in 16 tries (" << point
                                                                << ")");
  };

  load_crash("annals/journal/before_commit", role::any);
  load_crash("annals/journal/after_commit", role::any);
  load_crash("annals/replica/before_group_commit", role::follower);
  load_crash("annals/replica/after_group_commit", role::follower);
  load_crash("annals/snapshot/before_save", role::leader);
  load_crash("annals/snapshot/after_save", role::leader);
  load_crash("annals/pubsub/before_checkpoint", role::any);
  failover_crash("annals/replica/before_fence");
  failover_crash("annals/replica/after_fence");
  failover_crash("annals/replica/after_marker");
  truncate_crash("annals/journal/truncate");
  truncate_crash("annals/replica/after_truncate");

  REQUIRE(w.await_acks(20));
  w.stop();
  // Every replica catches up once the load stopped.
  auto deadline = steady_clock::now() + std::chrono::seconds{30};
  bool same = false;
  while (!(same = converged(all, why)) && steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  INFO(why);
  REQUIRE(same);
  std::map<uint32_t, position> agreed; // the ends all replicas reached
  for (const auto& [p, r] : replicas_of(*all[0]))
    agreed[p] = r.end;
  REQUIRE(agreed.size() == checker_partitions);
  for (auto* n : all) {
    auto st = n->stop();
    INFO(n->name() << " exit status " << st);
    CHECK(WIFEXITED(st));
  }
  // The same in the closed journals, up to the epoch markers of failovers
  // that the stops themselves caused (a stopped node's lease is revoked:
  // the others take its partitions over while they still run).
  for (auto* n : all) {
    journal_options jo;
    jo.partitions = 0;
    auto j = open_lmdb_journal(n->dir(), jo);
    REQUIRE(j);
    auto e = (*j)->partition_ends();
    REQUIRE(e);
    std::size_t beyond = 0, short_of = 0;
    for (const auto& [p, end] : agreed) {
      short_of += (*e)[p] < end ? 1 : 0;
      REQUIRE_FALSE((*j)->scan_partition(p, end + 1, [&](const event_view& ev) {
        beyond += ev.category == "$epochs" ? 0 : 1;
        return true;
      }));
    }
    INFO(n->name() << ": " << short_of << " partitions short of the agreed "
                   << "end, " << beyond << " events beyond it that are not "
                   << "epoch markers");
    CHECK(short_of == 0);
    CHECK(beyond == 0);
  }

  auto secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  auto rep = check_cluster(log, all);
  std::size_t crashes = 0;
  std::ostringstream o;
  for (const auto& [name, n] : fired) {
    crashes += n;
    o << (o.tellp() == 0 ? "" : ", ") << name << ' ' << n;
  }
  std::ostringstream text;
  text << crashes << " crash-point crashes in " << secs << " s (" << o.str()
       << "); " << w.acks << " acks (" << w.duplicate_acks << " duplicate), "
       << w.fails << " definite failures, " << w.unknowns << " unknown, "
       << w.unreachable << " connection refusals\n"
       << rep.to_string();
  std::printf("checker replicated crash run: %s", text.str().c_str());
  INFO(text.str());
  for (const auto& p :
       {"annals/journal/before_commit", "annals/journal/after_commit",
        "annals/journal/truncate", "annals/writer/after_commit",
        "annals/replica/before_group_commit",
        "annals/replica/after_group_commit", "annals/replica/before_fence",
        "annals/replica/after_fence", "annals/replica/after_truncate",
        "annals/replica/after_marker", "annals/snapshot/before_save",
        "annals/snapshot/after_save", "annals/pubsub/before_checkpoint"}) {
    INFO(p);
    CHECK(fired[p] >= 1);
  }
  CHECK(w.acks > 300);
  CHECK(rep.seen > 0);
  keep.passed = rep.valid();
  REQUIRE(rep.valid());
}
