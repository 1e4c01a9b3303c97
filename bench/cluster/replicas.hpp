// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the replicas of replicated nodes as the bench polls them
// (`replicas` on their stdin) -- whether they are in step, who leads --
// and one aggregate id per partition to probe them with.
#pragma once

#include "cluster/node_process.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cluster_bench {

/// Per node (in the order asked): its replicas.
using replica_table = std::vector<std::vector<replica_row>>;

/// The row of partition `p` in `rows`, or null.
const replica_row* row_of(const std::vector<replica_row>& rows, uint32_t p);

/// Whether `t` (one poll of `nodes`) is in step: every node holds every
/// partition as a voter; each partition has one leader among `nodes`, whose
/// high watermark is its end, and the others follow it and hold that end.
bool in_step(const std::vector<node_process*>& nodes, const replica_table& t);

/// Polls the replicas of `nodes` until they are `in_step`; the last poll.
/// Dies after `timeout`.
replica_table await_in_step(const std::vector<node_process*>& nodes,
                            std::chrono::seconds timeout
                            = std::chrono::seconds{90});

/// Per partition: the index (in `nodes`) of its leader in `t` (in step).
std::vector<std::size_t> leaders_of(const replica_table& t);

/// Per partition: an aggregate id in it (`probe<n>`, the first n that
/// hashes there for cluster_bench::account).
std::vector<std::string> one_id_per_partition();

} // namespace cluster_bench
