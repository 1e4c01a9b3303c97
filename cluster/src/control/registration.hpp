// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): a node's registration, the value
// of `/annals/<cluster>/members/<name>` (attached to the node's lease, so
// the key lives exactly as long as the node's liveness).
//
// What: the node's incarnation, address and intent (serve, or leave the
// cluster: its replicas are moved away and it is then dropped from the
// map); a versioned JSON codec (`{"format":1,"incarnation","address",
// "intent":"serve"|"leave"}`).
// Errors: `decode_registration` returns `malformed_value` or
// `unknown_format`; it never throws.
// Threads: pure functions.
#pragma once

#include "control/partition_map.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace annals::cluster::control {

struct registration {
  std::string incarnation;
  std::string address;
  member_intent intent = member_intent::serve;

  friend bool operator==(const registration&, const registration&) = default;
};

std::string encode(const registration& x);

caf::expected<registration> decode_registration(std::string_view text);

} // namespace annals::cluster::control
