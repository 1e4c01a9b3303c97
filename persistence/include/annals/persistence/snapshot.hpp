// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module: snapshots of a stream's state.
#pragma once

#include "annals/persistence/stream.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace annals {

/// The state of a stream after applying its events up to `rev`. Snapshots
/// are an optimisation only: a reader must be able to do without them.
struct snapshot {
  stream_id stream;
  /// The revision of the last event folded into `payload`; at least 1.
  revision rev = 0;
  /// The state type's stable name and the schema version of `payload`.
  std::string type;
  uint32_t schema_version = 1;
  std::vector<std::byte> payload;

  friend bool operator==(const snapshot&, const snapshot&) = default;
};

} // namespace annals
