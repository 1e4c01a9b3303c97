// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/persistence/event.hpp"

#include <cstring>

namespace annals {

std::vector<std::byte> to_bytes(std::string_view str) {
  std::vector<std::byte> out(str.size());
  if (!str.empty())
    std::memcpy(out.data(), str.data(), str.size());
  return out;
}

recorded_event event_view::to_event() const {
  recorded_event ev;
  ev.stream.category = category;
  ev.stream.id = id;
  ev.rev = rev;
  ev.partition = partition;
  ev.pos = pos;
  ev.type = type;
  ev.schema_version = schema_version;
  ev.timestamp_ns = timestamp_ns;
  ev.meta.command_id = command_id;
  ev.meta.correlation_id = correlation_id;
  ev.meta.causation_id = causation_id;
  ev.meta.epoch = epoch;
  ev.payload.assign(payload, payload + payload_size);
  ev.ends_append = ends_append;
  return ev;
}

std::string bytes_to_string(const std::vector<std::byte>& bytes) {
  return std::string{reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace annals
