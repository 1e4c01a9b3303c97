// annals -- tests: the replication simulation catches each planted bug
// (this binary links annals_replication_planted, built with
// ANNALS_PLANTED_BUGS).
#include "simulation.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>

using namespace annals;
using namespace annals::replication;
using annals::testing::sim_options;
using annals::testing::simulate;

namespace {

/// The first seed in [1, limit] whose run reports a violation, or 0.
uint64_t first_violation(planted_bug bug, uint64_t limit,
                         uint32_t wipe_percent = 25,
                         uint32_t move_percent = 35) {
  for (uint64_t seed = 1; seed <= limit; ++seed) {
    sim_options opts;
    opts.seed = seed;
    opts.bug = bug;
    opts.wipe_percent = wipe_percent;
    opts.move_percent = move_percent;
    auto res = simulate(opts);
    if (!res.violations.empty()) {
      std::cout << "planted bug " << static_cast<int>(bug)
                << " caught: " << res.violations.front() << '\n';
      return seed;
    }
  }
  return 0;
}

} // namespace

TEST_CASE("the simulation catches a leader that acknowledges on its own fsync",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::ack_on_leader_fsync, 50000) != 0);
}

TEST_CASE("the simulation catches a follower that does not truncate",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::no_truncation, 50000) != 0);
}

TEST_CASE("the simulation catches a leader that skips the majority fence",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::skip_fence, 50000) != 0);
}

TEST_CASE("the simulation catches counting replicas of an older epoch",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::count_old_epoch, 50000) != 0);
}

TEST_CASE("the simulation catches a follower acking before its fsync",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::follower_ack_before_fsync, 50000) != 0);
}

TEST_CASE("the simulation catches counting a wiped replica as a voter",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::count_learners, 50000, 100) != 0);
}

TEST_CASE("the simulation catches commits before the epoch's start (figure 8)",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::commit_before_epoch_start, 200000) != 0);
}

TEST_CASE("the simulation catches a leader that splits appends",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::split_appends, 50000) != 0);
}

TEST_CASE("planted: the controller changes voters before they settled",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::unsettled_voter_change, 200000, 25, 100)
        != 0);
}

TEST_CASE("planted: the controller swaps a learner for a voter in one step",
          "[replication][simulation][planted]") {
  CHECK(first_violation(planted_bug::swap_voter, 200000, 25, 100) != 0);
}

TEST_CASE("planted bug detection rates (a report, not a check)",
          "[.][replication][planted-rates]") {
  for (auto bug :
       {planted_bug::ack_on_leader_fsync, planted_bug::no_truncation,
        planted_bug::skip_fence, planted_bug::count_old_epoch,
        planted_bug::follower_ack_before_fsync, planted_bug::count_learners,
        planted_bug::commit_before_epoch_start, planted_bug::split_appends,
        planted_bug::unsettled_voter_change, planted_bug::swap_voter}) {
    uint64_t caught = 0;
    auto count = annals::testing::seed_count(20000);
    for (uint64_t seed = 1; seed <= count; ++seed) {
      sim_options opts;
      opts.seed = seed;
      opts.bug = bug;
      caught += simulate(opts).violations.empty() ? 0 : 1;
    }
    std::cout << "planted bug " << static_cast<int>(bug) << ": " << caught
              << " of " << count << " seeds\n";
    CHECK(caught > 0);
  }
}
