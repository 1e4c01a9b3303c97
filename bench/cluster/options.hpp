// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the command line and the settings it gives.
#pragma once

#include <cstdio>
#include <optional>
#include <set>

namespace cluster_bench {

struct settings {
  double seconds = 3.0; ///< timed part of each throughput round
  int reps = 3;         ///< throughput rounds (each: in-process, cluster)
  int move_reps = 2;    ///< rounds of (10)
  int failure_reps = 3;
  double steady_s = 1.5; ///< load before the join ((10)'s rounds)
  double between_s = 1.0;
  int poll_ms = 5;
  int kills = 10;       ///< failover rounds of (7)
  int catchup_reps = 2; ///< rounds of (8) and (9)
  /// (4)'s open-loop load: this fraction of RF 1's closed-loop rate, about
  /// half of what RF 3 sustains; offered alike to RF 1 and RF 3.
  double paced = 0.3;
  /// 2 (the view mode's hand-off) is gone: asking for it prints where
  /// its measure went.
  std::set<int> sections{1, 3, 4, 5, 6, 7, 8, 9, 10};
  bool verbose = false;

  bool has(int section) const {
    return sections.count(section) > 0;
  }
};

void usage(std::FILE* out);

/// The settings `argv` asks for, or the process's exit code: 0 after
/// `--help` (usage printed to stdout), 2 on a bad option (to stderr).
/// Never throws.
struct parsed_options {
  std::optional<settings> cfg;
  int exit_code = 0;
};

parsed_options parse_options(int argc, char** argv);

} // namespace cluster_bench
