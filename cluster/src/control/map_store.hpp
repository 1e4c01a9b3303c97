// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): reading the partition map and the
// member registrations from etcd (used by the controller and by every
// node's map watcher).
//
// Guarantees: reads are linearizable (they see every write acknowledged
// before them).
// Errors: etcd errors unchanged; the map's `malformed_value` or
// `unknown_format` (with the key's revision in the description).
// Threads: thread-safe (the etcd client is); blocks the caller up to the
// client's deadline.
#pragma once

#include "control/keys.hpp"
#include "control/partition_map.hpp"
#include "control/planner.hpp"
#include "etcd/etcd_client.hpp"

#include <caf/expected.hpp>

#include <optional>
#include <string>
#include <vector>

namespace annals::cluster::control {

/// The map and the revision at which etcd last wrote it (the CAS token).
struct map_read {
  partition_map map;
  int64_t mod_revision = 0;
  /// The map key's value as etcd holds it (the JSON `map` was decoded
  /// from), for callers that pass the map on verbatim.
  std::string json;
};

/// Decodes the map key as read (`kvs` empty: no map yet).
caf::expected<std::optional<map_read>>
decode_map_key(const std::vector<etcd::key_value>& kvs);

/// Reads the map; an empty optional if there is none yet.
caf::expected<std::optional<map_read>> read_map(const etcd::client& c,
                                                const cluster_keys& keys);

/// The members whose registration keys exist (their leases are alive),
/// decoded from `kvs` (a read of `keys.members_prefix()`). Registrations
/// that do not decode are left out and counted in `*malformed`.
std::vector<live_member> decode_members(const cluster_keys& keys,
                                        const std::vector<etcd::key_value>& kvs,
                                        uint64_t* malformed = nullptr);

} // namespace annals::cluster::control
