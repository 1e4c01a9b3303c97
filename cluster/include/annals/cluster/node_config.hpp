// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module: how one node is set up.
#pragma once

#include "annals/runtime_config.hpp"

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace annals::cluster {

/// Settings of one cluster node (`--cluster.*` options, see `config`).
struct node_config {
  /// Unique, stable name of the node (its identity on the hash ring).
  std::string name;
  /// The address the cluster port binds to -- and only that address.
  std::string host = "127.0.0.1";
  /// The cluster port; 0 lets the OS choose (tests).
  uint16_t port = 0;
  /// Removed (it named members to join through, before etcd): `start`
  /// refuses a non-empty list with a message naming `etcd`.
  std::vector<std::string> seeds;
  /// Virtual nodes per member on the ring.
  uint32_t vnodes = 128;
  /// Timeout of one hop of a routed command to its owner.
  caf::timespan request_timeout = std::chrono::seconds{10};
  /// Cluster traffic over mutual TLS (CAF's openssl module). Requires
  /// `openssl.certificate`, `openssl.key` and `openssl.cafile` in the actor
  /// system's config: `start` refuses an incomplete TLS setup.
  bool tls = false;
  /// Plain (unauthenticated) cluster traffic on a non-loopback `host`.
  /// Without it, `start` refuses a non-loopback host unless `tls` is set:
  /// CAF 0.17's plain port lets any peer message the node.
  bool insecure = false;
  /// Replicated mode: etcd's client endpoints (`host:port`). Empty: the
  /// node runs alone, without etcd and without replication (it costs
  /// nothing more than the in-process runtime).
  std::vector<std::string> etcd;
  /// Replicated mode: the cluster's name in etcd (`/annals/<name>/`).
  std::string cluster_name = "annals";
  /// Replicated mode: replicas per partition (clamped to the members).
  uint32_t replication_factor = 3;
  /// Replicated mode: a new cluster's first partition map waits until this
  /// many nodes registered, so that they all start as voters (like
  /// Consul's `bootstrap_expect`). Nodes joining later become learners.
  uint32_t initial_members = 1;
};

/// The actor system config of a cluster node: `annals::config` plus the
/// `--cluster.*` options, CAF's network module (and its openssl module for
/// TLS), and heartbeats so that a hung peer is detected (250 ms interval,
/// 2 s timeout; every node must use the same values).
class config : public annals::config {
public:
  config();

  /// The node settings parsed from the options.
  node_config node() const;

  /// Checks the settings that must hold before an actor system is built
  /// from this config. With `--cluster.tls`: `openssl.certificate`,
  /// `openssl.key` and `openssl.cafile` are all set and name readable
  /// files. Fails with `errc::invalid_command` naming the missing option.
  ///
  /// Call it right after `parse`: CAF's openssl module throws from the
  /// actor system's constructor when a certificate is set without a key
  /// (or the other way round), so `node::start`'s own check comes too late
  /// for those cases.
  [[nodiscard]] caf::error validate() const;

private:
  std::string name_;
  std::string host_ = "127.0.0.1";
  uint16_t port_ = 0;
  std::string seeds_;
  bool tls_ = false;
  bool insecure_ = false;
  std::string etcd_;
  std::string cluster_name_ = "annals";
  uint32_t replication_factor_ = 3;
  uint32_t initial_members_ = 1;
};

} // namespace annals::cluster
