// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the replicated cluster's partition map as the bench reads
// it from etcd (`/annals/<cluster>/map`, JSON format 2: see
// cluster/src/control/partition_map.hpp), reduced to what the bench
// compares -- who is a member, and per partition its epoch, leader,
// voters, learners and whether it is settled.
#pragma once

#include "cluster/etcd_server.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cluster_bench {

struct map_partition {
  uint64_t epoch = 0;
  std::string leader;
  std::set<std::string> voters;   ///< node names
  std::set<std::string> learners; ///< node names
  bool settled = true;
};

struct map_view {
  uint64_t etcd_version = 0; ///< writes of the key since it was created
  uint32_t rf = 0;
  std::set<std::string> members;
  std::set<std::string> serving; ///< members whose intent is "serve"
  std::vector<map_partition> partitions;
};

/// Parses the map's JSON; nullopt if it is not a map this bench knows
/// (never throws).
std::optional<map_view> parse_map(const std::string& json);

/// The map in `etcd`; nullopt while there is none (or it does not parse).
/// Dies if etcd does not answer.
std::optional<map_view> read_map(const etcd_server& etcd);

/// Whether `m` is at rest with exactly `members`: every partition settled,
/// without learners, its voters the ring's target (the first `m.rf`
/// serving members clockwise, `vnodes` points each: the nodes' default).
bool converged(const map_view& m, const std::set<std::string>& members,
               uint32_t vnodes = 128);

/// The partitions whose voters differ between `a` and `b`.
std::vector<uint32_t> moved_partitions(const map_view& a, const map_view& b);

/// How many of `ps` have another leader in `b` than in `a`.
std::size_t leaders_moved(const map_view& a, const map_view& b,
                          const std::vector<uint32_t>& ps);

} // namespace cluster_bench
