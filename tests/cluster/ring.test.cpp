// annals -- tests of the consistent-hash ring.
#include "annals/cluster/ring.hpp"

#include <catch2/catch.hpp>

#include <map>

using annals::cluster::ring;

namespace {

std::map<std::string, int> shares(const ring& r, uint32_t parts) {
  std::map<std::string, int> out;
  for (const auto& o : r.owners(parts))
    ++out[o];
  return out;
}

} // namespace

TEST_CASE("the ring hash is stable", "[cluster][ring]") {
  // Pinned: part of the cluster protocol; changing it moves partitions.
  CHECK(annals::cluster::ring_hash("") == 0xf52a15e9a9b5e89bULL);
  CHECK(annals::cluster::ring_hash("node-a#0")
        != annals::cluster::ring_hash("node-a#1"));
}

TEST_CASE("every node computes the same owners whatever the join order",
          "[cluster][ring]") {
  ring a, b;
  for (auto n : {"n1", "n2", "n3"})
    a.add(n);
  for (auto n : {"n3", "n1", "n2", "n1"})
    b.add(n);
  CHECK(a.members() == b.members());
  CHECK(a.owners(1024) == b.owners(1024));
}

TEST_CASE("partitions spread over the nodes", "[cluster][ring]") {
  ring r;
  for (auto n : {"n1", "n2", "n3"})
    r.add(n);
  auto s = shares(r, 1024);
  REQUIRE(s.size() == 3);
  for (auto& [node, count] : s) {
    INFO(node << " owns " << count);
    CHECK(count > 1024 / 3 * 0.7);
    CHECK(count < 1024 / 3 * 1.3);
  }
}

TEST_CASE("a joining node takes about 1/N of the partitions, only for "
          "itself",
          "[cluster][ring]") {
  ring r;
  for (auto n : {"n1", "n2", "n3"})
    r.add(n);
  auto before = r.owners(1024);
  r.add("n4");
  auto after = r.owners(1024);
  int moved = 0;
  for (std::size_t p = 0; p < before.size(); ++p)
    if (before[p] != after[p]) {
      ++moved;
      CHECK(after[p] == "n4");
    }
  INFO(moved << " of 1024 moved");
  CHECK(moved > 1024 / 4 * 0.6);
  CHECK(moved < 1024 / 4 * 1.4);
  // Leaving moves back exactly those.
  r.remove("n4");
  CHECK(r.owners(1024) == before);
}

TEST_CASE("removing a node moves only its partitions", "[cluster][ring]") {
  ring r;
  for (auto n : {"n1", "n2", "n3", "n4"})
    r.add(n);
  auto before = r.owners(512);
  r.remove("n2");
  auto after = r.owners(512);
  for (std::size_t p = 0; p < before.size(); ++p) {
    if (before[p] != "n2")
      CHECK(after[p] == before[p]);
    else
      CHECK(after[p] != "n2");
  }
  ring empty;
  CHECK_THROWS_AS(empty.owner(0), std::logic_error);
}
