// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: a replicated cluster ready to measure -- its etcd, 3 node
// processes at RF 3, and the bench as a client of every node.
#pragma once

#include "cluster/client.hpp"
#include "cluster/etcd_server.hpp"
#include "cluster/node_cluster.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cluster_bench {

/// A 3-node replicated cluster (RF 3) with its etcd, and the bench as a
/// client connected to every node. Dies when a node does not start or
/// cannot be connected to. Not thread-safe (the main thread's).
class replicated_rig {
public:
  replicated_rig();
  ~replicated_rig();

  replicated_rig(const replicated_rig&) = delete;
  replicated_rig& operator=(const replicated_rig&) = delete;

  cluster& nodes() {
    return c_;
  }

  /// n1, n2, n3.
  std::vector<node_process*> all();

  /// Every node of n1, n2, n3 but `i`.
  std::vector<node_process*> all_but(std::size_t i);

  caf::actor_system& sys() {
    return sys_;
  }

  const etcd_server& etcd() const {
    return etcd_;
  }

  /// The handle entering the cluster at node `i` (of the first 3).
  const accounts_handle& handle(std::size_t i) const {
    return handles_[i];
  }

  /// After node `i` restarted: a handle to its new process.
  void reconnect(std::size_t i);

  /// The index of the etcd controller's node; dies if there is none.
  std::size_t controller() const;

  /// The partition map key's etcd version (writes since its creation).
  uint64_t map_version() const;

  /// Waits until the map's version stayed the same for `quiet`; returns it.
  /// Dies after 60 s.
  uint64_t await_map_quiet(std::chrono::milliseconds quiet
                           = std::chrono::seconds{1}) const;

private:
  std::string c_name(std::size_t i) const;

  accounts_handle connect(std::size_t i);

  etcd_server etcd_;
  cluster c_;
  client_config sys_cfg_;
  caf::actor_system sys_;
  std::vector<accounts_handle> handles_;
};

} // namespace cluster_bench
