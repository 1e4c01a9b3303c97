// annals -- faults against a replicated cluster (3 checker nodes, etcd),
// each under a deposit workload and the history checker over every node's
// journal at the end:
// - a 2/1 network split with the controller AND etcd's leader on the
//   minority side (network namespaces, one per node with its etcd member,
//   the clients in a fourth; root only, else skipped): the majority elects
//   a controller and fails the minority's partitions over; once cut off,
//   the minority acknowledges no new command (a resend of one committed
//   before may get a duplicate ack from its journal: true, and checked);
//   after healing all converge;
// - one of three etcd members (the leader) SIGKILLed under load: commits go
//   on, and a SIGKILLed node (the controller) still fails over; then both
//   come back;
// - a slow follower (SIGSTOP/SIGCONT cycles): the commit p99 of partitions
//   it follows stays within 1.5x of the same run's baseline (windows of
//   each kind alternate; medians of the windows' p99s are compared).
#include "replicated_cluster.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

using namespace annals;
using namespace annals::testing;

namespace {

using namespace std::chrono_literals;

constexpr const char* cluster_name = "faults";

double seconds_since(steady_clock::time_point t0) {
  return std::chrono::duration<double>(steady_clock::now() - t0).count();
}

/// A command acknowledged on an account: account, client, command id.
struct acked_command {
  std::string id;
  std::string client;
  std::string command;
};

/// Up to `n` of the workload's accounts whose leader in `map` is `node`,
/// each with the last command acknowledged on it so far (in `log`).
std::vector<acked_command> led_with_ack(const control::partition_map& map,
                                        history_log& log,
                                        const std::string& node,
                                        std::size_t n) {
  std::map<std::string, checker::op> acked; // by stream
  for (auto& x : log.read().ops)
    if (x.type == checker::op_type::ok)
      acked[x.stream] = x;
  std::vector<acked_command> out;
  for (auto& id : workload_accounts()) {
    auto it = acked.find("sample.account/" + id);
    if (out.size() < n && leader_of(map, id) == node && it != acked.end())
      out.push_back({id, it->second.client, it->second.command_id});
  }
  return out;
}

/// Keeps going for `d` while the clients keep getting acknowledgements.
void hold(workload& w, std::chrono::seconds d) {
  auto t0 = steady_clock::now();
  while (steady_clock::now() - t0 < d)
    REQUIRE(w.await_acks(20));
}

/// Options of the cluster: 3 nodes, an etcd member per site in `sites`.
replicated_cluster::options
fault_options(const std::vector<etcd_cluster::site>& sites, netns_lab* lab,
              bool subscribe) {
  replicated_cluster::options o;
  o.name = cluster_name;
  o.sites = sites;
  o.lab = lab;
  o.subscribe = subscribe;
  return o;
}

#define SKIP_WITHOUT_NETNS()                                                   \
  if (auto why = netns_lab::unsupported()) {                                   \
    WARN("skipped: " << *why);                                                 \
    return;                                                                    \
  }

} // namespace

TEST_CASE("replicated faults: a 2/1 split with the controller and etcd's "
          "leader in the minority: the majority takes over, the minority "
          "acknowledges no new command, all converge after healing",
          "[netns][replicated]") {
  SKIP_WITHOUT_NETNS();
  auto t0 = steady_clock::now();
  netns_lab lab{{"n1", "n2", "n3", "cli"}};
  // The test's sockets (etcd probes, clients) live in "cli", which reaches
  // every other namespace throughout.
  lab.enter("cli");
  std::vector<etcd_cluster::site> sites;
  for (auto h : {"n1", "n2", "n3"})
    sites.push_back({lab.addr(h), lab.wrapper(h)});
  replicated_cluster c{fault_options(sites, &lab, true)};
  auto& w = c.start_load({}, {}, 100);
  // etcd's leadership goes where the controller is: both on one side.
  auto etcd_all = c.etcd->make_client();
  std::string controller;
  REQUIRE(poll_until(
    [&] {
      controller = read_controller(etcd_all, cluster_name);
      return !controller.empty();
    },
    10s));
  auto* minority = c.by_name(controller);
  REQUIRE(minority != nullptr);
  auto k = static_cast<std::size_t>(controller[1] - '1');
  auto etcd_leader_before = c.etcd->leader();
  REQUIRE(etcd_leader_before.has_value());
  // Away and back if it is there already: the transfer is exercised on
  // every run, and the nodes ride through one more etcd leader change.
  REQUIRE(c.etcd->move_leader((k + 1) % 3));
  REQUIRE(c.etcd->move_leader(k));
  std::vector<node_proc*> majority;
  std::vector<std::string> majority_etcd;
  for (std::size_t i = 0; i < 3; ++i)
    if (i != k) {
      majority.push_back(c.nodes[i].get());
      majority_etcd.push_back(c.etcd->endpoint(i));
    }
  REQUIRE(w.await_acks(50));
  auto before_split_map = read_map(etcd_all, cluster_name);
  REQUIRE(before_split_map.has_value());
  REQUIRE(read_controller(etcd_all, cluster_name) == controller);
  REQUIRE(c.etcd->leader() == std::optional<std::size_t>{k});
  // The split: the minority's namespace (node and etcd member) from the
  // two others; the clients still reach every node.
  for (auto* o : majority)
    lab.split(minority->name(), o->name());
  auto t_split = steady_clock::now();
  auto reaches = [](node_proc& n, std::size_t count) {
    auto s = status_of(n);
    return s && s->reachable == count;
  };
  REQUIRE(poll_until(
    [&] {
      return reaches(*majority[0], 2) && reaches(*majority[1], 2)
             && reaches(*minority, 1);
    },
    10s));
  auto t_detect = steady_clock::now();
  // Meanwhile, through the minority, to accounts it led: a resend of a
  // command acknowledged before the split, a new command (written there,
  // shipped nowhere) and, once that timed out, the new one again. None may
  // be acknowledged.
  auto cut_off = led_with_ack(*before_split_map, c.log, controller, 3);
  CHECK_FALSE(cut_off.empty());
  std::vector<std::thread> probes;
  for (const auto& x : cut_off)
    probes.emplace_back([&w, minority, x] {
      caf::scoped_actor self{w.sys()};
      std::map<std::string, caf::actor> roots;
      w.send(self, roots, x.client, *minority, x.id, x.command);
      w.send(self, roots, "cut", *minority, x.id, "cut-" + x.id);
      w.send(self, roots, "cut", *minority, x.id, "cut-" + x.id);
    });
  // The majority's etcd elects a leader, its nodes a controller, which
  // fails every partition the minority led over.
  auto etcd_majority = c.etcd->make_client(1s, majority_etcd);
  std::string successor;
  REQUIRE(poll_until(
    [&] {
      successor = read_controller(etcd_majority, cluster_name);
      return !successor.empty() && successor != controller;
    },
    15s));
  auto t_controller = steady_clock::now();
  REQUIRE(poll_until(
    [&] {
      auto m = read_map(etcd_majority, cluster_name);
      return m
             && std::none_of(m->partitions.begin(), m->partitions.end(),
                             [&](auto& p) { return p.leader == controller; });
    },
    15s));
  auto t_failover = steady_clock::now();
  auto etcd_leader = c.etcd->leader();
  CHECK(etcd_leader.has_value());
  CHECK(etcd_leader != std::optional<std::size_t>{k});
  // The majority serves every account, and the clients go on.
  CHECK(answer_all(w, *majority[0], workload_accounts(), "majority", 10s));
  auto t_served = steady_clock::now();
  REQUIRE(w.await_acks(100, 30s));
  hold(w, 3s);
  for (auto& t : probes)
    t.join();
  auto t_heal = steady_clock::now();
  lab.heal();
  REQUIRE(await_settled(c.all(), 3, 60s));
  auto heal_s = seconds_since(t_heal);
  REQUIRE(w.await_acks(100, 30s));
  w.stop();
  // Acknowledgements through the minority, by time. No new command sent
  // after the split is acknowledged there (its events can reach no
  // majority), and nothing new at all once the split was detected. A resend
  // of a command committed before the split may be answered from the
  // minority's journal (a duplicate ack: a true statement, so allowed;
  // the checker holds each one to the revision the majority kept).
  std::size_t before_split = 0, fresh_sent_after_split = 0,
              fresh_after_detect = 0, duplicates_after_detect = 0;
  for (auto& r : w.replies()) {
    if (r.via != minority->name() || r.outcome != checker::op_type::ok
        || r.answered > t_heal)
      continue;
    if (r.answered < t_split)
      ++before_split;
    if (r.sent > t_split && !r.duplicate)
      ++fresh_sent_after_split;
    if (r.answered > t_detect)
      ++(r.duplicate ? duplicates_after_detect : fresh_after_detect);
  }
  std::printf("2/1 split (controller %s and etcd leader e%zu, moved from "
              "e%zu, cut off): both "
              "sides noticed after %.2f s, controller %s after %.2f s, "
              "failover after %.2f s, every account served through %s after "
              "%.2f s; settled %.2f s after healing; acks through %s: %zu "
              "before the split, %zu new ones sent after it, %zu new and %zu "
              "duplicates after detection\n",
              controller.c_str(), k + 1, *etcd_leader_before + 1,
              std::chrono::duration<double>(t_detect - t_split).count(),
              successor.c_str(),
              std::chrono::duration<double>(t_controller - t_split).count(),
              std::chrono::duration<double>(t_failover - t_split).count(),
              majority[0]->name().c_str(),
              std::chrono::duration<double>(t_served - t_split).count(), heal_s,
              minority->name().c_str(), before_split, fresh_sent_after_split,
              fresh_after_detect, duplicates_after_detect);
  CHECK(before_split > 0); // the minority served before
  CHECK(fresh_sent_after_split == 0);
  CHECK(fresh_after_detect == 0);
  auto rep = c.converge_and_check("2/1 split");
  std::printf("2/1 split: %.1f s in all\n", seconds_since(t0));
  INFO(rep.to_string());
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}

TEST_CASE("replicated faults: etcd's leader among three members killed under "
          "load: commits go on, a SIGKILLed controller still fails over",
          "[checker][replicated]") {
  auto t0 = steady_clock::now();
  replicated_cluster c{
    fault_options(std::vector<etcd_cluster::site>(3), nullptr, true)};
  auto& w = c.start_load({}, {}, 100);
  auto dead = c.etcd->leader();
  REQUIRE(dead.has_value());
  c.etcd->kill(*dead);
  auto t_kill = steady_clock::now();
  REQUIRE(w.await_acks(150, 20s));
  auto commits_s = seconds_since(t_kill);
  std::vector<std::string> live;
  for (std::size_t i = 0; i < c.etcd->size(); ++i)
    if (i != *dead)
      live.push_back(c.etcd->endpoint(i));
  auto etcd = c.etcd->make_client(1s, live);
  std::optional<control::partition_map> before;
  REQUIRE(poll_until(
    [&] {
      before = read_map(etcd, cluster_name);
      return before.has_value();
    },
    10s));
  // The controller dies (a new one must be elected and write the failover
  // through the two members left): the accounts it led answer again
  // through the others.
  auto* controller = c.by_name(read_controller(etcd, cluster_name));
  REQUIRE(controller != nullptr);
  auto& victim = *controller;
  auto& entry = *c.nodes[(&victim == c.nodes[0].get()) ? 1 : 0];
  std::vector<std::string> led;
  for (auto& id : workload_accounts())
    if (leader_of(*before, id) == victim.name())
      led.push_back(id);
  REQUIRE_FALSE(led.empty());
  victim.kill();
  auto t_node = steady_clock::now();
  CHECK(answer_all(w, entry, led, "failover", 15s));
  auto failover_s = seconds_since(t_node);
  auto after = read_map(etcd, cluster_name);
  REQUIRE(after.has_value());
  CHECK(after->version > before->version);
  for (auto& id : led)
    CHECK(leader_of(*after, id) != victim.name());
  REQUIRE(w.await_acks(100, 30s));
  // Both come back.
  c.etcd->restart(*dead);
  c.etcd->await_all();
  REQUIRE(c.start(victim));
  REQUIRE(await_settled(c.all(), 3, 60s));
  REQUIRE(w.await_acks(100, 30s));
  w.stop();
  std::printf("etcd member e%zu (leader) killed: 150 acks %.2f s after; "
              "controller %s killed: its %zu accounts answered through %s "
              "after %.2f s\n",
              *dead + 1, commits_s, victim.name().c_str(), led.size(),
              entry.name().c_str(), failover_s);
  auto rep = c.converge_and_check("etcd member down");
  std::printf("etcd member down: %.1f s in all\n", seconds_since(t0));
  INFO(rep.to_string());
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}

TEST_CASE("replicated faults: a slow follower (SIGSTOP/SIGCONT cycles) keeps "
          "its leaders' commit p99 within 1.5x of the baseline",
          "[checker][replicated]") {
  auto t0 = steady_clock::now();
  replicated_cluster c{
    fault_options(std::vector<etcd_cluster::site>(1), nullptr, false)};
  auto etcd = c.etcd->make_client();
  auto map = read_map(etcd, cluster_name);
  REQUIRE(map.has_value());
  auto controller = read_controller(etcd, cluster_name);
  // The slow node: one that is not the controller (its control loop and
  // the map stay out of the picture).
  std::mt19937 rng{Catch::rngSeed()};
  std::vector<node_proc*> candidates;
  for (auto* n : c.all())
    if (n->name() != controller)
      candidates.push_back(n);
  REQUIRE_FALSE(candidates.empty());
  auto& slow = *candidates[rng() % candidates.size()];
  // Accounts led by the two others, 8 each, sent straight to their leader:
  // every one of their partitions has the slow node as a follower.
  std::vector<std::pair<node_proc*, std::string>> targets;
  std::map<std::string, int> per_leader;
  for (int i = 0; targets.size() < 16 && i < 10000; ++i) {
    auto id = "slow-" + std::to_string(i);
    auto& leader = leader_of(*map, id);
    if (leader == slow.name() || per_leader[leader] == 8)
      continue;
    ++per_leader[leader];
    targets.emplace_back(c.by_name(leader), id);
  }
  REQUIRE(targets.size() == 16);
  workload::settings ws;
  ws.seed = Catch::rngSeed();
  c.load = std::make_unique<workload>(c.log, c.all(), ws);
  auto& w = *c.load;
  struct sample {
    steady_clock::time_point sent;
    double ms;
  };
  std::mutex mtx;
  std::vector<sample> samples;
  std::atomic<std::size_t> not_ok{0};
  std::atomic<bool> running{true};
  constexpr int clients = 4;
  std::vector<std::thread> threads;
  for (int j = 0; j < clients; ++j)
    threads.emplace_back([&, j] {
      caf::scoped_actor self{w.sys()};
      std::map<std::string, caf::actor> roots;
      auto client = "s" + std::to_string(j);
      for (std::size_t n = 0; running; ++n) {
        auto& [via, id] = targets[(j + n * clients) % targets.size()];
        auto sent = steady_clock::now();
        auto out = w.send(self, roots, client, *via, id,
                          client + "-" + std::to_string(n));
        auto ms = std::chrono::duration<double, std::milli>(steady_clock::now()
                                                            - sent)
                    .count();
        if (out != checker::op_type::ok) {
          ++not_ok;
          continue;
        }
        std::lock_guard guard{mtx};
        samples.push_back({sent, ms});
      }
    });
  // Alternating windows: baseline, then the follower frozen 200 ms of
  // every 300 ms (under the 2 s heartbeat and lease timeouts: no failover),
  // each followed by a pause that no window counts (its catch-up).
  constexpr int rounds = 10;
  constexpr auto window = 1s;
  constexpr auto pause = 300ms;
  std::vector<std::pair<steady_clock::time_point, steady_clock::time_point>>
    base_windows, slow_windows;
  // The leaders' replication frames sent, per window (shown, not checked).
  std::set<node_proc*> leaders;
  for (auto& [via, id] : targets)
    leaders.insert(via);
  auto frames_out = [&] {
    uint64_t sum = 0;
    for (auto* n : leaders)
      if (auto l = n->ask("replicas", "REPLICA counters")) {
        auto at = l->find("frames_out ");
        if (at != std::string::npos)
          sum += std::stoull(l->substr(at + 11));
      }
    return sum;
  };
  std::vector<double> base_frames, slow_frames;
  std::this_thread::sleep_for(1s); // warm-up
  for (int r = 0; r < rounds; ++r) {
    auto b0 = steady_clock::now();
    auto fb = frames_out();
    std::this_thread::sleep_for(window);
    base_windows.emplace_back(b0, steady_clock::now());
    base_frames.push_back(static_cast<double>(frames_out() - fb));
    std::this_thread::sleep_for(pause);
    auto f0 = steady_clock::now();
    auto ff = frames_out();
    while (steady_clock::now() - f0 < window) {
      slow.signal(SIGSTOP);
      std::this_thread::sleep_for(200ms);
      slow.signal(SIGCONT);
      std::this_thread::sleep_for(100ms);
    }
    slow_windows.emplace_back(f0, steady_clock::now());
    slow_frames.push_back(static_cast<double>(frames_out() - ff));
    std::this_thread::sleep_for(pause);
  }
  running = false;
  for (auto& t : threads)
    t.join();
  auto stats
    = [&](auto& windows, std::vector<double>& p99s, std::vector<double>& p50s) {
        for (auto& [from, to] : windows) {
          std::vector<double> ms;
          for (auto& s : samples)
            if (s.sent >= from && s.sent < to)
              ms.push_back(s.ms);
          REQUIRE(ms.size() >= 100);
          std::sort(ms.begin(), ms.end());
          p99s.push_back(ms[ms.size() * 99 / 100]);
          p50s.push_back(ms[ms.size() / 2]);
        }
        std::sort(p99s.begin(), p99s.end());
        std::sort(p50s.begin(), p50s.end());
      };
  std::vector<double> base_p99, base_p50, slow_p99, slow_p50;
  stats(base_windows, base_p99, base_p50);
  stats(slow_windows, slow_p99, slow_p50);
  auto median = [](const std::vector<double>& v) { return v[v.size() / 2]; };
  auto list = [](const std::vector<double>& v) {
    std::string out;
    for (auto x : v)
      out += (out.empty() ? "" : " ") + std::to_string(x).substr(0, 5);
    return out;
  };
  std::sort(base_frames.begin(), base_frames.end());
  std::sort(slow_frames.begin(), slow_frames.end());
  std::printf("slow follower: leaders' frames out per window: baseline [%s], "
              "slow [%s]\n",
              list(base_frames).c_str(), list(slow_frames).c_str());
  std::printf("slow follower %s: %zu commits, %zu not acknowledged; p99 per "
              "window (ms) baseline [%s], slow [%s]; medians p99 %.2f vs "
              "%.2f (x%.2f), p50 %.2f vs %.2f\n",
              slow.name().c_str(), samples.size(),
              static_cast<std::size_t>(not_ok), list(base_p99).c_str(),
              list(slow_p99).c_str(), median(base_p99), median(slow_p99),
              median(slow_p99) / median(base_p99), median(base_p50),
              median(slow_p50));
  CHECK(not_ok == 0);
  CHECK(median(slow_p99) <= 1.5 * median(base_p99));
  // No failover happened: the measurement is of the same leaders.
  auto now = read_map(etcd, cluster_name);
  REQUIRE(now.has_value());
  CHECK(now->version == map->version);
  REQUIRE(await_settled(c.all(), 3));
  auto rep = c.converge_and_check("slow follower");
  std::printf("slow follower: %.1f s in all\n", seconds_since(t0));
  INFO(rep.to_string());
  REQUIRE(rep.valid());
}
