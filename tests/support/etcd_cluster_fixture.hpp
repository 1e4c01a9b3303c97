// annals -- test support: the control plane of a multi-node cluster for
// multi-process tests. One etcd member on loopback, the `--cluster.*`
// options that make a node process a member of a cluster on it, and what a
// test awaits in etcd (the controller, the partition map).
//
// Every multi-node cluster runs over etcd (a node without `--cluster.etcd`
// is a standalone node). Node processes are the test's own (node_process in
// tests/cluster/cluster_harness.hpp, bank_node in tests/bank, node_proc in
// tests/checker): start each with `node_args()` appended to its options,
// then await the nodes' own "settled" report.
//
// Build needs: include directories tests/support and cluster/src; link
// annals_cluster_control (the map codec; it brings the etcd client).
#pragma once

#include "control/keys.hpp"
#include "control/map_store.hpp"
#include "control/partition_map.hpp"
#include "control/planner.hpp"
#include "etcd_harness.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace annals::testing {

/// The partition map of cluster `name` in etcd; nothing if there is none
/// yet or it could not be read.
inline std::optional<cluster::control::partition_map>
read_map(const cluster::etcd::client& c, const std::string& name) {
  auto r = cluster::control::read_map(c, cluster::control::cluster_keys{name});
  if (!r || !*r)
    return std::nullopt;
  return std::move((**r).map);
}

/// The name of the node holding cluster `name`'s controller key; empty if
/// none does or etcd did not answer.
inline std::string read_controller(const cluster::etcd::client& c,
                                   const std::string& name) {
  auto r = c.get(cluster::control::cluster_keys{name}.controller());
  if (!r || r->kvs.empty())
    return {};
  return r->kvs.front().value;
}

/// True if `m` lists exactly `members` and every partition is settled, has
/// no learner and has exactly its ring target as voters (a join or leave
/// finished moving replicas; `vnodes` must be the nodes'
/// `cluster::node_config::vnodes`).
inline bool replicas_moved(const cluster::control::partition_map& m,
                           const std::set<std::string>& members,
                           uint32_t vnodes = 128) {
  std::set<std::string> names;
  for (const auto& x : m.members)
    names.insert(x.name);
  if (names != members)
    return false;
  for (uint32_t p = 0; p < m.partitions.size(); ++p) {
    const auto& x = m.partitions[p];
    auto target = cluster::control::target_replicas(m, p, vnodes);
    std::set<std::string> voters;
    for (const auto& r : x.replicas)
      voters.insert(r.node);
    if (!x.settled || !x.learners.empty()
        || voters != std::set<std::string>(target.begin(), target.end()))
      return false;
  }
  return true;
}

/// One etcd member (started and awaited by the constructor, ~1 s; SIGKILLed
/// with the object) and the settings of the cluster its nodes form. Not
/// thread-safe.
struct etcd_cluster_fixture {
  struct settings {
    /// Replicas per partition: 1 when replication is not what a test is
    /// about (cheaper, and a dead node's partitions stay unavailable), 3
    /// where faults are.
    uint32_t replication_factor = 1;
    /// How many nodes register before the first map (they all start as
    /// voters); nodes started later join (learners first).
    uint32_t initial_members = 3;
    /// The cluster's name in etcd (`/annals/<name>/`).
    std::string name = "test";
    /// etcd over TLS: its server identity (clients must present a
    /// certificate of a CA it trusts). Nodes started with `--cluster.tls`
    /// speak TLS to etcd with their own identity, so they need this.
    std::optional<tls_identity> server_tls;
    /// The identity the fixture's own reads present to a TLS etcd.
    std::optional<cluster::etcd::tls_files> client_tls;
  };

  etcd_cluster etcd;
  settings cfg;

  etcd_cluster_fixture() : etcd_cluster_fixture(settings{}) {
  }

  explicit etcd_cluster_fixture(settings s)
    : etcd(1, s.server_tls, s.client_tls), cfg(std::move(s)) {
  }

  /// The options that put a node into this cluster (append them to its
  /// command line; the node's name, port and data dir stay the test's).
  std::vector<std::string> node_args() const {
    return {"--cluster.etcd=" + etcd.endpoint(0),
            "--cluster.cluster-name=" + cfg.name,
            "--cluster.replication-factor="
              + std::to_string(cfg.replication_factor),
            "--cluster.initial-members=" + std::to_string(cfg.initial_members)};
  }

  /// The name of the node holding the controller key; empty if none does
  /// or etcd did not answer (1 s).
  std::string controller() const {
    return read_controller(etcd.make_client(), cfg.name);
  }

  /// The partition map in etcd; nothing if there is none yet or it could
  /// not be read.
  std::optional<cluster::control::partition_map> map() const {
    return read_map(etcd.make_client(), cfg.name);
  }

  /// Waits until the map lists exactly `members` and every partition is
  /// settled, has no learner and has exactly its ring target as voters
  /// (a join or leave finished moving replicas; `vnodes` must be the
  /// nodes' `cluster::node_config::vnodes`). Reads the map every 20 ms.
  /// Returns that map; nothing if it did not happen within `timeout`.
  std::optional<cluster::control::partition_map>
  await_map(const std::set<std::string>& members,
            std::chrono::milliseconds timeout = std::chrono::seconds{60},
            uint32_t vnodes = 128) const {
    auto c = etcd.make_client();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto m = read_map(c, cfg.name);
          m && replicas_moved(*m, members, vnodes))
        return m;
      if (std::chrono::steady_clock::now() > deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }
};

/// How many partitions of `m` node `name` leads.
inline std::size_t partitions_led(const cluster::control::partition_map& m,
                                  const std::string& name) {
  std::size_t n = 0;
  for (const auto& x : m.partitions)
    n += x.leader == name ? 1 : 0;
  return n;
}

} // namespace annals::testing
