// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the sections (what each measures: the comment atop
// bench/cluster_bench.cpp). Each prints its rounds and a table of figures
// beside their same-run baselines, and returns what the final targets
// table needs. A section that cannot go on (a node does not start, a
// driver hangs) ends the bench through `die`.
//
// Threads: the main thread's; each section starts and stops its own
// processes and actor systems.
#pragma once

#include "cluster/options.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace cluster_bench {

// -- (1) throughput -----------------------------------------------------------

struct throughput_summary {
  double local_rate = 0, cluster_rate = 0;
  uint64_t errors = 0;
};

throughput_summary section_throughput(const settings& cfg);

// (2), the view mode's hand-off pause, is gone with the view mode: a
// partition's move is (10)'s.

// -- (3) failure detection ----------------------------------------------------

struct failure_summary {
  /// Medians over the rounds of the later survivor's detection.
  double kill_ms = -1, stop_ms = -1;
  /// SIGSTOP of a leader -> first ack per partition it led: the p99 (-1:
  /// one never answered or it led none).
  double stop_ack_p99 = -1;
  bool ran = false;
};

failure_summary section_failure(const settings& cfg);

// -- (4) RF 3 vs RF 1, (5) one hot aggregate ----------------------------------

struct replication_summary {
  bool ran = false;
  double rf1_rate = 0, rf3_rate = 0;
  double rf1_p99 = 0, rf3_p99 = 0; ///< closed loop: queueing included
  /// Open loop at the same offered load, below both capacities.
  double rf1_paced_p99 = 0, rf3_paced_p99 = 0;
  uint64_t errors = 0;
};

replication_summary section_replication(const settings& cfg);

replication_summary section_hot(const settings& cfg);

// -- (6) replication lag ------------------------------------------------------

struct lag_summary {
  bool ran = false;
  double ms_p99_hi = 0;
};

lag_summary section_lag(const settings& cfg);

// -- (7) failover time --------------------------------------------------------

struct failover_summary {
  bool ran = false;
  double p99 = -1;
};

failover_summary section_failover(const settings& cfg);

// -- (8) catch-up after disk loss ---------------------------------------------

struct catchup_summary {
  bool ran = false;
  double rate = 0;
};

/// `rf1_rate`: (4)'s RF 1 rate as a second baseline, 0 if (4) did not run.
catchup_summary section_catchup(const settings& cfg, double rf1_rate);

// -- (9) etcd writes per failover ---------------------------------------------

struct writes_summary {
  bool ran = false;
  std::vector<double> per_failover;
};

writes_summary section_writes(const settings& cfg);

// -- (10) pause of a replica move ---------------------------------------------

struct moves_summary {
  bool ran = false;
  /// Per moved partition of every join and leave, the longest gap
  /// between acks of commands to it while the map changed: the p99.
  double pause_p99 = 0;
  /// The same statistic without a move (same run, as long a window).
  double baseline_p99 = 0;
};

moves_summary section_moves(const settings& cfg);

// -- all of them --------------------------------------------------------------

/// What the sections that ran returned.
struct summaries {
  std::optional<throughput_summary> tp;
  failure_summary fd;
  replication_summary rs;
  replication_summary hot;
  lag_summary lag;
  failover_summary fo;
  catchup_summary cu;
  writes_summary ws;
  moves_summary mv;
};

/// Prints the "targets" table: each section's figure against its target.
void print_targets(const summaries& s);

} // namespace cluster_bench
