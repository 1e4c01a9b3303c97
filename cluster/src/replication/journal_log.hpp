// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: one partition of an annals journal as the
// log a replica drives.
#pragma once

#include "annals/persistence/journal.hpp"

#include "replication/replica_log.hpp"
#include "replication/write_stage.hpp"

#include <caf/expected.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace annals::replication {

/// The stream that holds partition `p`'s epoch markers: `$epochs/<p>.<k>`
/// for the smallest `k` that hashes to `p` (the same on every node). Its
/// events are the replication protocol's, not an aggregate's: replay,
/// subscriptions and projections skip categories starting with '$'.
stream_id marker_stream(partition_id p, uint32_t partition_count);

/// The type of a marker event.
inline constexpr const char* marker_type = "annals.epoch_started";

/// Partition `p` of `j` as a `replica_log`. Entries are the partition's
/// events (`to_entry`); an append is a command's events, imported verbatim
/// on a follower (same streams, revisions, command ids, epochs, timestamps,
/// in one journal transaction checked against the partition's end).
///
/// # Durability
/// Without a `write_stage`, every write is one journal commit: with
/// `durability::fsync` it is durable when it returns, so `durable_end() ==
/// end()` and the driver calls `replica::on_synced` right after the write's
/// effects. With one, `append` only stages its entries (group commit): they
/// count in `end()`, `fence()` and `entries_lineage()` at once, but not in
/// `durable_end()` until the stage's `flush` (or `sync`) committed them;
/// every other operation on this log flushes the stage first, so it never
/// sees the journal without this log's staged entries.
///
/// # Errors
/// `append` refuses (`invalid_argument`, nothing written) entries that do
/// not decode, belong to another partition, or do not form whole appends of
/// consecutive revisions; a part refused by the journal (conflict, stale
/// epoch, wrong end) is undone by truncating back to `expected_end`.
/// `truncate` refuses a cut inside an append. Journal errors pass through.
///
/// # Concurrency
/// Confined to the thread that drives its replica. Other writers of the
/// partition (the runtime's journal writer, while this replica leads) must
/// tell it with `refresh` before the replica reads the log again.
class journal_log : public replica_log {
public:
  /// Reads the partition's end, fence and lineage.
  /// @returns `invalid_argument` for a partition out of range, or the
  ///          journal's read error.
  static caf::expected<std::unique_ptr<journal_log>>
  open(journal& j, partition_id p, write_stage* stage = nullptr);

  ~journal_log() override;

  position end() const noexcept override;
  position durable_end() const noexcept override;
  uint64_t fence() const noexcept override;
  const lineage& entries_lineage() const noexcept override;
  const std::string& incarnation() const noexcept override;
  caf::error raise_fence(uint64_t epoch) override;
  caf::error append(position expected_end, uint64_t writer_epoch,
                    const std::vector<log_entry>& entries) override;
  caf::error append_marker(position expected_end, uint64_t epoch) override;
  caf::error truncate(position after) override;
  caf::expected<std::vector<log_entry>> read(position from,
                                             position to) const override;
  caf::error sync() override;

  /// Re-reads end, fence and lineage after writes by another path.
  caf::error refresh();

  /// Another path appended to the partition up to `end`, stamping epochs
  /// up to `epoch`: takes the new end without reading the journal when
  /// that extends the log within its last lineage epoch (the leader's own
  /// writes), else `refresh`es.
  caf::error advance(position end, uint64_t epoch);

  partition_id partition() const noexcept {
    return partition_;
  }

  /// Entries are staged, not yet durable.
  bool staged() const noexcept {
    return staged_;
  }

  /// Another path made a fence of `epoch` durable for this partition (many
  /// partitions' fences in one commit): `raise_fence` up to it writes
  /// nothing. @pre nothing staged.
  void fenced(uint64_t epoch) noexcept {
    fence_ = std::max(fence_, epoch);
  }

  /// `write_stage::flush` settles what this log staged after
  /// `staged_from`: `results` are its appends' outcomes, in order. On any
  /// failure the parts that landed are truncated, the log re-read, and the
  /// error returned.
  caf::error settle(position staged_from,
                    std::vector<caf::expected<append_result>>& results);

  /// The stage's commit failed as a whole: re-read the log.
  void settle_failed();

private:
  /// Marks the log staged (its durable end stays where it is now).
  void begin_staging();

  /// Stages `batch`'s appends after `expected_end` (checked, like the
  /// writer's epoch, as the journal would at once); `marker`: an epoch
  /// marker.
  caf::error stage_appends(position expected_end, uint64_t writer_epoch,
                           write_batch& batch, bool marker);

  journal_log(journal& j, partition_id p, write_stage* stage);

  /// Commits the stage if this log has entries staged.
  caf::error flush_stage() const;

  /// Checks `results` of appends that should continue after `expected_end`;
  /// undoes them on failure (see `settle`).
  caf::error check_landed(position expected_end,
                          std::vector<caf::expected<append_result>>& results,
                          position& landed);

  caf::error commit_appends(position expected_end, write_batch& batch);

  journal& journal_;
  write_stage* stage_;
  /// Entries are staged (`end_` is ahead of `durable_end_`).
  bool staged_ = false;
  position durable_end_ = 0;
  partition_id partition_;
  stream_id markers_;
  std::string incarnation_;
  position end_ = 0;
  uint64_t fence_ = 0;
  lineage lineage_;
};

} // namespace annals::replication
