// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: converting an LMDB journal of an older
// on-disk format (`annals-journal upgrade DIR`).
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace annals {

/// What `upgrade_lmdb_journal` did, and (passed to its observer) how far it
/// has come.
struct upgrade_report {
  /// Where the upgrade stands (the observer sees each in turn).
  enum class stage : uint8_t {
    copying,   ///< re-appending the old journal into the new one
    verifying, ///< checking the new journal before the switch
    switching, ///< making the new journal the directory's (atomic rename)
    done,      ///< finished (or nothing to do: `upgraded == false`)
  };

  stage at = stage::copying;
  /// False if the directory already held this build's format.
  bool upgraded = false;
  /// The format found in the directory and the format written.
  uint32_t from_format = 0;
  uint32_t to_format = 0;
  uint32_t partitions = 0;
  uint64_t events_total = 0;
  uint64_t events_copied = 0;
  uint64_t appends_copied = 0;
  uint64_t snapshots = 0;
  uint64_t checkpoints = 0;
  uint64_t model_rows = 0;
  /// Partitions with a stored owner epoch (carried over as fences).
  uint64_t epochs = 0;
  /// Appends copied without their command id: a command id that the old
  /// dedupe window had forgotten and a later append of the same stream
  /// reused (a retry after the window). A journal remembers one append per
  /// (stream, command id), so the one the old window still remembered (else
  /// the first) keeps it; these events lose the id from their metadata.
  uint64_t command_ids_dropped = 0;
  /// The old data file, kept beside the new one (empty if none).
  std::string backup;
};

/// Called after each step of an upgrade (each commit while copying) with
/// the report so far. Runs on the caller's thread; must not touch the
/// directory being upgraded.
using upgrade_observer = std::function<void(const upgrade_report&)>;

/// Converts the LMDB journal in `dir` from on-disk format 1 to this build's
/// format, in place and crash-safely.
///
/// # Operation
/// Takes the directory's lock (as a writing node does), reads the format-1
/// journal read-only and re-appends everything through the public journal
/// API into a new journal in `dir/upgrade.tmp/` (same partition count;
/// each append with its stream, expected revision, command id, epoch and
/// events with type, schema version, timestamp, correlation and causation
/// ids and payload), checking that every append lands at the revisions and
/// positions it had; then snapshots, checkpoints, read-model rows and each
/// partition's owner epoch (the epoch lineage follows from the events'
/// epochs). A last commit writes every index entry still held in memory,
/// so the new journal opens without rescanning its log. The new journal is
/// fsynced and verified (`verify()`, event count, partition ends, epochs)
/// before the switch: the old `data.mdb` is kept as `data.mdb.format1` (a
/// hard link) and the new file is renamed over `data.mdb` (atomic);
/// `lock.mdb` of the old environment is removed.
///
/// # Guarantees
/// - A crash or kill at any moment leaves `dir/data.mdb` either the
///   complete old journal or the complete new one; running the upgrade
///   again finishes the job (a leftover `upgrade.tmp` is discarded and
///   rebuilt, or just removed once `data.mdb` is new).
/// - Event revisions, partition positions, payloads and metadata are
///   identical after the upgrade, except `command_ids_dropped` (see there).
///   Command ids are remembered afresh: each for a whole dedupe window from
///   the upgrade, which is never shorter than before.
/// - On any error the old journal is untouched and the partial copy is
///   removed.
///
/// # Errors
/// `invalid_argument` (`dir` has no `data.mdb`), `locked` (a node holds the
/// directory, or another process has its LMDB environment open, e.g. an
/// `annals-journal` reader: the message names the pid), `unsupported_format`
/// (neither format 1 nor this build's format), `corrupt_record` /
/// `corrupt_snapshot` / `corrupt_storage` (the old journal is damaged; the
/// message names where), `io_error`, `journal_full` (no room for the copy
/// beside the old journal), `storage_error` (also naming an append that
/// would land at other revisions or positions than it had, e.g. a stream
/// stored in a partition its hash does not name). Nothing is switched after
/// an error.
///
/// # Concurrency
/// Blocking, for as long as the copy takes; call it from a tool, not from
/// an actor. Refuses to run beside a node (the directory lock).
caf::expected<upgrade_report>
upgrade_lmdb_journal(const std::string& dir,
                     const upgrade_observer& observer = {});

} // namespace annals
