// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: one throughput round of (1)'s workload -- against an
// in-process runtime (the baseline) or a fresh 3-node cluster over etcd
// entered at n1 -- used by (1) (RF 1), (4) and (5) (RF 1 and 3).
#pragma once

#include "cluster/options.hpp"
#include "cluster/stats.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace cluster_bench {

/// Activates `ids`, then runs the random load for `cfg.seconds` on an
/// in-process runtime (fsync, `partitions`, 2 scheduler threads).
throughput_run run_in_process(const settings& cfg,
                              const std::vector<std::string>& ids,
                              uint64_t seed);

/// An open-loop phase after the closed-loop one: at `rate` commands/s if
/// set, else at `fraction` of the closed-loop rate just measured; neither:
/// no such phase.
struct pacing {
  double rate = 0;
  double fraction = 0;
};

/// The same against 3 node processes started with `extra` options (their
/// etcd and replication factor: `replicated_options`), the bench a client
/// of n1; then, with `paced`, the same workload open loop for `cfg.seconds`
/// (latency under a load below capacity, not queueing).
throughput_run run_cluster(const settings& cfg,
                           const std::vector<std::string>& ids, uint64_t seed,
                           std::vector<std::string> extra, pacing paced = {});

} // namespace cluster_bench
