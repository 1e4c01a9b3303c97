// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: a cluster of node processes on loopback.
#pragma once

#include "cluster/cleanup.hpp"
#include "cluster/node_process.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cluster_bench {

/// Node processes n1, n2, ... on loopback, their data in a fresh directory
/// (removed with the object, or by `die`), all registered in one etcd.
/// Dies when the nodes do not start or settle. Not thread-safe.
class cluster {
public:
  /// Starts `n` nodes with the options `extra`, which name the etcd they
  /// register in and the replication factor (`replicated_options`); waits
  /// until they settled.
  cluster(std::size_t n, std::vector<std::string> extra);

  /// Stops every node cleanly.
  ~cluster();

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Starts one more node, registering in the etcd (does not wait to
  /// settle).
  node_process& add();

  node_process& operator[](std::size_t i) {
    return *nodes_[i];
  }

  /// The nodes started so far (running or not).
  std::size_t size() const noexcept {
    return nodes_.size();
  }

  /// The running members.
  std::vector<node_process*> members();

  void mark_left(const node_process& n);

  /// Waits until the running members all report the same settled view of
  /// themselves, everyone reachable.
  void await_settled(std::chrono::seconds timeout = std::chrono::seconds{90});

  void stop_all();

  const std::string& path() const noexcept {
    return dir_.path();
  }

private:
  bench_dir dir_;
  std::vector<std::string> extra_;
  std::vector<std::unique_ptr<node_process>> nodes_;
  std::map<std::string, bool> left_;
};

} // namespace cluster_bench
