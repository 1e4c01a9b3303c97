// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module: who is in the cluster, and who owns what.
#pragma once

#include "annals/persistence/stream.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace annals::cluster {

/// One node of the cluster: a unique name and the address of its cluster
/// port.
struct member {
  std::string name;
  std::string host;
  uint16_t port = 0;

  friend bool operator==(const member&, const member&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  return f(caf::meta::type_name("annals.cluster.member"), x.name, x.host,
           x.port);
}

/// The cluster's members and partition epochs as one node knows them: the
/// partition map's at its version in replicated mode; on a standalone node
/// (no etcd) the node alone, version 1, every partition at the epoch its
/// journal holds (at least 1).
struct view {
  uint64_t version = 0;
  /// Sorted by name.
  std::vector<member> members;
  /// Per partition: its leader epoch. Grows with every leader or voter
  /// change; the journal refuses writers of an older one.
  std::vector<uint64_t> epochs;

  bool empty() const noexcept {
    return members.empty();
  }

  /// The member called `name`, or nullptr.
  const member* find(const std::string& name) const noexcept;
};

} // namespace annals::cluster
