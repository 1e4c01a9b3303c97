// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: errors of the journal.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace annals {

/// Errors of the journal (category atom "journal").
///
/// Every LMDB return code is translated into one of these in one place
/// (`persistence/src/lmdb_errors.cpp`). The context of an error is a message
/// whose first element is a human-readable description naming the stream,
/// revision, partition or file concerned; `describe()` renders it.
///
/// Values marked *definite* mean nothing of the failed operation was written.
/// Values marked *fatal* put the journal into the failed state: it refuses all
/// further writes (fail-stop), because after e.g. an fsync error the state of
/// the page cache is unknown. Reopen the journal to recover.
enum class journal_errc : uint8_t {
  /// Definite. A stream part's expected revision did not hold. Only that part
  /// was rejected. `actual_revision()` yields the stream's current revision.
  wrong_expected_revision = 1,
  /// Definite. An argument was malformed (empty stream id, empty event list,
  /// empty type name, a name longer than 65535 bytes, ...).
  invalid_argument,
  /// Definite. An event, snapshot or batch exceeds the configured size limit.
  too_large,
  /// Definite. The map reached `max_map_bytes` (or the disk is full); the
  /// batch was rolled back whole. Free space or raise the limit and retry.
  journal_full,
  /// Fatal. The operating system reported an I/O error (EIO, ENOSPC, ...)
  /// during a write or sync. Whether the batch is durable is unknown.
  io_error,
  /// A stored event record failed its checksum or structural checks. The
  /// description names the stream and revision (or partition and position).
  corrupt_record,
  /// A stored snapshot failed its checksum or structural checks.
  corrupt_snapshot,
  /// LMDB itself reported corruption (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...).
  corrupt_storage,
  /// The journal was created with another partition count.
  partition_count_mismatch,
  /// The data directory holds an unknown format version (or LMDB version).
  unsupported_format,
  /// Another process (or another journal object) holds the data directory.
  locked,
  /// Fatal. LMDB or the OS failed in a way not listed above.
  storage_error,
  /// Definite. The journal is in the failed state after a fatal error.
  failed,
  /// Definite. The append carried an owner epoch older than the partition's.
  stale_epoch,
  /// Definite. The journal was opened read-only (`open_lmdb_journal_read_only`)
  /// and refuses every write; nothing was written.
  read_only,
  /// Definite. The batch expected a partition to end at another position
  /// (`write_batch::expected_ends`); nothing of that partition was written.
  wrong_expected_position,
};

/// Returns the name of `x`, e.g. "wrong_expected_revision".
const char* to_string(journal_errc x) noexcept;

/// The category atom of `journal_errc`.
constexpr caf::atom_value journal_category = caf::atom("journal");

/// Makes an error without context.
caf::error make_error(journal_errc x);

/// Makes an error whose context is `description`.
caf::error make_error(journal_errc x, std::string description);

/// Makes a `wrong_expected_revision` error carrying the actual revision
/// (0 = the stream does not exist).
caf::error make_conflict_error(std::string description, uint64_t actual);

/// Extracts the actual revision from a `wrong_expected_revision` error.
std::optional<uint64_t> actual_revision(const caf::error& err);

/// Returns true if `err` belongs to the journal category and equals `x`.
bool is(const caf::error& err, journal_errc x) noexcept;

/// Renders any error for humans: "journal.corrupt_record: stream ..." for our
/// own categories, CAF's `to_string` otherwise. Needs no actor system.
std::string describe(const caf::error& err);

} // namespace annals
