// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: what one durable commit contains.
#pragma once

#include "annals/persistence/event.hpp"
#include "annals/persistence/snapshot.hpp"
#include "annals/persistence/stream.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace annals {

/// The revision a stream must have for an append to proceed (optimistic
/// concurrency, as in EventStoreDB).
class expected_revision {
public:
  enum class kind : uint8_t {
    any,           ///< no check
    no_stream,     ///< the stream must not exist (revision 0)
    stream_exists, ///< the stream must have at least one event
    exactly,       ///< the stream's last revision must equal `value()`
  };

  /// No check (the default).
  static expected_revision any() noexcept {
    return {kind::any, 0};
  }
  static expected_revision no_stream() noexcept {
    return {kind::no_stream, 0};
  }
  static expected_revision stream_exists() noexcept {
    return {kind::stream_exists, 0};
  }
  /// `exactly(0)` is equivalent to `no_stream()`.
  static expected_revision exactly(revision r) noexcept {
    return {kind::exactly, r};
  }

  expected_revision() noexcept = default;

  kind what() const noexcept {
    return kind_;
  }
  revision value() const noexcept {
    return value_;
  }

  /// Returns whether a stream whose last revision is `actual` satisfies this.
  bool admits(revision actual) const noexcept;

  friend bool operator==(const expected_revision&, const expected_revision&)
    = default;

private:
  expected_revision(kind k, revision v) noexcept : kind_(k), value_(v) {
  }
  kind kind_ = kind::any;
  revision value_ = 0;
};

std::string to_string(const expected_revision& x);

/// Appends the events of one command to one stream: all or nothing.
struct append_request {
  stream_id stream;
  expected_revision expected;
  /// Idempotency key; empty = none. Repeating a command id on the same
  /// stream within the dedupe window returns the original result and writes
  /// nothing (see `journal_options::dedupe_*`).
  std::string command_id;
  /// The epoch stamped on each event (the epoch of the leader that wrote
  /// it). A non-zero epoch higher than the partition's last one starts a new
  /// entry of the partition's lineage (`journal::partition_lineage`).
  uint64_t epoch = 0;
  /// The epoch of this writer, checked against the partition's fence: if
  /// non-zero and lower than the highest epoch seen for the partition, the
  /// append is refused with `stale_epoch`. 0 = the same as `epoch` (a leader
  /// writing its own events); a follower copying a leader's events passes
  /// its own fence epoch here and the leader's in `epoch`.
  uint64_t writer_epoch = 0;
  /// At least one event.
  std::vector<event_data> events;
  /// A replica copying its leader's append: the command id is recorded but
  /// not looked up in the dedupe window (the leader did; a window that
  /// differs between nodes must never make a copy differ from its source).
  bool verbatim = false;
};

/// Where an append's events went.
struct append_result {
  partition_id partition = 0;
  revision first_revision = 0;
  revision last_revision = 0;
  position first_position = 0;
  position last_position = 0;
  /// True if the command id was seen before: nothing was written and the
  /// fields above describe the original append.
  bool duplicate = false;

  friend bool operator==(const append_result&, const append_result&) = default;
};

/// Sets a named consumer's position in one partition.
struct checkpoint_write {
  std::string consumer;
  partition_id partition = 0;
  position pos = 0;
};

/// Writes (or with `erase`, deletes) one key of a read model. Lets a
/// projection commit its model and its checkpoint in the same transaction.
struct model_write {
  std::string model;
  std::string key;
  std::string value;
  bool erase = false;
};

/// Raises partition `partition`'s owner epoch to `epoch` (no effect if it
/// is already higher): afterwards appends with an older epoch are refused
/// with `stale_epoch`. A node that hands a partition over fences its own
/// copy this way before anyone else may write it.
struct epoch_fence {
  partition_id partition = 0;
  uint64_t epoch = 0;
};

/// Requires partition `partition` to end at position `end` when the batch
/// is committed (checked inside its transaction, before any of its
/// appends): a replica applies a leader's batch only where it left off.
struct position_expectation {
  partition_id partition = 0;
  position end = 0;
};

/// Everything that one call to `journal::commit` makes durable together: one
/// write transaction, one fsync (group commit).
struct write_batch {
  std::vector<append_request> appends;
  std::vector<snapshot> snapshots;
  std::vector<checkpoint_write> checkpoints;
  std::vector<model_write> models;
  std::vector<epoch_fence> fences;
  /// Partitions whose appends in this batch must continue a given end; if
  /// one does not, each of its appends fails with `wrong_expected_position`
  /// and the rest of the batch commits.
  std::vector<position_expectation> expected_ends;
};

/// The outcome of a commit whose transaction succeeded: one entry per append
/// request, in order. A failed entry (conflict, invalid argument, too large,
/// stale epoch) wrote nothing; every other part of the batch is durable.
struct batch_result {
  std::vector<caf::expected<append_result>> appends;
};

} // namespace annals
