// annals -- tests: the node actor's partition table (pure): phases follow
// the map and the replica's serving epoch, in one place.
#include "node/partition_table.hpp"

#include <catch2/catch.hpp>

using namespace annals::cluster;
using namespace annals::cluster::detail;

namespace {

control::partition_map
map_of(uint64_t version, std::vector<std::pair<std::string, uint64_t>> ps) {
  control::partition_map m;
  m.version = version;
  for (auto name : {"n1", "n2"})
    m.members.push_back({name, "inc-" + std::string{name},
                         std::string{"127.0.0.1:"}
                           + (name == std::string{"n1"} ? "7001" : "7002"),
                         control::member_intent::serve});
  for (auto& [leader, epoch] : ps) {
    control::partition_assignment a;
    a.epoch = epoch;
    a.leader = leader;
    a.replicas = {{leader, "inc-" + leader}};
    m.partitions.push_back(a);
  }
  return m;
}

} // namespace

TEST_CASE("partition table: a standalone node serves every partition") {
  partition_table t{"solo", 4};
  CHECK(t.empty());
  CHECK_FALSE(t.settled());
  t.serve_all(member{"solo", "127.0.0.1", 0}, {1, 3, 1, 2});
  CHECK(t.settled());
  CHECK(t.count(phase::serving) == 4);
  CHECK(t.membership().epochs == std::vector<uint64_t>{1, 3, 1, 2});
  t.update_member(member{"solo", "127.0.0.1", 7100});
  CHECK(t.membership().members.at(0).port == 7100);
  CHECK(t.leader(2) == "solo");
}

TEST_CASE("partition table: appointed until the replica serves the map's "
          "epoch, foreign once led elsewhere") {
  partition_table t{"n1", 3};
  CHECK(t.leaders().empty()); // no map yet: no leaders, no epochs
  auto gone = t.apply(map_of(1, {{"n1", 1}, {"n2", 1}, {"n1", 1}}));
  CHECK(gone.empty());
  CHECK(t.leaders() == std::vector<std::string>{"n1", "n2", "n1"});
  CHECK(t.phase_of(0) == phase::appointed);
  CHECK(t.phase_of(1) == phase::foreign);
  CHECK_FALSE(t.settled());
  CHECK(t.membership().members.at(1).port == 7002);
  // Serving an older epoch than the map's does not serve.
  CHECK_FALSE(t.serving(0, 0));
  CHECK(t.serving(0, 1));
  CHECK(t.phase_of(0) == phase::serving);
  CHECK_FALSE(t.settled()); // partition 2 still appointed
  CHECK(t.serving(2, 1));
  CHECK(t.settled());
  // A new map: partition 0 moves to n2 (epoch 2), partition 2 gets a new
  // epoch with n1 still leading (appointed again until it serves epoch 2).
  gone = t.apply(map_of(2, {{"n2", 2}, {"n2", 1}, {"n1", 2}}));
  CHECK(gone == std::vector<annals::partition_id>{0});
  CHECK(t.phase_of(0) == phase::foreign);
  CHECK(t.phase_of(2) == phase::appointed);
  CHECK(t.leader(0) == "n2");
  // The replica serves the new epoch before or after the map: both work.
  CHECK(t.serving(2, 2));
  CHECK(t.phase_of(2) == phase::serving);
  // Leadership lost: back to appointed while the map still names n1.
  t.lost(2, 1); // an older epoch: ignored
  CHECK(t.phase_of(2) == phase::serving);
  t.lost(2, 2);
  CHECK(t.phase_of(2) == phase::appointed);
  // Serving first, map second.
  CHECK_FALSE(t.serving(1, 5)); // not the leader under the current map
  gone = t.apply(map_of(3, {{"n2", 2}, {"n1", 5}, {"n1", 2}}));
  CHECK(gone.empty());
  CHECK(t.phase_of(1) == phase::serving);
  CHECK(t.count(phase::serving) == 1);
  CHECK(t.count(phase::appointed) == 1);
}
