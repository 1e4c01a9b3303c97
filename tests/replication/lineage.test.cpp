// annals -- tests: comparing partition logs by their lineage.
#include "replication/lineage.hpp"

#include <catch2/catch.hpp>

using namespace annals;
using namespace annals::replication;

TEST_CASE("epoch_at reads the epoch of a position from a lineage",
          "[replication][lineage]") {
  lineage lin{{3, 2}, {5, 4}};
  CHECK(epoch_at(lin, 0) == 0);
  CHECK(epoch_at(lin, 1) == 0);
  CHECK(epoch_at(lin, 2) == 3);
  CHECK(epoch_at(lin, 3) == 3);
  CHECK(epoch_at(lin, 4) == 5);
  CHECK(epoch_at(lin, 99) == 5);
  CHECK(last_epoch(lin) == 5);
  CHECK(last_epoch({}) == 0);
}

TEST_CASE("the common prefix of two logs is where their epochs last agree",
          "[replication][lineage]") {
  // Identical logs of different lengths: the shorter one.
  CHECK(common_prefix({{1, 1}}, 5, {{1, 1}}, 8) == 5);
  // B wrote epoch 2 from 4 on, A kept epoch 1 entries up to 6.
  CHECK(common_prefix({{1, 1}}, 6, {{1, 1}, {2, 4}}, 9) == 3);
  // Several epochs apart: A's 2 at 3..5, then 4; B's 3 from 3 on.
  CHECK(common_prefix({{1, 1}, {2, 3}, {4, 6}}, 8, {{1, 1}, {3, 3}}, 10) == 2);
  // Same epochs again after a divergence cannot happen (one leader per
  // epoch); a shared later epoch means a shared prefix up to it.
  CHECK(common_prefix({{1, 1}, {3, 4}}, 7, {{1, 1}, {2, 3}, {3, 4}}, 5) == 5);
  // Nothing in common.
  CHECK(common_prefix({{2, 1}}, 3, {{1, 1}}, 3) == 0);
  CHECK(common_prefix({}, 0, {{1, 1}}, 3) == 0);
}

TEST_CASE("a log is more up to date by last epoch, then by length",
          "[replication][lineage]") {
  CHECK(at_least_as_up_to_date({{1, 1}, {3, 5}}, 5, {{1, 1}}, 9));
  CHECK_FALSE(at_least_as_up_to_date({{1, 1}}, 9, {{1, 1}, {3, 5}}, 5));
  CHECK(at_least_as_up_to_date({{1, 1}}, 4, {{1, 1}}, 4));
  CHECK_FALSE(at_least_as_up_to_date({{1, 1}}, 3, {{1, 1}}, 4));
  CHECK(lineage_until({{1, 1}, {3, 5}, {4, 7}}, 6) == lineage{{1, 1}, {3, 5}});
}
