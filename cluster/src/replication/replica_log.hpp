// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: what a replica needs of its partition log.
#pragma once

#include "annals/persistence/stream.hpp"

#include "replication/lineage.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace annals::replication {

/// One entry of a partition log as replication sees it: the epoch of the
/// leader that wrote it and opaque contents. Its position is implicit.
/// Entries come in appends (the events of one command, written atomically
/// with one command id): `ends_append` marks an append's last entry. Logs
/// only ever hold whole appends, so every batch shipped ends with one.
struct log_entry {
  uint64_t epoch = 0;
  std::string payload;
  bool ends_append = true;

  friend bool operator==(const log_entry&, const log_entry&) = default;
};

/// The narrow view of one partition's journal that a `replica` drives.
///
/// # Durability model
/// `append` may leave its entries volatile (written, not yet synced): they
/// are visible to reads at once, and `durable_end()` trails `end()` until
/// the driver calls `sync()` (and then `replica::on_synced`). `raise_fence`
/// and `truncate` are durable when they return and make every earlier write
/// durable too (one transaction and fsync, as in the LMDB journal). A crash
/// keeps exactly the durable state. A journal whose every commit fsyncs has
/// `durable_end() == end()` always.
///
/// # Errors
/// `append` fails with `journal_errc::stale_epoch` if `writer_epoch` is below
/// the fence, with `wrong_expected_position` if the log does not end at
/// `expected_end`, and with `invalid_argument` if `entries` is empty or its
/// last entry does not end an append; then nothing is written. Other errors
/// are the journal's.
///
/// # Concurrency
/// Confined to the thread that drives its replica.
class replica_log {
public:
  virtual ~replica_log();

  /// The last position written (synced or not); 0 = empty.
  virtual position end() const noexcept = 0;

  /// The last position that survives a crash.
  virtual position durable_end() const noexcept = 0;

  /// The highest epoch this replica was fenced at (durable; 0 = none).
  virtual uint64_t fence() const noexcept = 0;

  /// The lineage of everything written (synced or not).
  virtual const lineage& entries_lineage() const noexcept = 0;

  /// The id of this data directory; a wiped replica has a new one.
  virtual const std::string& incarnation() const noexcept = 0;

  /// Raises the fence to `epoch` (no effect if already at or above it).
  virtual caf::error raise_fence(uint64_t epoch) = 0;

  /// Appends `entries` (whole appends) after `expected_end`, checked
  /// against the fence with `writer_epoch`.
  virtual caf::error append(position expected_end, uint64_t writer_epoch,
                            const std::vector<log_entry>& entries)
    = 0;

  /// Appends the marker entry of `epoch` (one whole append, written by a
  /// new leader before it serves: where `epoch` begins in the lineage), as
  /// `append` does.
  virtual caf::error append_marker(position expected_end, uint64_t epoch) = 0;

  /// Removes every entry after `after` (no effect if `after >= end()`).
  virtual caf::error truncate(position after) = 0;

  /// Entries at positions `from..to` (inclusive, clamped to `end()`).
  virtual caf::expected<std::vector<log_entry>> read(position from,
                                                     position to) const = 0;

  /// Makes every written entry durable.
  virtual caf::error sync() = 0;
};

/// An in-memory `replica_log` whose appends stay volatile until `sync()`,
/// with `crash()` (keep only the durable state) and `wipe()` (a new, empty
/// data directory). For simulations and tests. Thread rule: confined.
class memory_replica_log : public replica_log {
public:
  explicit memory_replica_log(std::string incarnation);

  position end() const noexcept override;
  position durable_end() const noexcept override;
  uint64_t fence() const noexcept override;
  const lineage& entries_lineage() const noexcept override;
  const std::string& incarnation() const noexcept override;
  caf::error raise_fence(uint64_t epoch) override;
  caf::error append(position expected_end, uint64_t writer_epoch,
                    const std::vector<log_entry>& entries) override;
  /// The marker is `log_entry{epoch, ""}`.
  caf::error append_marker(position expected_end, uint64_t epoch) override;
  caf::error truncate(position after) override;
  caf::expected<std::vector<log_entry>> read(position from,
                                             position to) const override;
  caf::error sync() override;

  /// Loses every volatile write.
  void crash();

  /// Loses everything, fence included; the log gets `new_incarnation`.
  void wipe(std::string new_incarnation);

  /// The entry at `pos` (1-based). @pre `1 <= pos <= end()`.
  const log_entry& at(position pos) const noexcept {
    return entries_[pos - 1];
  }

private:
  void cut(position after);

  std::string incarnation_;
  std::vector<log_entry> entries_;
  position durable_end_ = 0;
  uint64_t fence_ = 0;
  lineage lineage_;
};

} // namespace annals::replication
