// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: journal configuration.
#pragma once

#include <cstddef>
#include <cstdint>

namespace annals {

/// How a commit reaches the disk.
enum class durability : uint8_t {
  /// Every commit is fsynced before `commit()` returns (the default and the
  /// only mode in which an acknowledged event survives a power loss).
  fsync,
  /// UNSAFE: no fsync (LMDB's MDB_NOSYNC). A crash of the machine can lose
  /// or corrupt recent commits. For tests and benchmarks only.
  unsafe_no_sync,
};

/// Settings of a journal. Defaults are documented in the README.
struct journal_options {
  /// Number of partitions. Fixed when the journal is created; reopening with
  /// another count fails with `partition_count_mismatch`. 0 on reopen means
  /// "whatever is stored" (tools).
  uint32_t partitions = 1024;

  durability sync = durability::fsync;

  /// LMDB map size at open, and the limit up to which it grows (doubling) on
  /// MDB_MAP_FULL. Beyond the limit, commits fail with `journal_full`.
  uint64_t initial_map_bytes = uint64_t{256} << 20;
  uint64_t max_map_bytes = uint64_t{64} << 30;

  /// Largest payload of one event or snapshot.
  std::size_t max_payload_bytes = std::size_t{4} << 20;

  /// Dedupe window, per stream: a command id is recognised while the last
  /// event of its append is among the last `dedupe_window` events of its
  /// stream -- at any throughput, any age, across restarts (the ids are
  /// read from the events themselves). A retry after that is a new command.
  /// 0 turns deduplication off.
  uint32_t dedupe_window = 256;

  /// LMDB journal: memory for the recent command ids of active streams (a
  /// cache in front of the log, ~32 bytes per id: 10^4 streams with full
  /// windows took 158 MiB). A stream not in it is read from the log (at
  /// most `dedupe_window` events) on its next command with an id.
  std::size_t dedupe_cache_bytes = std::size_t{256} << 20;

  /// LMDB journal: the most events whose index entries may wait in memory
  /// (the tail) before commits write them to the durable indexes faster.
  /// A bigger tail writes fewer index pages per event; it costs ~16 bytes
  /// per event plus ~100 bytes per stream in it of memory (at most ~120 MiB
  /// at the default), and is rescanned from the log at open.
  uint64_t max_unindexed_events = uint64_t{1} << 20;

  /// Snapshots kept per stream; older ones are deleted when a new one is
  /// saved. At least 1.
  uint32_t snapshots_kept = 2;
};

} // namespace annals
