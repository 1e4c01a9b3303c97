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

/// The membership of the cluster at one version, with the owner epoch of
/// every partition.
///
/// Views change only by join and leave, one member at a time, decided by
/// the leader (the member with the smallest name) and only once every
/// member has finished the previous change's hand-offs. A node that dies
/// stays a member: its partitions are unavailable until it returns (there
/// is no replication to fail over to). Owners follow from `members` alone
/// (`owners()`), so any node computes any partition's owner locally.
struct view {
  uint64_t version = 0;
  /// Sorted by name.
  std::vector<member> members;
  /// The members of `version - 1` (empty for the first view): lets a node
  /// that missed that view (a joiner) find each partition's previous owner.
  std::vector<member> previous;
  /// Per partition: the version at which its owner last changed. Grows on
  /// every ownership change; the journal refuses writers with an older one.
  std::vector<uint64_t> epochs;

  bool empty() const noexcept {
    return members.empty();
  }

  /// The member called `name`, or nullptr.
  const member* find(const std::string& name) const noexcept;

  /// The leader: the member with the smallest name. @pre `!empty()`.
  const std::string& leader() const {
    return members.front().name;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, view& x) {
  return f(caf::meta::type_name("annals.cluster.view"), x.version, x.members,
           x.previous, x.epochs);
}

/// The owner (member name) of every partition among `members`, by the
/// consistent-hash ring (`ring.hpp`). Empty if `members` is.
std::vector<std::string> owners_of(const std::vector<member>& members,
                                   uint32_t partitions, uint32_t vnodes);

/// The first view: `self` alone, every partition at epoch 1.
view first_view(member self, uint32_t partitions);

/// The view after `old` with `members` instead: version + 1; partitions
/// whose owner changes get the new version as epoch.
view next_view(const view& old, std::vector<member> members,
               uint32_t partitions, uint32_t vnodes);

/// Serialises a view for storage (CAF binary format).
std::string encode_view(const view& v);

/// The view stored by `encode_view`; `malformed_payload` if damaged.
caf::expected<view> decode_view(const std::string& bytes);

} // namespace annals::cluster
