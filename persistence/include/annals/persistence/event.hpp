// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: events as written and as read.
#pragma once

#include "annals/persistence/stream.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace annals {

/// Who caused an event. All fields are optional (empty / 0).
struct event_metadata {
  /// The id of the command that produced the event (idempotency key).
  std::string command_id;
  /// Groups all messages of one business transaction (e.g. a saga).
  std::string correlation_id;
  /// The id of the message that directly caused this one.
  std::string causation_id;
  /// The ownership epoch of the writer of the partition (cluster fencing).
  uint64_t epoch = 0;

  friend bool operator==(const event_metadata&, const event_metadata&)
    = default;
};

/// An event to append. The journal treats `payload` as opaque bytes.
struct event_data {
  /// The event type's stable name, e.g. "bank.money_deposited". Never a
  /// numeric type id: names survive reordering of type lists.
  std::string type;
  /// The schema version of `payload`'s encoding (for upcasting on read).
  uint32_t schema_version = 1;
  /// Nanoseconds since the Unix epoch; 0 lets the journal stamp it on append.
  /// Informational only: order comes from revisions and positions.
  int64_t timestamp_ns = 0;
  /// Correlation and causation ids. The append's command id and epoch are
  /// copied into each event's metadata by the journal.
  std::string correlation_id;
  std::string causation_id;
  std::vector<std::byte> payload;
};

/// An event as stored: its data plus where it is.
struct recorded_event {
  stream_id stream;
  revision rev = 0;
  partition_id partition = 0;
  position pos = 0;
  std::string type;
  uint32_t schema_version = 1;
  int64_t timestamp_ns = 0;
  event_metadata meta;
  std::vector<std::byte> payload;
  /// False if the next position holds the next event of the same append
  /// (one command's events are written, and replicated, together).
  bool ends_append = true;

  friend bool operator==(const recorded_event&, const recorded_event&)
    = default;
};

/// A stored event seen in place (no copies): every view points into the
/// journal's memory and is valid only during the callback that received it
/// (see `journal::scan_stream`). The record's checksum was verified.
struct event_view {
  std::string_view category;
  std::string_view id;
  revision rev = 0;
  partition_id partition = 0;
  position pos = 0;
  std::string_view type;
  uint32_t schema_version = 1;
  int64_t timestamp_ns = 0;
  std::string_view command_id;
  std::string_view correlation_id;
  std::string_view causation_id;
  uint64_t epoch = 0;
  const std::byte* payload = nullptr;
  std::size_t payload_size = 0;
  /// False if the next position holds the next event of the same append.
  bool ends_append = true;

  /// Copies the view into an owning `recorded_event`.
  recorded_event to_event() const;
};

/// Convenience: bytes from a string (tests, tools, demos).
std::vector<std::byte> to_bytes(std::string_view str);

/// Convenience: a string from bytes.
std::string bytes_to_string(const std::vector<std::byte>& bytes);

} // namespace annals
