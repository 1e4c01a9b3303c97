// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the cluster module (internal): the node actor's reads.
//
// What: reads of one stream, served by the stream's leader (forwarded
// there, at most 3 hops), and the fetches of cluster-wide cursors: a fetch
// of partitions this node holds is answered from the local journal at once
// if there is anything new, else long-polled until an append touches one
// of them (`wake`) or its one-second deadline; a cursor's fetch from
// another node is forwarded to it.
// Guarantees: nothing past a partition's visible end (its high watermark
// in replicated mode) is ever returned; a read of a partition not served
// here is `unavailable`; a forwarded read whose peer is lost or silent
// fails through the call table (`router::fail_calls_to`, `tick`).
// Threads: confined to the node actor (`self`); journal reads run in it
// (LMDB readers never block the writer).
#pragma once

#include "annals/runtime.hpp"

#include "node/node_context.hpp"
#include "protocol.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace annals::cluster::detail {

class reads {
public:
  using clock = std::chrono::steady_clock;

  explicit reads(node_context ctx);

  /// Up to `max` events of stream (`category`, `id`) from revision `from`.
  void read(std::string category, std::string id, uint64_t from, uint32_t max,
            uint32_t hops, caf::response_promise rp);

  /// A cursor's fetch of partitions held here (long-polled).
  void fetch_local(fetch_request req, caf::response_promise rp);

  /// A local cursor's fetch from node `name`.
  void fetch_remote(const std::string& name, fetch_request req,
                    caf::response_promise rp);

  /// Appends touched `touched`: answer the polls waiting for them.
  void wake(const std::vector<partition_id>& touched);

  /// Answers the polls past their deadline.
  void tick(clock::time_point now);

private:
  struct pending_fetch {
    fetch_request req;
    caf::response_promise rp;
    clock::time_point deadline;
  };

  bool try_fetch(fetch_request& req, caf::response_promise& rp,
                 bool force = false);
  void ask_peer(const std::string& name, caf::timespan timeout,
                caf::response_promise rp, caf::message msg);

  node_context ctx_;
  std::vector<pending_fetch> polls_;
};

} // namespace annals::cluster::detail
