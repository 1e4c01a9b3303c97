// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: a journal event as a replicated log entry.
#pragma once

#include "annals/persistence/event.hpp"

#include "replication/replica_log.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace annals::replication {

/// Encodes `ev` as the entry a leader ships: the epoch and `ends_append`
/// go to the entry's fields, everything else but the position (implicit in
/// the log) to its payload (versioned, length-prefixed, little endian).
log_entry to_entry(const event_view& ev);

/// What an entry's payload carries: the event without its position, epoch,
/// command's end marker (those are the entry's) and partition.
struct entry_event {
  stream_id stream;
  revision rev = 0;
  std::string type;
  uint32_t schema_version = 1;
  int64_t timestamp_ns = 0;
  std::string command_id;
  std::string correlation_id;
  std::string causation_id;
  std::vector<std::byte> payload;
};

/// Decodes an entry's payload.
/// @returns `journal_errc::invalid_argument` naming what is malformed
///          (unknown version, truncated field, trailing bytes).
caf::expected<entry_event> decode_entry(std::string_view payload);

} // namespace annals::replication
