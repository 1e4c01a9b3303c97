// annals -- test support for the history-checker tests against replicated
// clusters: an etcd (one member on loopback, or one per site), checker
// node processes n1..nN in replicated mode (every partition on RF = 3
// nodes), started and settled; what their `replicas` command and the
// partition map in etcd say (who leads, who follows at which epoch); and
// the common end of a run (stop every node, check the history against
// every node's journal).
//
// Catch2 assertions: include from test translation units only.
#pragma once

#include "annals/persistence/stream.hpp"

#include "cluster_history.hpp"
#include "control/keys.hpp"
#include "control/map_store.hpp"
#include "control/partition_map.hpp"
#include "control/planner.hpp"
#include "etcd_cluster_fixture.hpp"
#include "etcd_harness.hpp"
#include "netns_lab.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace annals::testing {

namespace control = annals::cluster::control;

/// `--annals.partitions` of every node_proc.
constexpr uint32_t checker_partitions = 64;

// -- the partition map in etcd
// -------------------------------------------------

/// The leader of account `id`'s partition in `map`.
inline const std::string& leader_of(const control::partition_map& map,
                                    const std::string& id) {
  auto p = partition_of(stream_id{"sample.account", id},
                        static_cast<uint32_t>(map.partitions.size()));
  return map.partitions.at(p).leader;
}

/// True if `node` is a voter of partition `x`.
inline bool voter_of(const control::partition_assignment& x,
                     const std::string& node) {
  return std::any_of(x.replicas.begin(), x.replicas.end(),
                     [&](const auto& r) { return r.node == node; });
}

/// Waits until the map's members are `members` and every partition is
/// settled, has no learner, and has exactly the ring's target as voters
/// (a join or leave has moved every replica); the map, or nothing after
/// `timeout`.
inline std::optional<control::partition_map>
await_moved(const etcd_cluster& etcd, const std::string& cluster,
            const std::set<std::string>& members,
            std::chrono::seconds timeout = std::chrono::seconds{60}) {
  auto c = etcd.make_client();
  std::optional<control::partition_map> out;
  await(
    [&] {
      auto m = read_map(c, cluster);
      if (!m)
        return false;
      if (!replicas_moved(*m, members))
        return false;
      out = std::move(m);
      return true;
    },
    timeout);
  return out;
}

// -- what the nodes' replicas say
// ----------------------------------------------

/// One line of a node's `replicas` answer.
struct replica_line {
  std::string phase;
  uint64_t epoch = 0;
  uint64_t hw = 0;
  uint64_t end = 0;
  std::string leader;
};

/// `n`'s replicas by partition; empty if it did not answer.
inline std::map<uint32_t, replica_line> replicas_of(node_proc& n) {
  std::map<uint32_t, replica_line> out;
  if (!n.up() || !n.ask("replicas", "REPLICA "))
    return out;
  for (;;) {
    auto line = n.await("REPLICA", std::chrono::seconds{15});
    if (!line || *line == "REPLICAS END")
      return out;
    // "REPLICA <p> voter|learner <phase> epoch <e> hw <hw> end <end>
    // leader <node>"
    std::istringstream in{line->substr(8)};
    uint32_t p = 0;
    std::string role, w1, w2, w3, w4;
    replica_line r;
    if (in >> p >> role >> r.phase >> w1 >> r.epoch >> w2 >> r.hw >> w3 >> r.end
        >> w4 >> r.leader)
      out[p] = r;
  }
}

/// Every partition served: held by at least min(3, |nodes|) of `nodes`
/// (RF 3), exactly one of which leads it while every other follows that
/// leader at its epoch. `why` says what is missing.
inline bool serving(const std::vector<node_proc*>& nodes, std::string& why,
                    uint32_t partitions = checker_partitions) {
  std::vector<std::map<uint32_t, replica_line>> views;
  for (auto* n : nodes) {
    views.push_back(replicas_of(*n));
    if (views.back().empty()) {
      why = n->name() + " reports no replica";
      return false;
    }
  }
  auto holders = std::min<std::size_t>(3, nodes.size());
  for (uint32_t p = 0; p < partitions; ++p) {
    const replica_line* lead = nullptr;
    std::string leader;
    std::size_t held = 0;
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      auto it = views[k].find(p);
      if (it == views[k].end())
        continue;
      ++held;
      if (it->second.phase == "leader") {
        if (lead != nullptr) {
          why = "partition " + std::to_string(p) + " has two leaders";
          return false;
        }
        lead = &it->second;
        leader = nodes[k]->name();
      }
    }
    if (held < holders) {
      why = "partition " + std::to_string(p) + " has " + std::to_string(held)
            + " replicas";
      return false;
    }
    if (lead == nullptr) {
      why = "partition " + std::to_string(p) + " has no leader";
      return false;
    }
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      auto it = views[k].find(p);
      if (it == views[k].end() || nodes[k]->name() == leader)
        continue;
      const auto& r = it->second;
      if (r.phase != "follower" || r.epoch != lead->epoch
          || r.leader != leader) {
        why = nodes[k]->name() + " does not follow " + leader + " in partition "
              + std::to_string(p);
        return false;
      }
    }
  }
  return true;
}

/// Waits until `serving(nodes)`; false (and `why`) after `limit`.
inline bool await_serving(const std::vector<node_proc*>& nodes,
                          std::string& why,
                          std::chrono::seconds limit = std::chrono::seconds{40},
                          uint32_t partitions = checker_partitions) {
  auto deadline = steady_clock::now() + limit;
  for (;;) {
    if (serving(nodes, why, partitions))
      return true;
    if (steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

/// After the load: `serving`, every replica of a partition ends where its
/// leader does, and each leader's high watermark reached its end. `why`
/// says what differs.
inline bool converged(const std::vector<node_proc*>& nodes, std::string& why,
                      uint32_t partitions = checker_partitions) {
  if (!serving(nodes, why, partitions))
    return false;
  std::vector<std::map<uint32_t, replica_line>> views;
  for (auto* n : nodes)
    views.push_back(replicas_of(*n));
  for (uint32_t p = 0; p < partitions; ++p) {
    const replica_line* lead = nullptr;
    for (auto& v : views)
      if (auto it = v.find(p); it != v.end() && it->second.phase == "leader")
        lead = &it->second;
    if (lead == nullptr || lead->hw != lead->end) {
      why = "partition " + std::to_string(p) + ": no leader, or its high "
            + "watermark is short of its end";
      return false;
    }
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      auto it = views[k].find(p);
      if (it != views[k].end() && it->second.end != lead->end) {
        why = "partition " + std::to_string(p) + ": " + nodes[k]->name()
              + " ends at " + std::to_string(it->second.end) + ", its leader "
              + it->second.leader + " at " + std::to_string(lead->end);
        return false;
      }
    }
  }
  return true;
}

/// Waits until `converged(nodes)`; false (and `why`) after `limit`.
inline bool
await_converged(const std::vector<node_proc*>& nodes, std::string& why,
                std::chrono::seconds limit = std::chrono::seconds{30}) {
  auto deadline = steady_clock::now() + limit;
  for (;;) {
    if (converged(nodes, why))
      return true;
    if (steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

// -- the cluster
// ---------------------------------------------------------------

/// An etcd and replicated checker nodes n1..nN (`nodes`, started and
/// settled by the constructor unless `start` is false; more may be
/// `add`ed and started later). Each node lists every etcd member, its own
/// site's first. With a lab, node k runs in namespace n<k> at its address
/// with plain BASP (`--cluster.insecure`). Node stderr goes to
/// `<name>.<start>.log` in the run's directory. Not thread-safe.
struct replicated_cluster {
  struct options {
    /// The cluster's name in etcd.
    std::string name = "checker";
    /// The node program (checker_node_child or its planted build).
    std::string binary = ANNALS_CHECKER_NODE_CHILD;
    /// Node options after the cluster's (e.g. `--plant=...`).
    std::vector<std::string> extra;
    /// Nodes started by the constructor (and `--cluster.initial-members`).
    std::size_t nodes = 3;
    /// Every start subscribes (`--sub=<name>#<start>`).
    bool subscribe = true;
    /// etcd members: one on loopback if empty.
    std::vector<etcd_cluster::site> sites;
    /// Node k's etcd site (index into `sites`); by default k % sites.
    std::vector<std::size_t> home;
    netns_lab* lab = nullptr;
    /// Start the nodes and await them settled in the constructor.
    bool start = true;
  };

  temp_dir tmp;
  history_log log{tmp.sub("history.txt")};
  options opts;
  std::unique_ptr<etcd_cluster> etcd;
  std::vector<std::unique_ptr<node_proc>> nodes;
  std::unique_ptr<workload> load;

  explicit replicated_cluster(options o) : opts(std::move(o)) {
    etcd = opts.sites.empty() ? std::make_unique<etcd_cluster>(1)
                              : std::make_unique<etcd_cluster>(opts.sites);
    for (std::size_t k = 0; k < opts.nodes; ++k)
      add("n" + std::to_string(k + 1));
    if (!opts.start)
      return;
    for (auto& n : nodes)
      REQUIRE(start(*n));
    REQUIRE(await_settled(all(), opts.nodes));
  }

  replicated_cluster() : replicated_cluster(options{}) {
  }

  ~replicated_cluster() {
    // The clients first, then the nodes (before etcd and the lab).
    load.reset();
    nodes.clear();
  }

  /// A node called `name` (not started), with the cluster's options.
  node_proc& add(const std::string& name) {
    auto k = nodes.size();
    auto home = k < opts.home.size() ? opts.home[k] : k % etcd->size();
    std::string eps;
    for (std::size_t i = 0; i < etcd->size(); ++i)
      eps += (i == 0 ? "" : ",") + etcd->endpoint((home + i) % etcd->size());
    std::vector<std::string> extra{
      "--cluster.etcd=" + eps, "--cluster.cluster-name=" + opts.name,
      "--cluster.initial-members=" + std::to_string(opts.nodes), "--verbose"};
    if (opts.lab != nullptr)
      extra.emplace_back("--cluster.insecure"); // plain BASP on the bridge
    for (const auto& x : opts.extra)
      extra.push_back(x);
    auto n = std::make_unique<node_proc>(opts.binary, name, tmp.sub(name), &log,
                                         extra);
    if (opts.lab != nullptr) {
      n->set_host(opts.lab->addr(name));
      n->wrapper = opts.lab->wrapper(name);
    }
    nodes.push_back(std::move(n));
    return *nodes.back();
  }

  /// Starts `n` (again), its stderr in `<name>.<start>.log`; false if it
  /// did not print READY.
  bool start(node_proc& n) {
    n.stderr_file
      = tmp.sub(n.name() + "." + std::to_string(++starts_[n.name()]) + ".log");
    return n.start(opts.subscribe);
  }

  /// The nodes that run.
  std::vector<node_proc*> all() const {
    std::vector<node_proc*> out;
    for (const auto& n : nodes)
      if (n->up())
        out.push_back(n.get());
    return out;
  }

  /// Every node added, started or not.
  std::vector<node_proc*> added() const {
    std::vector<node_proc*> out;
    for (const auto& n : nodes)
      out.push_back(n.get());
    return out;
  }

  /// Every node ever started (their journals are the checker's input).
  std::vector<node_proc*> every() const {
    std::vector<node_proc*> out;
    for (const auto& n : nodes)
      if (n->started())
        out.push_back(n.get());
    return out;
  }

  node_proc& operator[](std::size_t i) {
    return *nodes.at(i);
  }

  node_proc* by_name(const std::string& name) {
    for (auto& n : nodes)
      if (n->name() == name)
        return n.get();
    return nullptr;
  }

  /// A client of every etcd member.
  cluster::etcd::client etcd_client() const {
    return etcd->make_client();
  }

  std::optional<control::partition_map> map() const {
    return read_map(etcd->make_client(), opts.name);
  }

  /// Clients through `via` (default: every node that runs) with `ws`
  /// (its seed Catch's), keeping a record of each reply; waits for their
  /// first `first_acks` acknowledgements.
  workload& start_load(std::vector<node_proc*> via = {},
                       workload::settings ws = {},
                       std::size_t first_acks = 50) {
    ws.seed = Catch::rngSeed();
    load = std::make_unique<workload>(log, via.empty() ? all() : via, ws);
    load->keep_replies = true;
    load->start();
    REQUIRE(load->await_acks(first_acks));
    return *load;
  }

  /// Stops every node that runs (EOF), checking each exits 0.
  void stop_all() {
    for (auto* n : all()) {
      auto st = n->stop();
      INFO(n->name() << " exit status " << st);
      CHECK(WIFEXITED(st));
      CHECK(WEXITSTATUS(st) == 0);
    }
  }

  /// Stops every node and checks the history against every journal;
  /// prints `what` with the report and keeps the run if it is not valid
  /// (unless `anomalies_expected`: a planted bug).
  /// `journals`: whose journals hold the history (default: the nodes the
  /// final partition map lists, or every node if it cannot be read). A
  /// node that left is no replica any more: a suffix it wrote as leader and
  /// no majority took is never truncated there, so only members' journals
  /// are the history (an acknowledged write missing from them is still
  /// reported as lost).
  checker::report stop_and_check(const std::string& what,
                                 bool anomalies_expected = false,
                                 std::vector<node_proc*> journals = {}) {
    if (journals.empty())
      if (auto m = map())
        for (auto* n : every())
          if (m->find_member(n->name()) != nullptr)
            journals.push_back(n);
    if (journals.empty())
      journals = every();
    stop_all();
    auto rep = check_cluster(log, journals);
    std::printf("%s: %s", what.c_str(), rep.to_string().c_str());
    std::fflush(stdout);
    if (!rep.valid() && !anomalies_expected)
      keep_run(tmp, "replicated");
    return rep;
  }

  /// After the clients stopped: every account of the workload takes a
  /// deposit through every node that runs (within 15 s each), every
  /// subscriber sees each account's newest acknowledged revision, every
  /// replica reaches the same partition ends, and `stop_and_check`.
  checker::report converge_and_check(const std::string& what);

private:
  std::map<std::string, int> starts_;
};

/// The workload's accounts (acct-0 .. acct-<aggregates - 1>).
inline std::vector<std::string>
workload_accounts(int aggregates = workload::settings{}.aggregates) {
  std::vector<std::string> out;
  for (int i = 0; i < aggregates; ++i)
    out.push_back("acct-" + std::to_string(i));
  return out;
}

/// Sends one deposit to each of `ids` through `via` (command id
/// `<tag>-<id>`), again with the same id after anything but an ack, until
/// every one is acknowledged; false if that takes longer than `limit`.
inline bool answer_all(workload& w, const node_proc& via,
                       const std::vector<std::string>& ids,
                       const std::string& tag,
                       std::chrono::milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  caf::scoped_actor self{w.sys()};
  std::map<std::string, caf::actor> roots;
  for (const auto& id : ids) {
    while (w.send(self, roots, tag, via, id, tag + "-" + id)
           != checker::op_type::ok) {
      if (steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }
  return true;
}

inline checker::report
replicated_cluster::converge_and_check(const std::string& what) {
  auto ids = workload_accounts();
  for (auto* n : all()) {
    INFO("every account through " << n->name());
    CHECK(answer_all(*load, *n, ids, "after-" + n->name(),
                     std::chrono::seconds{15}));
  }
  std::map<std::string, revision> newest;
  for (auto& x : log.read().ops)
    if (x.type == checker::op_type::ok)
      newest[x.stream] = std::max(newest[x.stream], x.last);
  if (opts.subscribe) {
    std::set<std::string> subs;
    for (auto* n : all())
      subs.insert(n->subscriber());
    CHECK(await_caught_up(log, subs, newest, std::chrono::seconds{20}) == "");
  }
  std::string why;
  auto same = await_converged(all(), why);
  INFO(why);
  CHECK(same);
  auto rep = stop_and_check(what);
  std::printf("%s: %zu acks (%zu duplicate), %zu definite failures, %zu "
              "unknown, %zu connection refusals\n",
              what.c_str(), static_cast<std::size_t>(load->acks),
              static_cast<std::size_t>(load->duplicate_acks),
              static_cast<std::size_t>(load->fails),
              static_cast<std::size_t>(load->unknowns),
              static_cast<std::size_t>(load->unreachable));
  return rep;
}

/// Polls `pred` every 50 ms until it holds; false after `limit`.
inline bool poll_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  for (;;) {
    if (pred())
      return true;
    if (steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

/// Acknowledgements through `via` in [from, to) of `w`'s reply records:
/// fresh ones (not duplicates) and duplicates.
struct acks_through {
  std::size_t fresh = 0;
  std::size_t duplicates = 0;
};

inline acks_through acked_via(workload& w, const std::string& via,
                              steady_clock::time_point from,
                              steady_clock::time_point to) {
  acks_through out;
  for (const auto& r : w.replies())
    if (r.via == via && r.outcome == checker::op_type::ok && r.answered > from
        && r.answered < to)
      ++(r.duplicate ? out.duplicates : out.fresh);
  return out;
}

} // namespace annals::testing
