// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the bench's own actor systems -- as a client of the node
// processes, and as the in-process baseline -- and the aggregate handle
// its drivers send through.
#pragma once

#include "annals/aggregate_handle.hpp"
#include "annals/cluster/node_config.hpp"
#include "annals/runtime_config.hpp"

#include "cluster_bench_account.hpp"

namespace cluster_bench {

using accounts_handle = annals::aggregate_handle<cluster_bench::account>;

/// The bench as a cluster client: the nodes' heartbeat settings (they must
/// match), their scheduler size, the aggregate's types.
struct client_config : annals::cluster::config {
  client_config() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::cluster_bench>();
  }
};

/// The in-process baseline: what a node process runs, minus the cluster.
struct local_config : annals::config {
  local_config() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::cluster_bench>();
  }
};

} // namespace cluster_bench
