// annals -- network faults: 3 node processes, each in its own network
// namespace on a private bridge (tests/support/netns_lab.hpp), clients in a
// fourth. Under a deposit workload the test isolates a node, splits one off
// from the others, drops one direction of one link, and slows a link with
// tc tbf; then heals. Expected each time: the nodes notice within the
// heartbeat timeout; a command for a partition whose owner is out of reach
// gets a definite `unavailable` within a second (never a hang, never a
// second writer: ownership does not move without every member); the nodes
// reconnect after healing; every subscriber catches up; and the history
// checker finds no anomaly over the whole run.
//
// Needs root (namespaces, iptables, tc); elsewhere each case WARNs and
// passes without running.
#include "cluster_history.hpp"
#include "netns_lab.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <set>

using namespace annals;
using namespace annals::testing;

namespace {

double seconds_since(steady_clock::time_point t0) {
  return std::chrono::duration<double>(steady_clock::now() - t0).count();
}

/// Three nodes n1..n3 in namespaces, running, and a fourth, n4, not
/// started; this thread in namespace "cli".
struct lab_cluster {
  netns_lab lab{{"n1", "n2", "n3", "n4", "cli"}};
  temp_dir tmp;
  history_log log{tmp.sub("history.txt")};
  std::vector<std::unique_ptr<node_proc>> nodes;

  lab_cluster() {
    for (auto name : {"n1", "n2", "n3", "n4"}) {
      // Plain BASP on the lab's private bridge, so asked for explicitly.
      auto n = std::make_unique<node_proc>(
        ANNALS_CHECKER_NODE_CHILD, name, tmp.sub(name), &log,
        std::vector<std::string>{"--cluster.insecure"});
      n->set_host(lab.addr(name));
      n->wrapper = lab.wrapper(name);
      nodes.push_back(std::move(n));
    }
    // The clients' actor system is made after this: its sockets live in
    // the namespace "cli".
    lab.enter("cli");
    REQUIRE(nodes[0]->start({}, true));
    REQUIRE(nodes[1]->start(nodes[0]->address(), true));
    REQUIRE(nodes[2]->start(nodes[0]->address(), true));
    REQUIRE(await_settled(all(), 3));
  }

  /// The nodes started so far.
  std::vector<node_proc*> all() {
    std::vector<node_proc*> out;
    for (auto& n : nodes)
      if (n->up())
        out.push_back(n.get());
    return out;
  }

  ~lab_cluster() {
    // Stop the clients, then the nodes before their namespaces go.
    load.reset();
    nodes.clear();
  }

  /// Starts clients sending deposits through `via` (default: n1..n3) and
  /// waits for their first 50 acknowledgements.
  workload& start_load(std::vector<node_proc*> via = {}) {
    workload::settings ws;
    ws.seed = Catch::rngSeed();
    load = std::make_unique<workload>(log, via.empty() ? all() : via, ws);
    load->start();
    REQUIRE(load->await_acks(50));
    return *load;
  }

  std::unique_ptr<workload> load;

  node_proc& operator[](std::size_t i) {
    return *nodes[i];
  }

  /// Waits until each of `who` sees `count` reachable members; returns the
  /// seconds it took, or a negative number after `timeout`.
  double await_reachable(const std::vector<node_proc*>& who, std::size_t count,
                         std::chrono::seconds timeout) {
    auto t0 = steady_clock::now();
    while (steady_clock::now() - t0 < timeout) {
      bool ok = true;
      for (auto* n : who) {
        auto s = status_of(*n);
        ok = ok && s && s->reachable == count;
      }
      if (ok)
        return seconds_since(t0);
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return -1;
  }

  /// Stops every node (EOF) and runs the checker over the whole history.
  checker::report stop_and_check() {
    auto ran = all();
    for (auto* n : ran) {
      auto st = n->stop();
      INFO(n->name() << " exit status " << st);
      CHECK(WIFEXITED(st));
    }
    return check_cluster(log, ran);
  }

  void keep_on_failure(const checker::report& rep) {
    if (rep.valid())
      return;
    keep_run(tmp, "netfault");
  }
};

/// One command to each of `aggregates` accounts through `via`.
struct probe_result {
  std::size_t ok = 0;
  std::size_t fail = 0;
  std::size_t unknown = 0;
  double slowest_ms = 0;
};

probe_result probe(workload& w, node_proc& via, const std::string& tag,
                   int aggregates = 24) {
  caf::scoped_actor self{w.sys()};
  std::map<std::string, caf::actor> roots;
  probe_result r;
  for (int i = 0; i < aggregates; ++i) {
    auto id = "acct-" + std::to_string(i);
    auto t0 = steady_clock::now();
    auto out = w.send(self, roots, tag, via, id, tag + "-" + id);
    r.slowest_ms = std::max(r.slowest_ms, 1000 * seconds_since(t0));
    switch (out) {
    case checker::op_type::ok:
      ++r.ok;
      break;
    case checker::op_type::fail:
      ++r.fail;
      break;
    default:
      ++r.unknown;
    }
  }
  return r;
}

/// Keeps a fault for `d` while the clients keep getting acknowledgements
/// (at least 20 every 20 s): a fault is held long enough that a reconnect
/// waiting on TCP's SYN backoff would be seconds late after healing.
void hold(workload& w, std::chrono::seconds d) {
  auto t0 = steady_clock::now();
  while (steady_clock::now() - t0 < d)
    REQUIRE(w.await_acks(20));
}

/// Heals every fault and waits until every node settles with all members
/// reachable; returns the seconds that took.
double heal(lab_cluster& c) {
  auto t0 = steady_clock::now();
  c.lab.heal();
  auto members = c.all().size();
  REQUIRE(await_settled(c.all(), members, std::chrono::seconds{90}));
  return seconds_since(t0);
}

/// Stops the clients; then every account takes a command through every
/// node, every subscriber catches up, and the checker is satisfied.
/// Returns the report and prints `what` with it.
checker::report finish_and_check(lab_cluster& c, workload& w,
                                 const std::string& what) {
  REQUIRE(w.await_acks(30));
  w.stop();
  for (auto* n : c.all()) {
    auto p = probe(w, *n, "after-" + n->name());
    INFO("through " << n->name() << " after healing");
    CHECK(p.ok == 24);
  }
  // The newest acknowledged revision of each account.
  std::map<std::string, revision> newest;
  for (auto& x : c.log.read().ops)
    if (x.type == checker::op_type::ok)
      newest[x.stream] = std::max(newest[x.stream], x.last);
  auto t1 = steady_clock::now();
  std::set<std::string> subscribers;
  for (auto* n : c.all())
    subscribers.insert(n->name() + "#0");
  CHECK(await_caught_up(c.log, subscribers, newest, std::chrono::seconds{20})
        == "");
  auto catch_up_s = seconds_since(t1);
  auto rep = c.stop_and_check();
  std::printf("%s: subscribers caught up in %.2f s; %zu acks, %zu definite "
              "failures, %zu unknown\n%s",
              what.c_str(), catch_up_s, static_cast<std::size_t>(w.acks),
              static_cast<std::size_t>(w.fails),
              static_cast<std::size_t>(w.unknowns), rep.to_string().c_str());
  std::fflush(stdout);
  INFO(rep.to_string());
  c.keep_on_failure(rep);
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
  return rep;
}

/// `heal`, then `finish_and_check`.
void heal_and_check(lab_cluster& c, workload& w, const std::string& what,
                    double detect_s) {
  auto heal_s = heal(c);
  std::printf("%s: detected in %.2f s, reconnected %.2f s after healing\n",
              what.c_str(), detect_s, heal_s);
  // Bounded dials (a 1 s probe every 250 ms tick), not TCP's SYN backoff,
  // which after a fault held this long would retry 7 s or more after the
  // healing. Usually under 1.2 s here; 2.6 s seen under load, 3.42 s once
  // in CI, 3.03 s under ASan.
  constexpr double heal_bound_s = 5.0;
  CHECK(heal_s < heal_bound_s);
  finish_and_check(c, w, what);
}

#define SKIP_WITHOUT_NETNS()                                                   \
  if (auto why = netns_lab::unsupported()) {                                   \
    WARN("skipped: " << *why);                                                 \
    return;                                                                    \
  }

} // namespace

TEST_CASE("network: an isolated node: the others go on, its partitions "
          "answer unavailable, all recover after healing",
          "[netns][cluster]") {
  SKIP_WITHOUT_NETNS();
  lab_cluster c;
  // The clients are on the majority's side: they reach n1 and n2 only.
  auto& w = c.start_load({&c[0], &c[1]});
  c.lab.isolate("n3");
  auto detect = c.await_reachable({&c[0], &c[1]}, 2, std::chrono::seconds{10});
  CHECK(detect >= 0);
  CHECK(detect < 3.5);
  REQUIRE(c.await_reachable({&c[2]}, 1, std::chrono::seconds{10}) >= 0);
  REQUIRE(w.await_acks(50)); // the majority side goes on
  auto p = probe(w, c[0], "iso");
  INFO("ok " << p.ok << ", fail " << p.fail << ", unknown " << p.unknown
             << ", slowest " << p.slowest_ms << " ms");
  CHECK(p.ok > 0);
  CHECK(p.fail > 0); // n3's partitions: unavailable
  CHECK(p.unknown == 0);
  CHECK(p.slowest_ms < 1000);
  hold(w, std::chrono::seconds{8});
  heal_and_check(c, w, "isolated node", detect);
}

TEST_CASE("network: a node split from the others keeps serving its own "
          "partitions and only those",
          "[netns][cluster]") {
  SKIP_WITHOUT_NETNS();
  lab_cluster c;
  auto& w = c.start_load();
  c.lab.split("n3", "n1");
  c.lab.split("n3", "n2");
  auto detect = c.await_reachable({&c[0], &c[1]}, 2, std::chrono::seconds{10});
  CHECK(detect >= 0);
  REQUIRE(c.await_reachable({&c[2]}, 1, std::chrono::seconds{10}) >= 0);
  REQUIRE(w.await_acks(50));
  // Through n3: its own partitions commit (it is still their only owner),
  // the rest is unavailable. Through n1: the complement.
  auto minority = probe(w, c[2], "min");
  auto majority = probe(w, c[0], "maj");
  INFO("n3: ok " << minority.ok << ", fail " << minority.fail << ", unknown "
                 << minority.unknown << "; n1: ok " << majority.ok << ", fail "
                 << majority.fail << ", unknown " << majority.unknown);
  CHECK(minority.ok > 0);
  CHECK(minority.fail > 0);
  CHECK(minority.unknown == 0);
  CHECK(majority.unknown == 0);
  CHECK(minority.ok + majority.ok == 24);
  CHECK(std::max(minority.slowest_ms, majority.slowest_ms) < 1000);
  hold(w, std::chrono::seconds{8});
  heal_and_check(c, w, "2/1 split", detect);
}

TEST_CASE("network: one direction of one link dropped", "[netns][cluster]") {
  SKIP_WITHOUT_NETNS();
  lab_cluster c;
  auto& w = c.start_load();
  c.lab.drop("n1", "n2"); // n2 hears nothing from n1; n1 still hears n2
  auto detect = c.await_reachable({&c[0], &c[1]}, 2, std::chrono::seconds{10});
  CHECK(detect >= 0);
  CHECK(c.await_reachable({&c[2]}, 3, std::chrono::seconds{1}) >= 0);
  REQUIRE(w.await_acks(50));
  // n3 still reaches both owners: every account commits through it.
  auto p = probe(w, c[2], "oneway");
  INFO("ok " << p.ok << ", fail " << p.fail << ", unknown " << p.unknown);
  CHECK(p.ok == 24);
  hold(w, std::chrono::seconds{8});
  heal_and_check(c, w, "one-way drop n1->n2", detect);
}

TEST_CASE("network: a slow link (tc tbf) loses nothing", "[netns][cluster]") {
  SKIP_WITHOUT_NETNS();
  lab_cluster c;
  auto& w = c.start_load();
  c.lab.slow("n3", "256kbit", "400ms");
  auto t0 = steady_clock::now();
  REQUIRE(w.await_acks(200, std::chrono::seconds{60}));
  std::printf("slow link: 200 acks in %.2f s with n3 at 256 kbit/s\n",
              seconds_since(t0));
  heal_and_check(c, w, "slow link", 0);
}

TEST_CASE("network: a flaky link (25 % loss each way) loses nothing",
          "[netns][cluster]") {
  SKIP_WITHOUT_NETNS();
  lab_cluster c;
  auto& w = c.start_load();
  c.lab.flaky("n3", 0.25);
  auto t0 = steady_clock::now();
  hold(w, std::chrono::seconds{8});
  auto s3 = status_of(c[2]);
  REQUIRE(s3);
  std::printf("flaky link: n3 sees %zu of 3 members after %.1f s\n",
              s3->reachable, seconds_since(t0));
  heal_and_check(c, w, "flaky link", 0);
}

TEST_CASE("network: a node joins while cut off from one old owner: that "
          "owner's partitions answer unavailable until healing, then move",
          "[netns][cluster]") {
  SKIP_WITHOUT_NETNS();
  lab_cluster c;
  auto& w = c.start_load();
  REQUIRE(w.await_acks(150));
  // n3 and n4 cannot talk: the partitions moving from n3 to n4 stall,
  // those from n1 and n2 move.
  c.lab.split("n3", "n4");
  REQUIRE(c[3].start(c[0].address(), true));
  hold(w, std::chrono::seconds{4});
  auto s4 = status_of(c[3]);
  REQUIRE(s4);
  CHECK(s4->members == 4);
  CHECK(s4->reachable == 3); // all but n3
  CHECK_FALSE(s4->settled);  // the hand-off from n3 is pending
  auto via4 = probe(w, c[3], "join");
  INFO("through n4: ok " << via4.ok << ", fail " << via4.fail << ", unknown "
                         << via4.unknown << ", slowest " << via4.slowest_ms
                         << " ms");
  CHECK(via4.ok > 0);   // n4's own partitions from n1 and n2, and others
  CHECK(via4.fail > 0); // the ones stuck on their way from n3
  CHECK(via4.unknown == 0);
  CHECK(via4.slowest_ms < 1000);
  // n3 keeps its partitions (and refuses their commands: they are
  // releasing) until n4 fetches them; the checker would see two histories
  // if both had written.
  heal_and_check(c, w, "join cut off from an old owner", 0);
}

// Soak mode (outside CI: hidden tag; `./annals soak [seconds]` runs it after
// the kill soak): random network faults under load for
// ANNALS_SOAK_SECONDS (default 600) -- one node split from the others, one
// direction of a link dropped, a flaky (25 %) or slow (256 kbit/s) node --
// each held 4-12 s, then healed; the checker over everything at the end.
TEST_CASE("soak: network faults for a set time, no anomaly", "[.soak]") {
  SKIP_WITHOUT_NETNS();
  double limit = 600;
  if (const char* env = std::getenv("ANNALS_SOAK_SECONDS"))
    limit = std::atof(env);
  auto t0 = steady_clock::now();
  lab_cluster c;
  auto& w = c.start_load();
  std::mt19937 rng{Catch::rngSeed()};
  std::map<std::string, std::size_t> faults;
  std::vector<double> reconnects;
  const std::vector<std::string> names{"n1", "n2", "n3"};
  while (seconds_since(t0) < limit) {
    REQUIRE(w.await_acks(20));
    auto a = names[rng() % 3];
    auto b = names[(rng() % 2 + 1 + (a[1] - '1')) % 3];
    std::string kind;
    switch (rng() % 4) {
    case 0:
      kind = "split";
      for (const auto& o : names)
        if (o != a)
          c.lab.split(a, o);
      break;
    case 1:
      kind = "one-way";
      c.lab.drop(a, b);
      break;
    case 2:
      kind = "flaky";
      c.lab.flaky(a, 0.25);
      break;
    default:
      kind = "slow";
      c.lab.slow(a, "256kbit", "400ms");
    }
    ++faults[kind];
    hold(w, std::chrono::seconds{4 + rng() % 9});
    reconnects.push_back(heal(c));
    std::printf("soak: %.0f s, %s on %s, reconnected in %.2f s, %zu acks\n",
                seconds_since(t0), kind.c_str(), a.c_str(), reconnects.back(),
                static_cast<std::size_t>(w.acks));
    std::fflush(stdout);
  }
  std::sort(reconnects.begin(), reconnects.end());
  std::ostringstream o;
  for (auto& [k, n] : faults)
    o << (o.tellp() > 0 ? ", " : "") << n << ' ' << k;
  std::printf("soak summary: %.0f s, %zu network faults (%s), reconnect "
              "median %.2f s, max %.2f s\n",
              seconds_since(t0), reconnects.size(), o.str().c_str(),
              reconnects[reconnects.size() / 2], reconnects.back());
  finish_and_check(c, w, "soak summary");
}
