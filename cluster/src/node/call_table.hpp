// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the node actor's calls to other
// nodes that await a reply.
//
// What: each forwarded command or read is tracked with its caller's
// promise, the node it went to and a deadline, so that a lost peer or a
// missed deadline fails it instead of leaving the caller waiting on a
// reply lost with the connection. Requests carry no CAF timeout (a pending
// one keeps the actor alive until it fires).
// Guarantees: a call ends once: by `finish` (the reply came), or in
// `take_expired` / `take_to` (the caller fails it).
// Threads: a plain value, confined to the node actor.
#pragma once

#include "annals/persistence/stream.hpp"

#include <caf/response_promise.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace annals::cluster::detail {

class call_table {
public:
  using clock = std::chrono::steady_clock;

  struct call {
    std::string node;
    /// The routed command's partition; none for reads and fetches.
    std::optional<partition_id> partition;
    caf::response_promise rp;
    clock::time_point deadline;
  };

  /// Registers a call to `node`; returns its id.
  uint64_t track(std::string node, std::optional<partition_id> partition,
                 caf::response_promise rp, caf::timespan timeout);

  /// Ends call `id` (none if it already ended).
  std::optional<call> finish(uint64_t id);

  /// Ends the calls past their deadline.
  std::vector<call> take_expired(clock::time_point now);

  /// Ends the calls to `node`.
  std::vector<call> take_to(const std::string& node);

private:
  template <class Pred>
  std::vector<call> take_if(Pred pred);

  std::map<uint64_t, call> calls_;
  uint64_t next_ = 1;
};

} // namespace annals::cluster::detail
