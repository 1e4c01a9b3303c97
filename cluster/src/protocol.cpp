// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "protocol.hpp"

namespace annals::cluster {

namespace {

std::string to_string_bytes(const std::byte* data, std::size_t n) {
  return std::string{reinterpret_cast<const char*>(data), n};
}

} // namespace

wire_event to_wire(const event_view& ev) {
  wire_event w;
  w.category = std::string{ev.category};
  w.id = std::string{ev.id};
  w.rev = ev.rev;
  w.partition = ev.partition;
  w.pos = ev.pos;
  w.type = std::string{ev.type};
  w.schema_version = ev.schema_version;
  w.timestamp_ns = ev.timestamp_ns;
  w.command_id = std::string{ev.command_id};
  w.correlation_id = std::string{ev.correlation_id};
  w.causation_id = std::string{ev.causation_id};
  w.epoch = ev.epoch;
  w.payload = to_string_bytes(ev.payload, ev.payload_size);
  w.ends_append = ev.ends_append;
  return w;
}

recorded_event from_wire(const wire_event& w) {
  recorded_event ev;
  ev.stream = stream_id{w.category, w.id};
  ev.rev = w.rev;
  ev.partition = w.partition;
  ev.pos = w.pos;
  ev.type = w.type;
  ev.schema_version = w.schema_version;
  ev.timestamp_ns = w.timestamp_ns;
  ev.meta
    = event_metadata{w.command_id, w.correlation_id, w.causation_id, w.epoch};
  ev.payload = to_bytes(w.payload);
  ev.ends_append = w.ends_append;
  return ev;
}

void register_protocol(caf::actor_system_config& cfg) {
  cfg.add_message_type<member>("annals.cluster.member");
  cfg.add_message_type<wire_event>("annals.cluster.event");
  cfg.add_message_type<fetch_request>("annals.cluster.fetch_request");
  cfg.add_message_type<fetch_reply>("annals.cluster.fetch_reply");
}

} // namespace annals::cluster
