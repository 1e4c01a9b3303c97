// annals -- tests: a deterministic simulation of one partition's replicas.
//
// N = 3 (sometimes 5) replicas with in-memory logs (a crash keeps only what was
// synced), a seeded network that drops, delays, reorders and duplicates
// messages, crashes and restarts, disk wipes (a new incarnation),
// controller-driven failovers (sometimes a new epoch while the previous
// failover is still fencing or recovering), and clients whose commands are
// acknowledged only at the high watermark. After the chaos, a quiet period (no
// faults, all replicas up, one more failover) must settle every log; then the
// checker runs.
#pragma once

#include "replication/replica.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace annals::testing {

struct sim_options {
  uint64_t seed = 1;
  /// Applied only in builds with ANNALS_PLANTED_BUGS.
  replication::planted_bug bug = replication::planted_bug::none;
  /// Replicas: 3 or 5; 0 = drawn per seed (3, sometimes 5).
  uint32_t replicas = 0;
  /// Chance (percent, twice per seed) that a replica loses its disk.
  uint32_t wipe_percent = 25;
  /// Chance (percent per seed) of a spare node and 1-2 replica moves: the
  /// spare joins as a learner, becomes a voter, then a voter leaves.
  uint32_t move_percent = 35;
  /// Record a readable trace of every step (for failing seeds).
  bool trace = false;
};

struct sim_result {
  /// Empty if every check passed: acknowledged entries present and
  /// unchanged everywhere, at most one leader per epoch, no log differs
  /// from another below a high watermark, and the quiet period settled.
  std::vector<std::string> violations;
  uint64_t acknowledged = 0;
  uint64_t epochs = 0;
  uint64_t messages = 0;
  uint64_t final_hw = 0;
  /// Appointments made while another leader was still fencing or
  /// recovering.
  uint64_t superseded_failovers = 0;
  uint64_t wipes = 0;
  /// Learners that caught up and replaced their old incarnation.
  uint64_t promotions = 0;
  /// Replica moves started, and completed (the leaving voter removed).
  uint64_t moves = 0;
  uint64_t moves_completed = 0;
  std::vector<std::string> trace;
};

sim_result simulate(const sim_options& opts);

/// ANNALS_REPLICATION_SEEDS if set, else `fallback`.
uint64_t seed_count(uint64_t fallback);

} // namespace annals::testing
