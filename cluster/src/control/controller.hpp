// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the controller, the one node that
// writes the partition map in etcd (issue 14's control plane).
//
// What: every node registers itself (`register_member`, on its lease) and
// campaigns (`campaign`); the node holding the `controller` key then calls
// `step` from a timer (and on membership hints): it reads the members and
// the map in one linearizable read, plans (`planner.hpp`) and writes the
// next map, if it changed, by one compare-and-swap. `promote` does the
// same for a learner its leader reported caught up.
//
// Guarantees:
// - Election: the controller key is created only if absent, attached to
//   the candidate's lease; it goes with the lease (revoked, or expired
//   after its TTL), and then the next `campaign` of another node wins.
// - A map write is ONE etcd txn that succeeds only if the map key's mod
//   revision is still the one read AND the controller key still holds this
//   node's name on this node's lease: a deposed controller, or one racing
//   another write, writes nothing (`conflict`).
// - A failover (any number of partitions whose leader's lease went) is one
//   map write; `counters()` proves it (`failover_writes`).
//
// Errors: `not_controller` (the key is not ours: nothing written),
// `conflict` (the CAS failed: nothing written; step again), the map's
// `malformed_value` / `unknown_format` (the controller never overwrites a
// map it cannot read: an operator must repair it), planner errors, and
// etcd errors (writes that end `unavailable` / `timeout` have an unknown
// outcome: the next `step` re-reads and sees).
//
// Threads: confined to the caller's thread (a timer thread of the node;
// no actors). The etcd calls block up to the client's deadline each. The
// lease (the node's liveness) is kept alive elsewhere (`lease_keeper`).
#pragma once

#include "control/keys.hpp"
#include "control/map_store.hpp"
#include "control/planner.hpp"
#include "control/registration.hpp"
#include "etcd/etcd_client.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <set>
#include <string>

namespace annals::cluster::control {

struct controller_config {
  /// The cluster's name (the `/annals/<cluster>/` prefix).
  std::string cluster;
  /// This node's name (its `members/<name>` key, the controller's value).
  std::string self;
  /// Partition count, configured RF, ring points per member.
  plan_config plan;
};

struct campaign_result {
  /// This node holds the controller key (created now or before).
  bool elected = false;
  /// The holder's name (this node's if elected).
  std::string holder;
};

struct step_result {
  /// A new map was written (false: nothing changed).
  bool written = false;
  /// Partitions failed over by this write.
  uint32_t failovers = 0;
  /// The map now in etcd.
  partition_map map;
  /// The map key's mod revision now.
  int64_t mod_revision = 0;
};

/// What this controller did, for tests and metrics.
struct controller_counters {
  /// Successful map writes (CAS txns that succeeded).
  uint64_t map_writes = 0;
  /// Map writes that failed over at least one partition.
  uint64_t failover_writes = 0;
  /// Partitions failed over, summed over all writes.
  uint64_t failovers = 0;
  /// CAS txns refused (`conflict`).
  uint64_t conflicts = 0;
  /// Member registrations left out because they did not decode.
  uint64_t malformed_members = 0;
};

class controller {
public:
  /// A controller for node `cfg.self` holding lease `lease` (its liveness
  /// lease: the node's registration and controller key live on it).
  controller(etcd::client c, controller_config cfg, int64_t lease);

  const cluster_keys& keys() const noexcept {
    return keys_;
  }

  /// Writes `members/<self>` on the lease (one put).
  /// @returns etcd errors (`lease_not_found` if the lease is gone).
  caf::error register_member(const registration& reg);

  /// Creates the controller key on the lease if it is absent (one txn).
  /// @returns whether this node holds it and who does; etcd errors.
  caf::expected<campaign_result> campaign();

  /// As controller: reads members, controller key and map (one read-only
  /// txn), plans and, if the map changed, writes it (one CAS txn).
  /// @returns the errors listed in the file comment.
  /// `suspects`: members this node lost its connection to (a SIGKILLed
  /// process closes its sockets at once); they are planned as if their
  /// leases were gone, so their partitions fail over without waiting for
  /// the lease TTL. A wrong suspicion costs a failover, never safety (the
  /// new leader fences a majority). Only members the map lists are
  /// suspected: a registered node the map does not list joins whatever
  /// this node believes of an earlier connection to it.
  caf::expected<step_result> step(const std::set<std::string>& suspects = {});

  /// As controller: promotes learner (`node`, `incarnation`) of `p`
  /// (`promote_learner`) and writes the map (one CAS txn).
  caf::expected<step_result> promote(partition_id p, const std::string& node,
                                     const std::string& incarnation);

  /// As controller: promotes every reported learner (`promote_learners`) in
  /// ONE map write; none if no report names a learner (`written` false).
  caf::expected<step_result>
  promote(const std::vector<learner_report>& reports);

  /// As controller: appoints again the leaders that reported a stale
  /// appointment (`reappoint`) in ONE map write (`written` false if no
  /// report still applies).
  caf::expected<step_result>
  reappoint(const std::vector<stale_appointment>& reports);

  /// As controller: marks the partitions whose leaders reported their
  /// voters settled (`control::settle`) in ONE map write (`written` false
  /// if no report still applies).
  caf::expected<step_result> settle(const std::vector<settled_epoch>& reports);

  /// The CAS: writes `next` if the map key's mod revision is
  /// `expected_mod_revision` (0: the key must be absent) and the
  /// controller key is this node's on its lease.
  /// @returns the map key's new mod revision; `conflict`; etcd errors.
  caf::expected<int64_t> write_map(const partition_map& next,
                                   int64_t expected_mod_revision);

  /// The map as etcd has it now (linearizable); none before the first.
  caf::expected<std::optional<map_read>> read_map() const;

  const controller_counters& counters() const noexcept {
    return counters_;
  }

private:
  /// One map write of `change(current map)` (a `promotion`), if it
  /// changed anything.
  template <class Change>
  caf::expected<step_result> amend(Change change);

  struct snapshot {
    std::vector<live_member> members;
    std::optional<map_read> map;
  };

  /// One read-only txn: members, map and controller key; `not_controller`
  /// unless the key is ours.
  caf::expected<snapshot> read_as_controller();

  bool holds(const std::vector<etcd::key_value>& controller_kvs) const;

  etcd::client client_;
  controller_config cfg_;
  cluster_keys keys_;
  int64_t lease_;
  controller_counters counters_;
};

} // namespace annals::cluster::control
