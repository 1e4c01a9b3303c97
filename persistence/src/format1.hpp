// annals -- event-sourced aggregates on the C++ Actor Framework.
// Journal format 1, frozen: its key layout and a read-only reader, for
// `upgrade_lmdb_journal` (and the tests' format-1 writer). The live journal
// no longer writes this format; nothing here may change, since it describes
// files written by earlier versions (persistence/README.md, "Upgrading from
// format 1").
//
// Tables (integers in keys big-endian, in values little-endian; `skey` =
// u16be |category| category u16be |id| id):
//
//   meta          "format" -> u32 (1), "partitions" -> u32
//   log           u32 partition, u64 position -> event record (CRC32C)
//   streams       skey, u64 last revision of an append -> u32 partition,
//                 u64 first position, u64 first revision (one per append)
//   commands      skey ‖ command id -> u32 partition, u64 first/last
//                 revision, u64 first/last position, i64 timestamp, u64 order
//   command_order u64 order -> u64 timestamp ‖ commands key
//   snapshots     skey, u64 revision -> snapshot record (CRC32C)
//   checkpoints   u16be |consumer| consumer, u32 partition -> u64 position
//   models        u16be |model| model ‖ key -> value bytes
//   epochs        u32 partition -> u64 highest owner epoch
//
// Event and snapshot records are the codec's (codec.hpp), unchanged since
// format 1.
#pragma once

#include "annals/persistence/event.hpp"
#include "annals/persistence/snapshot.hpp"
#include "annals/persistence/stream.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace annals::detail::format1 {

/// The value of meta "format" in a format-1 journal.
constexpr uint32_t version = 1;

/// The tables of format 1, in the order the format-1 journal opened them.
constexpr std::array<const char*, 9> tables{
  "meta",      "log",         "streams", "commands", "command_order",
  "snapshots", "checkpoints", "models",  "epochs"};

// -- keys and values ----------------------------------------------------------

std::string stream_key(const stream_id& s);
std::string log_key(partition_id p, position pos);
bool parse_log_key(std::string_view key, partition_id& p, position& pos);
std::string stream_rev_key(const std::string& skey, revision r);
std::string checkpoint_key(std::string_view consumer, partition_id p);
std::string model_key(std::string_view model, std::string_view key);
std::string u32be_key(uint32_t x);
std::string u64be_key(uint64_t x);

/// A `streams` value: where the events of one append are.
struct stream_range {
  partition_id partition = 0;
  position first_position = 0;
  revision first_revision = 0;
};
std::string encode_range(const stream_range& x);
bool decode_range(std::string_view v, stream_range& x);

/// A `commands` value (a remembered command id).
struct command_entry {
  partition_id partition = 0;
  revision first_revision = 0;
  revision last_revision = 0;
  position first_position = 0;
  position last_position = 0;
  int64_t timestamp_ns = 0;
  uint64_t order = 0;
};
std::string encode_command(const command_entry& x);
bool decode_command(std::string_view v, command_entry& x);

// -- reading ------------------------------------------------------------------

/// The events of one append as format 1 stored them (one `streams` entry):
/// consecutive positions of one partition, consecutive revisions of one
/// stream, one command id and one epoch.
struct stored_append {
  /// Whether the `commands` table (the dedupe window) remembers this
  /// append's command id on its stream, and as which append.
  enum class remembered : uint8_t {
    no,        ///< no command id, or forgotten (evicted)
    this_one,  ///< remembered as this append
    other_one, ///< remembered as another append of the same stream
  };

  stream_id stream;
  std::string command_id;
  uint64_t epoch = 0;
  remembered dedupe = remembered::no;
  std::vector<recorded_event> events;
};

/// Reads a format-1 journal directory, read-only (LMDB `MDB_RDONLY`), in one
/// read transaction begun at `open`, so every scan sees the same state.
/// Every record's checksum is verified, and the log is checked against the
/// stream index as it is read (gap-free positions, each `streams` entry
/// covering exactly the records of one append).
///
/// The caller must keep writers away (the directory's `flock`) and must
/// not open the environment otherwise in this process (`env_claim`).
/// Not thread-safe.
class reader {
public:
  /// @returns `unsupported_format` if `dir/data.mdb` is an LMDB environment
  ///          but not a format-1 journal (the message names the stored
  ///          format version when there is one), `corrupt_storage` if it is
  ///          not an LMDB file, `storage_error`.
  static caf::expected<std::unique_ptr<reader>> open(const std::string& dir);

  ~reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  uint32_t partitions() const noexcept {
    return partitions_;
  }

  /// The LMDB map size of the environment.
  uint64_t map_bytes() const noexcept {
    return map_bytes_;
  }

  /// Number of events (log entries).
  caf::expected<uint64_t> event_count() const;

  /// Visits every append, partition by partition, each partition in
  /// position order; stops at the first error `f` returns (and returns it).
  /// @returns `corrupt_record` naming partition and position for a damaged
  ///          record, or a log that disagrees with the stream index.
  caf::error
  scan_appends(const std::function<caf::error(stored_append&)>& f) const;

  /// Visits every snapshot, in stream and revision order.
  /// @returns `corrupt_snapshot` for a damaged one.
  caf::error
  scan_snapshots(const std::function<caf::error(snapshot&)>& f) const;

  caf::error scan_checkpoints(
    const std::function<caf::error(std::string_view consumer, partition_id,
                                   position)>& f) const;

  caf::error scan_models(
    const std::function<caf::error(std::string_view model, std::string_view key,
                                   std::string_view value)>& f) const;

  /// Visits the `epochs` table (the highest owner epoch per partition).
  caf::error
  scan_epochs(const std::function<caf::error(partition_id, uint64_t)>& f) const;

private:
  struct impl;
  explicit reader(std::unique_ptr<impl> self);
  std::unique_ptr<impl> self_;
  uint32_t partitions_ = 0;
  uint64_t map_bytes_ = 0;
};

} // namespace annals::detail::format1
