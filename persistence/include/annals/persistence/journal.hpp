// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: the journal interface.
#pragma once

#include "annals/persistence/batch.hpp"
#include "annals/persistence/errc.hpp"
#include "annals/persistence/event.hpp"
#include "annals/persistence/journal_options.hpp"
#include "annals/persistence/snapshot.hpp"
#include "annals/persistence/stream.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace annals {

/// What `journal::verify` found.
struct verify_report {
  uint64_t events = 0;
  uint64_t streams = 0;
  uint64_t snapshots = 0;
  uint64_t partitions_used = 0;
  /// One line per problem found; empty if the journal is sound.
  std::vector<std::string> problems;
};

/// Counters of a journal (cheap to read).
struct journal_stats {
  uint32_t partitions = 0;
  uint64_t events = 0;
  /// One entry per append (a stream's events of one command).
  uint64_t stream_index_entries = 0;
  uint64_t snapshots = 0;
  /// Command ids in the dedupe window's cache (LMDB) or window (memory),
  /// and the cache's memory.
  uint64_t remembered_commands = 0;
  uint64_t dedupe_cache_bytes = 0;
  /// Events whose index entries are still only in memory (LMDB journal:
  /// written to the durable indexes in bulk by later commits).
  uint64_t unindexed_events = 0;
  uint64_t map_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t commits = 0;
};

/// Where an epoch begins in a partition: its first position.
struct epoch_start {
  uint64_t epoch = 0;
  position first = 0;

  friend bool operator==(const epoch_start&, const epoch_start&) = default;
};

/// The event journal: per-partition logs of checksummed event records, a
/// stream index, a bounded command-id dedupe table, snapshots, consumer
/// checkpoints and read-model tables.
///
/// # Guarantees
/// - `commit` makes a whole `write_batch` durable in one transaction (one
///   fsync with `durability::fsync`) or nothing of it. Within it, a part that
///   fails its own checks (expected revision, size, epoch) writes nothing and
///   the others commit.
/// - Revisions of a stream and positions of a partition are gap-free from 1.
/// - Every record carries a CRC32C verified on every read; a damaged record
///   yields `corrupt_record` naming the stream and revision, never data.
///
/// # Concurrency
/// All reads are thread-safe and never block the writer (LMDB MVCC). Calls to
/// `commit` are serialised internally; one writer thread is expected (the
/// runtime's journal writer does group commit across aggregates).
class journal {
public:
  virtual ~journal();

  /// The partition count fixed at creation.
  virtual uint32_t partition_count() const noexcept = 0;

  // -- writing ----------------------------------------------------------------

  /// Commits `batch` durably.
  /// @returns per-append outcomes, or for the whole batch: `journal_full`
  ///          (nothing written), `io_error` / `storage_error` (fatal: the
  ///          journal enters the failed state), `failed` (already failed),
  ///          `read_only` (opened with `open_lmdb_journal_read_only`).
  virtual caf::expected<batch_result> commit(const write_batch& batch) = 0;

  /// Convenience: commits one append.
  caf::expected<append_result> append(append_request req);

  // -- reading events ---------------------------------------------------------

  /// Called with each event in order; return false to stop early. The view
  /// is valid only during the call. Do not write to the journal from it.
  using event_visitor = std::function<bool(const event_view&)>;

  /// Visits the events of `stream` from revision `from` on, in order, each
  /// checked (checksum, and that it is the stream's next revision). The
  /// fastest way to replay a stream: no copies.
  /// @returns `corrupt_record` (naming stream and revision) on damage; the
  ///          events before it were visited.
  virtual caf::error scan_stream(const stream_id& stream, revision from,
                                 const event_visitor& f) const = 0;

  /// Visits the events of partition `p` from position `from` on, in order.
  /// @returns `invalid_argument` for a partition out of range,
  ///          `corrupt_record` (naming partition and position) on damage.
  virtual caf::error scan_partition(partition_id p, position from,
                                    const event_visitor& f) const = 0;

  /// Up to `max` events of `stream` from revision `from` on, in order (a
  /// copying convenience over `scan_stream`). A missing stream yields an
  /// empty vector.
  caf::expected<std::vector<recorded_event>>
  read_stream(const stream_id& stream, revision from,
              std::size_t max = std::numeric_limits<std::size_t>::max()) const;

  /// Up to `max` events of partition `p` from position `from` on, in order.
  caf::expected<std::vector<recorded_event>>
  read_partition(partition_id p, position from,
                 std::size_t max
                 = std::numeric_limits<std::size_t>::max()) const;

  /// Visits the events of all partitions in commit order from log sequence
  /// number `from` on, each with its sequence number (increasing, not
  /// necessarily dense). The cheapest way to read everything: one
  /// sequential cursor. Each record's checksum is verified.
  /// @returns `corrupt_record` (naming the sequence number) on damage.
  using log_visitor = std::function<bool(uint64_t seq, const event_view&)>;
  virtual caf::error scan_log(uint64_t from, const log_visitor& f) const = 0;

  /// The log sequence number of partition `p`'s position `pos`, or none if
  /// the partition does not reach `pos`. With `scan_log`, a reader resumes
  /// a partition (or, from the lowest of several, many partitions) in
  /// commit order.
  /// @returns `invalid_argument` for a partition out of range.
  virtual caf::expected<std::optional<uint64_t>> locate(partition_id p,
                                                        position pos) const = 0;

  /// The original result of command `command_id` on `stream` (with
  /// `duplicate` set), if it is still in the dedupe window (see
  /// `journal_options::dedupe_window`).
  virtual caf::expected<std::optional<append_result>>
  find_command(const stream_id& stream,
               const std::string& command_id) const = 0;

  /// The stream's last revision; 0 if it does not exist.
  virtual caf::expected<revision>
  last_revision(const stream_id& stream) const = 0;

  /// The last position of every partition (index = partition id); 0 = empty.
  virtual caf::expected<std::vector<position>> partition_ends() const = 0;

  /// The highest owner epoch seen for partition `p` (0 = none).
  virtual caf::expected<uint64_t> partition_epoch(partition_id p) const = 0;

  /// Partition `p`'s lineage: each epoch stamped on its events, with the
  /// position of the first event of that epoch, in increasing order. An
  /// append whose stamped epoch is higher than the last one's starts an
  /// entry; epoch 0 (no ownership) starts none. Replicas compare lineages
  /// to find where their logs diverge.
  virtual caf::expected<std::vector<epoch_start>>
  partition_lineage(partition_id p) const = 0;

  /// An id made when the data directory was created (32 hex digits); a
  /// wiped and recreated directory gets a new one.
  virtual std::string incarnation() const = 0;

  // -- truncation -------------------------------------------------------------

  /// Removes partition `p`'s events after position `after` and everything
  /// derived from them, in one durable transaction: the events, their index
  /// entries, their command ids (a retried command runs again), snapshots
  /// of their streams beyond the streams' new ends, lineage entries that
  /// began after `after`; checkpoints of `p` beyond `after` are lowered to
  /// it. Fences are kept. A replica calls it to drop a suffix that its
  /// leader never acknowledged.
  /// @returns the number of events removed (0 if `after` >= the end), or
  ///          `invalid_argument` (partition out of range), the fatal errors
  ///          of `commit`, `read_only`.
  virtual caf::expected<uint64_t> truncate_partition(partition_id p,
                                                     position after)
    = 0;

  // -- snapshots, checkpoints, read models ------------------------------------

  /// The newest snapshot of `stream` with `rev <= at_most`, if any.
  /// @returns `corrupt_snapshot` (naming stream and revision) if that
  ///          snapshot fails its checks; call again with a lower `at_most`
  ///          to fall back to an older one.
  virtual caf::expected<std::optional<snapshot>>
  load_snapshot(const stream_id& stream,
                revision at_most
                = std::numeric_limits<revision>::max()) const = 0;

  /// The stored position of `consumer` in partition `p`, if any.
  virtual caf::expected<std::optional<position>>
  load_checkpoint(const std::string& consumer, partition_id p) const = 0;

  /// Visits every stored checkpoint (consumer, partition, position), in no
  /// particular order; return false to stop. Views are valid only during the
  /// call. Hand-off copies a partition's checkpoints with its events.
  using checkpoint_visitor
    = std::function<bool(std::string_view consumer, partition_id, position)>;
  virtual caf::error scan_checkpoints(const checkpoint_visitor& f) const = 0;

  /// The value of `key` in read model `model`, if any.
  virtual caf::expected<std::optional<std::string>>
  load_model(const std::string& model, const std::string& key) const = 0;

  /// Visits the rows of read model `model` in key order; return false to
  /// stop. Views are valid only during the call.
  using model_visitor
    = std::function<bool(std::string_view key, std::string_view value)>;
  virtual caf::error scan_model(const std::string& model,
                                const model_visitor& f) const = 0;

  // -- maintenance ------------------------------------------------------------

  /// Reads every record and index entry and checks checksums, gap-free
  /// positions and revisions, and index consistency.
  virtual caf::expected<verify_report> verify() const = 0;

  virtual caf::expected<journal_stats> stats() const = 0;
};

/// Opens (creating if needed) the LMDB journal in directory `dir`.
/// @returns `locked` if another process or journal object has `dir` open
///          (a read-only journal of this process counts; those of other
///          processes do not), `partition_count_mismatch`,
///          `unsupported_format`, `io_error`, `storage_error`.
caf::expected<std::unique_ptr<journal>>
open_lmdb_journal(const std::string& dir, const journal_options& opts = {});

/// Opens the existing LMDB journal in `dir` for reading only, beside its
/// writer: takes no directory lock, opens LMDB with `MDB_RDONLY`, creates
/// and writes nothing (except LMDB's reader slot in `lock.mdb`), and never
/// grows the map. Every read sees the journal as of the writer's last
/// commit before that read began (one LMDB read transaction per call); a
/// map grown by the writer meanwhile is adopted transparently.
///
/// `commit` (and `append`) return `read_only` and write nothing. The
/// partition count is the stored one. `stats().commits` is 0.
///
/// Caveat: a call that holds its read transaction long (`verify`, a long
/// scan) keeps the writer from reusing the pages it frees meanwhile, so
/// the data file may grow while it runs.
///
/// @returns `invalid_argument` if `dir` is not a directory holding
///          `data.mdb` (nothing is created), `unsupported_format` if it is
///          an LMDB environment but not an annals journal of this format,
///          `locked` if this process already has `dir` open (LMDB forbids
///          two opens in one process, read-only or not), `corrupt_storage`
///          if `data.mdb` is not an LMDB file, `storage_error`.
/// Thread-safe like any journal.
caf::expected<std::unique_ptr<journal>>
open_lmdb_journal_read_only(const std::string& dir);

/// Makes an in-memory journal with the same semantics (no durability).
std::unique_ptr<journal> make_memory_journal(const journal_options& opts = {});

} // namespace annals
