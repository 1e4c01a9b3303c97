// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: figures from the clients' samples, and one throughput
// round's figures as printed.
#pragma once

#include "cluster/load.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace cluster_bench {

/// Latencies (ms, sorted) of the commands sent in [from, to) that succeeded.
std::vector<double> latencies(const std::vector<sample>& xs, double from,
                              double to);

/// One throughput round (in-process or a cluster).
struct throughput_run {
  double rate = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  uint64_t errors = 0;
  std::string first_error;
  double batch = 0;      ///< appends per group commit (per node: mean)
  double forwarded = 0;  ///< share of commands entering n1 sent onwards
  double cpu_cores = 0;  ///< all processes together
  std::string cpu_split; ///< per process
  double fsync_ms = 0;   ///< probe before the run
  /// An open-loop phase after the closed-loop one (`pacing`): its offered
  /// and achieved rates and latencies; 0 if none ran.
  double paced_offered = 0, paced_rate = 0;
  double paced_p50_ms = 0, paced_p99_ms = 0;
};

/// Rate, latencies and errors of `t`, a load timed for `seconds`.
void fill_latency(throughput_run& r, const load::totals& t, double seconds);

void print_run(const char* label, const throughput_run& r,
               bool forwarded = false);

/// The median of `field` over `runs`.
double median_of(const std::vector<throughput_run>& runs,
                 double throughput_run::*field);

} // namespace cluster_bench
