// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the replication core: a journal event as a replicated log entry.
#include "replication/event_entry.hpp"

#include "annals/persistence/errc.hpp"

#include "replication/byte_codec.hpp"

#include <cstring>

namespace annals::replication {

namespace {

/// Version 1: u8 version, u64 revision, u32 schema version, i64 timestamp,
/// then category, id, type, command id, correlation id, causation id as
/// u16-length strings and the payload as a u32-length string.
constexpr uint8_t entry_version = 1;

} // namespace

log_entry to_entry(const event_view& ev) {
  log_entry entry;
  entry.epoch = ev.epoch;
  entry.ends_append = ev.ends_append;
  auto& out = entry.payload;
  out.reserve(1 + 8 + 4 + 8 + 6 * 2 + 4 + ev.category.size() + ev.id.size()
              + ev.type.size() + ev.command_id.size() + ev.correlation_id.size()
              + ev.causation_id.size() + ev.payload_size);
  byte_writer w{out};
  w.num(entry_version);
  w.num(static_cast<uint64_t>(ev.rev));
  w.num(ev.schema_version);
  w.num(ev.timestamp_ns);
  w.str16(ev.category);
  w.str16(ev.id);
  w.str16(ev.type);
  w.str16(ev.command_id);
  w.str16(ev.correlation_id);
  w.str16(ev.causation_id);
  w.str32(std::string_view{reinterpret_cast<const char*>(ev.payload),
                           ev.payload_size});
  return entry;
}

caf::expected<entry_event> decode_entry(std::string_view payload) {
  byte_reader r{payload};
  auto version = r.num<uint8_t>();
  if (r.ok() && version != entry_version) {
    return make_error(journal_errc::invalid_argument,
                      "replicated entry of unknown version "
                        + std::to_string(version));
  }
  entry_event ev;
  ev.rev = r.num<uint64_t>();
  ev.schema_version = r.num<uint32_t>();
  ev.timestamp_ns = r.num<int64_t>();
  ev.stream.category = r.str16();
  ev.stream.id = r.str16();
  ev.type = r.str16();
  ev.command_id = r.str16();
  ev.correlation_id = r.str16();
  ev.causation_id = r.str16();
  auto body = r.str32();
  if (!r.ok() || !r.done()) {
    return make_error(journal_errc::invalid_argument,
                      r.ok() ? "replicated entry has trailing bytes"
                             : "replicated entry is truncated");
  }
  ev.payload.resize(body.size());
  if (!body.empty()) {
    std::memcpy(ev.payload.data(), body.data(), body.size());
  }
  return ev;
}

} // namespace annals::replication
