// annals -- the history checker against real replicated clusters: 3 node
// processes on loopback with an etcd, every partition on all three (RF 3),
// under a deposit workload; SIGKILLed at random moments (>= 20 cycles, some
// restarted at once, some after the load went on without them), with one
// join and one leave; the checker must find nothing. A node restarted at
// once is reachable again within seconds. A stale leader (SIGSTOPped past
// its lease, its partitions failed over) is fenced by its own journal.
// Then the planted bugs (a test build of the node, see planted_bugs.hpp):
// each must be reported by the checker as its anomaly class.
#include "cluster_history.hpp"

#include "crash_points.hpp"
#include "replicated_cluster.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

using namespace annals;
using namespace annals::testing;

namespace {

std::string describe_run(const checker::report& rep, workload& w,
                         std::size_t cycles, double secs) {
  std::ostringstream o;
  o << cycles << " kill cycles in " << secs << " s; " << w.acks << " acks ("
    << w.duplicate_acks << " duplicate), " << w.fails << " definite "
    << "failures, " << w.unknowns << " unknown, " << w.unreachable
    << " connection refusals\n"
    << rep.to_string();
  return o.str();
}

const std::set<std::string> three_names{"n1", "n2", "n3"};
const std::set<std::string> four_names{"n1", "n2", "n3", "n4"};

/// Options of a 3-node cluster of `binary` with `extra` node options.
replicated_cluster::options
cluster_options(const std::string& name, bool subscribe,
                std::string binary = ANNALS_CHECKER_NODE_CHILD,
                std::vector<std::string> extra = {}) {
  replicated_cluster::options o;
  o.name = name;
  o.subscribe = subscribe;
  o.binary = std::move(binary);
  o.extra = std::move(extra);
  return o;
}

/// Runs `cycles` SIGKILL-restart cycles of random nodes of `c` (n1..n3)
/// under `w`'s load; each kill comes after a random number of further
/// acks. With `later`, about half of the victims are restarted only once
/// the load went on without them (40 more acks: their partitions failed
/// over); the others at once. Counts those in `*restarted_later`.
std::size_t kill_cycles(replicated_cluster& c, workload& w, std::size_t cycles,
                        std::mt19937& rng, bool later,
                        const std::function<void(std::size_t)>& between,
                        std::size_t* restarted_later = nullptr) {
  std::size_t done = 0;
  for (std::size_t i = 0; i < cycles; ++i) {
    between(i);
    INFO("cycle " << i);
    // Random moment: after 5..60 more acks (the load is continuous).
    REQUIRE(w.await_acks(5 + rng() % 56, std::chrono::seconds{30}));
    auto& victim = c[rng() % 3];
    victim.kill();
    if (later && rng() % 2 == 0) {
      REQUIRE(w.await_acks(40, std::chrono::seconds{60}));
      if (restarted_later != nullptr)
        ++*restarted_later;
    }
    REQUIRE(c.start(victim));
    ++done;
  }
  return done;
}

} // namespace

TEST_CASE("replicated: 3 nodes under load, SIGKILLed at random moments and "
          "restarted at once or later, one join and one leave: no anomaly, "
          "nothing acknowledged lost",
          "[checker][replicated]") {
  auto t0 = steady_clock::now();
  replicated_cluster c{cluster_options("kills", true)};
  auto three = c.all();
  auto& n4 = c.add("n4");
  std::mt19937 rng{Catch::rngSeed()};
  // Through n1..n3 (n4 joins and leaves; a node that left serves nothing).
  auto& w = c.start_load(three);
  constexpr std::size_t cycles = 20;
  std::size_t later = 0;
  auto done = kill_cycles(
    c, w, cycles, rng, true,
    [&](std::size_t i) {
      if (i == 6) { // a join under load (no kill meanwhile)
        REQUIRE(c.start(n4));
        REQUIRE(await_moved(*c.etcd, c.opts.name, four_names));
      } else if (i == 11) { // and a leave
        auto left = n4.ask("leave", "LEFT", std::chrono::seconds{90});
        REQUIRE(left);
        CHECK(*left == "LEFT ok");
        auto st = n4.stop();
        CHECK(WIFEXITED(st));
        REQUIRE(await_moved(*c.etcd, c.opts.name, three_names));
      }
    },
    &later);
  REQUIRE(await_settled(three, 3));
  REQUIRE(w.await_acks(20));
  w.stop();
  // Every replica catches up before the stop: then each journal must be
  // the whole history.
  std::string why;
  auto same = await_converged(three, why);
  INFO(why);
  CHECK(same);
  auto secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  auto rep = c.stop_and_check("checker replicated kills");
  auto text = describe_run(rep, w, done, secs);
  std::printf("checker replicated kills: %zu restarted after the load went "
              "on; %s",
              later, text.c_str());
  INFO(text);
  CHECK(done >= 20);
  CHECK(w.acks > 300);
  CHECK(w.duplicate_acks > 0); // resends were recognised
  CHECK(rep.seen > w.acks);    // every incarnation's subscriber reads all
  REQUIRE(rep.valid());
}

TEST_CASE("replicated: a node restarted at once after each SIGKILL is seen "
          "again by every member within seconds",
          "[checker][replicated]") {
  // A node that stays up must notice each restart of a peer -- also when
  // CAF never tells it that the old incarnation died -- or the two stay
  // cut off (its replication to the peer, and commands routed there).
  replicated_cluster c{cluster_options("restarts", false)};
  std::mt19937 rng{Catch::rngSeed()};
  auto& w = c.start_load();
  std::vector<double> rejoin;
  for (int i = 0; i < 6; ++i) {
    INFO("restart " << i);
    REQUIRE(w.await_acks(20, std::chrono::seconds{30}));
    auto& victim = c[i < 3 ? static_cast<std::size_t>(i) : rng() % 3];
    victim.kill();
    auto t0 = steady_clock::now();
    REQUIRE(c.start(victim));
    REQUIRE(await_settled(c.all(), 3, std::chrono::seconds{20}));
    rejoin.push_back(
      std::chrono::duration<double>(steady_clock::now() - t0).count());
  }
  REQUIRE(w.await_acks(20));
  w.stop();
  std::string why;
  auto same = await_converged(c.all(), why);
  INFO(why);
  CHECK(same);
  auto rep = c.stop_and_check("quick restarts");
  std::sort(rejoin.begin(), rejoin.end());
  std::printf("quick restarts: all reachable again after median %.2f s, "
              "max %.2f s\n",
              rejoin[rejoin.size() / 2], rejoin.back());
  INFO(rep.to_string());
  REQUIRE(rep.valid());
}

namespace {

/// n1 and n2 each deposit on 12 aggregates; then n2 is SIGSTOPped until
/// the map leads none of its partitions (its lease expired: they failed
/// over to n1 and n3 at a new epoch, fenced on both), then SIGCONTed and
/// awaited until every partition is served again (the planner may give
/// n2 its leadership back, at a newer epoch still). Then the write of a
/// stale leader of the old epoch reaches a replica fenced at the new one:
/// "stale 12" in n3 (else n1), which appends to a stream of a partition it
/// follows with the epoch of that stream's last event, older than the
/// partition's. n1 deposits on every aggregate again. Returns the STALE
/// line.
std::string stale_leader(replicated_cluster& c, checker::report& rep) {
  workload w{c.log, c.all(), {}};
  caf::scoped_actor self{w.sys()};
  std::map<std::string, caf::actor> roots;
  uint64_t n = 0;
  auto round = [&](node_proc& via) {
    for (int i = 0; i < 12; ++i) {
      auto id = "acct-" + std::to_string(i);
      auto cmd = "d-" + std::to_string(n++);
      // Again (same command id) after anything but an ack: the first
      // sends after a failover may find a connection gone.
      auto out = w.send(self, roots, "d", via, id, cmd);
      for (int k = 0; k < 20 && out != checker::op_type::ok; ++k)
        out = w.send(self, roots, "d", via, id, cmd);
      REQUIRE(out == checker::op_type::ok);
    }
  };
  auto& n2 = c[1];
  round(c[0]);
  round(n2);
  auto before = c.map();
  REQUIRE(before);
  auto led = 0;
  for (auto& id : workload_accounts(12))
    led += leader_of(*before, id) == n2.name() ? 1 : 0;
  INFO("n2 leads " << led << " of the 12 accounts");
  REQUIRE(led > 0);
  n2.signal(SIGSTOP);
  auto etcd = c.etcd_client();
  auto failed_over = poll_until(
    [&] {
      auto m = read_map(etcd, c.opts.name);
      return m
             && std::none_of(m->partitions.begin(), m->partitions.end(),
                             [&](auto& p) { return p.leader == n2.name(); });
    },
    std::chrono::seconds{20});
  n2.signal(SIGCONT);
  REQUIRE(failed_over);
  std::string why;
  auto served = await_serving(c.all(), why);
  INFO(why);
  REQUIRE(served);
  {
    auto m = c.map();
    std::string d = "stale leader: map v" + std::to_string(m->version);
    for (auto& id : workload_accounts(12)) {
      auto p = partition_of(stream_id{"sample.account", id}, 64);
      d += " " + id + ":" + before->partitions[p].leader + "@"
           + std::to_string(before->partitions[p].epoch) + "->"
           + m->partitions[p].leader + "@"
           + std::to_string(m->partitions[p].epoch);
    }
    std::printf("%s\n", d.c_str());
  }
  // The stale append, at a replica fenced at the new epoch.
  std::optional<std::string> stale;
  for (auto* replica : {&c[2], &c[0]}) {
    stale = replica->ask("stale 12", "STALE");
    REQUIRE(stale);
    if (stale->rfind("STALE none", 0) != 0)
      break;
  }
  round(c[0]);
  c.stop_all();
  rep = check_cluster(c.log, c.every());
  return *stale;
}

} // namespace

TEST_CASE("replicated: a stale leader is fenced", "[checker][replicated]") {
  // The control run of the planted no_fencing bug.
  replicated_cluster c{cluster_options("stale", false)};
  checker::report rep;
  auto stale = stale_leader(c, rep);
  INFO(stale << "\n" << rep.to_string());
  CHECK(stale.rfind("STALE refused acct-", 0) == 0);
  CHECK(stale.find("stale_epoch") != std::string::npos);
  CHECK(rep.valid());
}

// -- planted bugs -------------------------------------------------------------

TEST_CASE("replicated: planted no_fencing is reported as two histories",
          "[checker][replicated][planted]") {
  replicated_cluster c{cluster_options("no-fencing", false,
                                       ANNALS_CHECKER_NODE_CHILD_PLANTED,
                                       {"--plant=no_fencing"})};
  checker::report rep;
  auto stale = stale_leader(c, rep);
  INFO(stale << "\n" << rep.to_string());
  std::printf("planted no_fencing: %s\n%s", stale.c_str(),
              rep.to_string().c_str());
  CHECK(stale.rfind("STALE ok acct-", 0) == 0);
  CHECK(rep.count("two-histories") > 0);
}

TEST_CASE("replicated: planted no_dedupe is reported as duplicates",
          "[checker][replicated][planted]") {
  replicated_cluster c{cluster_options("no-dedupe", false,
                                       ANNALS_CHECKER_NODE_CHILD_PLANTED,
                                       {"--plant=no_dedupe"})};
  workload::settings ws;
  ws.clients = 2;
  ws.resend_percent = 100; // every acknowledged command is sent again
  auto& w = c.start_load({}, ws, 100);
  w.stop();
  auto rep = c.stop_and_check("planted no_dedupe", true);
  INFO(rep.to_string());
  CHECK(rep.count("duplicate") > 0);
  CHECK(w.duplicate_acks == 0); // no retry was recognised
}

TEST_CASE("replicated: planted reply_before_commit is reported as lost "
          "writes",
          "[checker][replicated][planted]") {
  auto t0 = steady_clock::now();
  replicated_cluster c{cluster_options("reply-first", false,
                                       ANNALS_CHECKER_NODE_CHILD_PLANTED,
                                       {"--plant=reply_before_commit"})};
  workload::settings ws;
  ws.resend_percent = 0;
  auto& w = c.start_load({}, ws);
  std::mt19937 rng{Catch::rngSeed()};
  auto done = kill_cycles(c, w, 8, rng, false, [](std::size_t) {});
  w.stop();
  auto rep = c.stop_and_check("planted reply_before_commit", true);
  auto secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  auto text = describe_run(rep, w, done, secs);
  std::printf("planted reply_before_commit: %s", text.c_str());
  INFO(text);
  CHECK(rep.count("lost-write") > 0);
}

// Soak mode (outside CI: hidden tag; `./annals soak [seconds]`): the same
// faults in a loop for ANNALS_SOAK_SECONDS (default 600) -- SIGKILL of a
// random node at random moments (restarted at once or later), a join and a
// leave of a fresh node every 10 kills -- plus crashes at every named crash
// point (crash_points.hpp: each load point once per round, a group-commit point
// in the joiner during the join and in a member during the leave), then
// the checker over everything; prints the counts.
TEST_CASE("soak: kills, joins and leaves for a set time, no anomaly",
          "[.soak]") {
  double limit = 600;
  if (const char* env = std::getenv("ANNALS_SOAK_SECONDS"))
    limit = std::atof(env);
  auto t0 = steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(steady_clock::now() - t0).count();
  };
  std::signal(SIGPIPE, SIG_IGN); // a crash point may end a node mid-write
  auto fp = failpoints_built_in();
  replicated_cluster c{cluster_options("soak", true, ANNALS_CHECKER_NODE_CHILD,
                                       crash_point_args())};
  auto three = c.all();
  std::mt19937 rng{Catch::rngSeed()};
  auto& w = c.start_load(three, crash_workload(Catch::rngSeed()));
  auto points = crash_points();
  std::vector<crash_point> joining, leaving;
  for (const auto& cp : points) {
    if (cp.when == trigger::join)
      joining.push_back(cp);
    else if (cp.when == trigger::leave)
      leaving.push_back(cp);
  }
  std::size_t kills = 0, joins = 0, leaves = 0, crashes = 0, later = 0;
  for (std::size_t round = 0; elapsed() < limit; ++round) {
    kills += kill_cycles(
      c, w, 10, rng, true, [](std::size_t) {}, &later);
    // A fresh fourth node each round (n4, n5, ...).
    auto& fourth = c.add("n" + std::to_string(4 + round));
    for (const auto& cp : points)
      if (fp && cp.when == trigger::load) {
        load_crash(three, w, rng, cp);
        ++crashes;
      }
    auto four = names_of(three);
    four.insert(fourth.name());
    if (fp) {
      join_crash(c, three, fourth, joining[round % joining.size()]);
      ++crashes;
    } else {
      REQUIRE(c.start(fourth));
      REQUIRE(await_moved(*c.etcd, c.opts.name, four));
    }
    ++joins;
    if (fp) {
      leave_crash(c, three, fourth, w, rng, leaving[round % leaving.size()]);
      ++crashes;
    } else {
      auto left = fourth.ask("leave", "LEFT", std::chrono::seconds{90});
      REQUIRE(left);
      CHECK(*left == "LEFT ok");
      fourth.stop();
      REQUIRE(await_moved(*c.etcd, c.opts.name, three_names));
    }
    ++leaves;
    std::printf("soak: %.0f s, %zu kills (%zu restarted later), %zu "
                "failpoint crashes, %zu joins, %zu leaves, %zu acks\n",
                elapsed(), kills, later, crashes, joins, leaves,
                static_cast<std::size_t>(w.acks));
    std::fflush(stdout);
  }
  w.stop();
  std::string why;
  auto same = await_converged(three, why);
  INFO(why);
  CHECK(same);
  auto rep = c.stop_and_check("soak");
  auto text = describe_run(rep, w, kills, elapsed());
  std::printf("soak summary: %zu failpoint crashes, %zu joins, %zu leaves; %s",
              crashes, joins, leaves, text.c_str());
  REQUIRE(rep.valid());
}

// A node that left and starts again with the same name and data directory
// registers (intent serve) and is taken back into the map. It was not
// before: the controller still suspected the connection of its previous
// life, and nobody dials a node the map does not list, so the suspicion
// never cleared (`controller::step` now suspects members of the map only).
TEST_CASE("replicated: a node that left joins again with its data",
          "[replicated][rejoin]") {
  replicated_cluster c{cluster_options("rejoin", false)};
  auto& n4 = c.add("n4");
  auto& w = c.start_load(c.all());
  REQUIRE(c.start(n4));
  REQUIRE(await_moved(*c.etcd, c.opts.name, four_names));
  auto left = n4.ask("leave", "LEFT", std::chrono::seconds{90});
  REQUIRE(left);
  CHECK(*left == "LEFT ok");
  CHECK(WIFEXITED(n4.stop()));
  REQUIRE(await_moved(*c.etcd, c.opts.name, three_names));
  REQUIRE(c.start(n4));
  CHECK(
    await_moved(*c.etcd, c.opts.name, four_names, std::chrono::seconds{30}));
  w.stop();
}
