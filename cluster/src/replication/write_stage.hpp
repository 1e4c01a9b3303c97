// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: group commit for follower writes.
#pragma once

#include "annals/persistence/journal.hpp"

#include <caf/error.hpp>

#include <utility>
#include <vector>

namespace annals::replication {

class journal_log;

/// Replica writes of many partitions -- follower appends, fences, a new
/// leader's epoch marker -- gathered into ONE journal commit (one fsync)
/// instead of one per replicated frame, fence request or marker.
///
/// # Protocol
/// A `journal_log` opened with a stage adds its appends here (`add`) and
/// counts them in its `end()` but not in its `durable_end()`. `flush`
/// commits everything staged, each partition's part checked against the
/// end it was staged after, and settles every log: its part landed whole
/// (the log's durable end moves up) or it is truncated back and re-read,
/// and the partition is listed in `failed()` (its replica must forget what
/// it believed written: the driver holds it again from the durable log).
///
/// # Errors
/// `flush` returns the journal's error when the commit as a whole failed
/// (nothing of it was written; every staged log is listed as failed).
///
/// # Concurrency
/// Confined to the thread that drives the replicas.
class write_stage {
public:
  explicit write_stage(journal& j) : journal_(j) {
  }

  write_stage(const write_stage&) = delete;
  write_stage& operator=(const write_stage&) = delete;

  /// Stages `appends` of `log`'s partition; its first staged append starts
  /// after `staged_from` (the partition's durable end). `marker`: they are
  /// a new leader's epoch marker.
  void add(journal_log* log, position staged_from,
           std::vector<append_request>&& appends, bool marker = false);

  /// Stages a fence of `log`'s partition at `epoch` (the highest staged
  /// wins; the journal keeps the higher of it and the durable one).
  void add_fence(journal_log* log, position staged_from, uint64_t epoch);

  /// Drops what `log` staged (it is going away): nothing of it is written.
  void forget(const journal_log* log);

  bool empty() const noexcept {
    return parts_.empty();
  }

  /// Commits everything staged in one journal commit and settles the logs.
  caf::error flush();

  /// Partitions whose part failed since the last `take_failed`.
  std::vector<partition_id> take_failed() {
    return std::exchange(failed_, {});
  }

  /// Journal commits `flush` made (for tests and metrics).
  uint64_t commits() const noexcept {
    return commits_;
  }

private:
  struct part {
    journal_log* log = nullptr;
    position staged_from = 0;
    std::vector<append_request> appends;
    /// 0: no fence staged.
    uint64_t fence = 0;
    bool marker = false;
  };

  part& part_of(journal_log* log, position staged_from);

  journal& journal_;
  std::vector<part> parts_;
  std::vector<partition_id> failed_;
  uint64_t commits_ = 0;
};

} // namespace annals::replication
