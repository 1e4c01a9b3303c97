// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the replicated mode's control plane -- a one-member etcd
// the bench starts, its keys, reads through its JSON gateway, and the node
// options that point at it.
#pragma once

#include "cluster/cleanup.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cluster_bench {

/// An etcd key as the range call reports it.
struct etcd_kv {
  bool exists = false;
  std::string value;
  uint64_t version = 0; ///< writes since the key was created
  uint64_t mod_revision = 0;
};

/// Reads `key` from the etcd at 127.0.0.1:`port` (linearizable range read
/// through the JSON gateway); nullopt if etcd does not answer.
std::optional<etcd_kv> etcd_get(uint16_t port, const std::string& key);

/// A one-member etcd on loopback (/usr/bin/etcd, Debian etcd-server), data
/// in its own temporary directory; SIGKILLed with the object. The
/// constructor returns once its client port accepts connections and dies
/// if it does not within 30 s. Not thread-safe.
class etcd_server {
public:
  etcd_server();
  ~etcd_server();

  etcd_server(const etcd_server&) = delete;
  etcd_server& operator=(const etcd_server&) = delete;

  /// `127.0.0.1:<client port>`.
  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(client_port_);
  }

  /// `key` in this etcd; dies if etcd does not answer.
  etcd_kv get(const std::string& key) const;

private:
  static bool accepts(uint16_t port);

  bench_dir dir_;
  uint16_t client_port_ = 0;
  pid_t pid_ = 0;
};

/// The replicated nodes' cluster name in etcd, and its keys.
inline const std::string etcd_cluster = "bench";
inline const std::string map_key = "/annals/" + etcd_cluster + "/map";
inline const std::string controller_key
  = "/annals/" + etcd_cluster + "/controller";

/// The options of a replicated node of a 3-node cluster on `etcd`.
std::vector<std::string> replicated_options(const etcd_server& etcd,
                                            uint32_t rf);

} // namespace cluster_bench
