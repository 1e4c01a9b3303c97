// annals -- event-sourced aggregates on the C++ Actor Framework.
// The on-disk encodings of keys, event records and snapshots (format 2).
// Layouts are documented in persistence/README.md; any change needs a new
// format version.
#pragma once

#include "annals/persistence/event.hpp"
#include "annals/persistence/snapshot.hpp"
#include "annals/persistence/stream.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace annals::detail {

/// The format version stored in the meta table.
constexpr uint32_t format_version = 2;

// -- primitive writer / reader ------------------------------------------------

/// Appends fixed-width integers and length-prefixed strings to a buffer.
class byte_writer {
public:
  explicit byte_writer(std::string& out) : out_(out) {
  }
  void u8(uint8_t x) {
    out_.push_back(static_cast<char>(x));
  }
  void u16be(uint16_t x);
  void u32be(uint32_t x);
  void u64be(uint64_t x);
  void u32le(uint32_t x);
  void u64le(uint64_t x);
  /// A u16 little-endian length, then the bytes. @pre size <= 65535.
  void str16(std::string_view s);
  void raw(const void* data, std::size_t n) {
    out_.append(static_cast<const char*>(data), n);
  }

private:
  std::string& out_;
};

/// Reads what `byte_writer` wrote; every read is bounds-checked and sets
/// `ok() == false` instead of reading past the end.
class byte_reader {
public:
  byte_reader(const void* data, std::size_t n)
    : p_(static_cast<const unsigned char*>(data)), n_(n) {
  }
  uint8_t u8();
  uint16_t u16be();
  uint32_t u32be();
  uint64_t u64be();
  uint32_t u32le();
  uint64_t u64le();
  std::string str16();
  /// Reads a u32 length and that many bytes.
  std::vector<std::byte> blob32();
  /// As str16 / blob32, without copying: views into the input.
  std::string_view view16();
  const std::byte* view32(std::size_t& len);
  bool ok() const noexcept {
    return ok_;
  }
  std::size_t remaining() const noexcept {
    return n_ - off_;
  }

private:
  bool take(std::size_t k) noexcept;
  const unsigned char* p_;
  std::size_t n_;
  std::size_t off_ = 0;
  bool ok_ = true;
};

// The reader's hot paths are inline: records and keys are decoded per
// event on every scan.

inline bool byte_reader::take(std::size_t k) noexcept {
  if (!ok_ || n_ - off_ < k) {
    ok_ = false;
    return false;
  }
  return true;
}

inline uint8_t byte_reader::u8() {
  if (!take(1))
    return 0;
  return p_[off_++];
}

inline uint16_t byte_reader::u16be() {
  if (!take(2))
    return 0;
  uint16_t x = static_cast<uint16_t>((p_[off_] << 8) | p_[off_ + 1]);
  off_ += 2;
  return x;
}

inline uint32_t byte_reader::u32be() {
  if (!take(4))
    return 0;
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x = (x << 8) | p_[off_++];
  return x;
}

inline uint64_t byte_reader::u64be() {
  if (!take(8))
    return 0;
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | p_[off_++];
  return x;
}

inline uint32_t byte_reader::u32le() {
  if (!take(4))
    return 0;
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(p_[off_++]) << (8 * i);
  return x;
}

inline uint64_t byte_reader::u64le() {
  if (!take(8))
    return 0;
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x |= static_cast<uint64_t>(p_[off_++]) << (8 * i);
  return x;
}

inline std::string_view byte_reader::view16() {
  if (!take(2))
    return {};
  std::size_t len = p_[off_] | (p_[off_ + 1] << 8);
  off_ += 2;
  if (!take(len))
    return {};
  std::string_view s{reinterpret_cast<const char*>(p_ + off_), len};
  off_ += len;
  return s;
}

inline const std::byte* byte_reader::view32(std::size_t& len) {
  len = u32le();
  if (!take(len)) {
    len = 0;
    return nullptr;
  }
  auto ptr = reinterpret_cast<const std::byte*>(p_ + off_);
  off_ += len;
  return ptr;
}

// -- keys -------------------------------------------------------------------

/// Self-delimiting stream key prefix: u16be |category| category u16be |id| id.
std::string stream_key(const stream_id& s);
/// As `stream_key`, into `out` (overwritten; its capacity reused).
void stream_key_into(const stream_id& s, std::string& out);

/// log key: u32be partition, u64be position.
std::string log_key(partition_id p, position pos);

/// Decodes a log key; false if malformed.
bool parse_log_key(std::string_view key, partition_id& p, position& pos);

/// stream index / snapshot key: stream_key + u64be revision.
std::string stream_rev_key(const std::string& skey, revision r);

/// checkpoint key: str16be consumer + u32be partition.
std::string checkpoint_key(std::string_view consumer, partition_id p);

/// model key: u16be |model| model + key.
std::string model_key(std::string_view model, std::string_view key);

// -- values -------------------------------------------------------------------

/// log key: u64be sequence number (commit order).
std::string seq_key(uint64_t seq);

/// One durable index entry (stream or partition index): the log sequence
/// numbers of consecutive revisions (positions) `first`, `first + 1`, ...;
/// the key holds the last one. Encoded as u64le first, u32le count, then
/// the sequence numbers as runs of consecutive values: (varint gap to the
/// previous run's end, varint length - 1). Sequence numbers strictly
/// increase. At most `max_index_entry` of them per entry.
constexpr std::size_t max_index_entry = 4096;
void encode_index_entry(uint64_t first, const uint64_t* seqs, std::size_t n,
                        std::string& out);
/// False if malformed (truncated, count mismatch, not increasing).
bool decode_index_entry(std::string_view v, uint64_t& first,
                        std::vector<uint64_t>& seqs);

/// lineage key: u32be partition, u64be epoch.
std::string lineage_key(partition_id p, uint64_t epoch);

// -- records ------------------------------------------------------------------

/// The fields of an event record, by reference (no payload copy).
struct record_view {
  const stream_id& stream;
  revision rev;
  partition_id partition;
  position pos;
  int64_t timestamp_ns;
  uint64_t epoch;
  uint32_t schema_version;
  std::string_view type;
  std::string_view command_id;
  std::string_view correlation_id;
  std::string_view causation_id;
  const std::vector<std::byte>& payload;
  /// Encoded in the record's kind byte (1: ends its append, 2: continued
  /// by the next position's event of the same append).
  bool ends_append = true;
};

/// Encodes an event record: u32le crc32c over the rest, u8 kind (1), then the
/// fields. `out` is overwritten.
void encode_record(const record_view& ev, std::string& out);
void encode_record(const recorded_event& ev, std::string& out);

/// The encoded size of `ev`, and the same encoding written to exactly that
/// many bytes at `out` (e.g. space reserved in an LMDB page).
std::size_t record_size(const record_view& ev) noexcept;
void encode_record_to(const record_view& ev, char* out) noexcept;

/// Decodes and verifies a record. `where` names the record for errors (e.g.
/// "stream bank.account/alice revision 7").
/// @returns `corrupt_record` on checksum or structure failure.
caf::expected<recorded_event> decode_record(const void* data, std::size_t n,
                                            const std::string& where);

/// Why a record failed to decode.
enum class record_fault : uint8_t { none, checksum, kind, structure };

/// Decodes and verifies a record in place; views point into `data`. Cheap
/// on the happy path: no allocation, no error text.
record_fault decode_record_view(const void* data, std::size_t n,
                                event_view& out) noexcept;

/// As `decode_record_view` without the checksum: for indexing a record
/// whose payload may be damaged (reads still verify it and report it).
record_fault decode_record_fields(const void* data, std::size_t n,
                                  event_view& out) noexcept;

/// The `corrupt_record` error for `fault`, naming the record by `where`.
caf::error record_error(record_fault fault, std::size_t n,
                        const std::string& where);

/// Encodes a snapshot record: u32le crc32c, u8 kind (2), fields.
void encode_snapshot(const snapshot& s, std::string& out);

/// @returns `corrupt_snapshot` on checksum or structure failure.
caf::expected<snapshot> decode_snapshot(const void* data, std::size_t n,
                                        const std::string& where);

/// A fresh random data-directory id: 32 hex digits.
std::string new_incarnation();

/// Current wall clock in nanoseconds since the Unix epoch.
int64_t now_ns() noexcept;

} // namespace annals::detail
