// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: the messages replicas of a partition
// exchange (transport-neutral; the node actor wraps them per partition).
#pragma once

#include "replication/lineage.hpp"
#include "replication/replica_log.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace annals::replication {

/// A replica's index in its partition's replica set.
using replica_id = uint32_t;

/// One replica of a partition as the partition map lists it: a node and the
/// incarnation of its data directory. A replica that answers with another
/// incarnation is a learner: it receives the log, it is never counted.
struct member {
  replica_id id = 0;
  std::string incarnation;
};

using membership = std::vector<member>;

/// A new leader asks a replica to refuse every epoch below `epoch` from now
/// on (durably, like a Raft vote) and to report its durable log.
struct fence_request {
  uint64_t epoch = 0;
  replica_id leader = 0;
};

/// Answer to `fence_request`. Accepted iff `fence == epoch`; a higher
/// `fence` tells the sender that it has been deposed. On acceptance,
/// `log_lineage` and `end` describe the replica's durable log.
struct fence_reply {
  uint64_t epoch = 0;
  replica_id from = 0;
  std::string incarnation;
  uint64_t fence = 0;
  lineage log_lineage;
  position end = 0;
};

/// A recovering leader fetches the entries `from..to` it lacks from the
/// most up-to-date fenced replica, one chunk (a batch) per request.
struct pull_request {
  uint64_t epoch = 0;
  replica_id leader = 0;
  position from = 0;
  position to = 0;
};

/// Answer to `pull_request`: the next chunk of entries from `from` on, whole
/// appends bounded like a `replicate` batch (accepted iff `fence == epoch`).
struct pull_reply {
  uint64_t epoch = 0;
  replica_id from = 0;
  std::string incarnation;
  uint64_t fence = 0;
  position first = 0;
  std::vector<log_entry> entries;
};

/// The leader of `epoch` ships `entries` that follow position `prev`, whose
/// entry has epoch `prev_epoch`, and tells its high watermark.
struct replicate {
  uint64_t epoch = 0;
  replica_id leader = 0;
  position prev = 0;
  uint64_t prev_epoch = 0;
  std::vector<log_entry> entries;
  position hw = 0;
};

enum class replicate_outcome : uint8_t {
  /// `end`: the replica holds the leader's log durably up to here.
  ack,
  /// `prev` did not match: `end` and `log_lineage` describe the replica's
  /// log so that the leader finds where they diverge (KIP-101).
  mismatch,
  /// The replica is fenced at `fence`, above the sender's epoch.
  refused,
};

/// Answer to `replicate`.
struct replicate_reply {
  uint64_t epoch = 0;
  replica_id from = 0;
  std::string incarnation;
  replicate_outcome outcome = replicate_outcome::ack;
  uint64_t fence = 0;
  position end = 0;
  lineage log_lineage;
};

using message = std::variant<fence_request, fence_reply, pull_request,
                             pull_reply, replicate, replicate_reply>;

/// A message and the replica to deliver it to.
struct envelope {
  replica_id to = 0;
  message msg;
};

} // namespace annals::replication
