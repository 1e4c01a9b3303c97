// annals -- the membership view: owners, epochs, storage.
#include "annals/cluster/view.hpp"

#include <catch2/catch.hpp>

using namespace annals;
using namespace annals::cluster;

TEST_CASE("view: a join raises the epoch of exactly the partitions that move") {
  constexpr uint32_t parts = 256;
  auto v1 = first_view({"a", "127.0.0.1", 1}, parts);
  CHECK(v1.version == 1);
  CHECK(v1.leader() == "a");
  auto v2
    = next_view(v1, {{"b", "127.0.0.1", 2}, {"a", "127.0.0.1", 1}}, parts, 128);
  CHECK(v2.version == 2);
  CHECK(v2.members.front().name == "a"); // sorted
  CHECK(v2.previous == v1.members);
  auto before = owners_of(v1.members, parts, 128);
  auto after = owners_of(v2.members, parts, 128);
  uint32_t moved = 0;
  for (uint32_t p = 0; p < parts; ++p) {
    if (before[p] != after[p]) {
      ++moved;
      CHECK(after[p] == "b");
      CHECK(v2.epochs[p] == 2);
    } else {
      CHECK(v2.epochs[p] == 1);
    }
  }
  CHECK(moved > parts / 4);
  CHECK(moved < 3 * parts / 4);
  // A leave moves the leaver's partitions back, again with a new epoch.
  auto v3 = next_view(v2, {{"a", "127.0.0.1", 1}}, parts, 128);
  for (uint32_t p = 0; p < parts; ++p)
    CHECK(v3.epochs[p] == (after[p] == "b" ? 3u : v2.epochs[p]));
}

TEST_CASE("view: stored and read back, damage detected") {
  auto v = next_view(first_view({"a", "h", 1}, 16),
                     {{"a", "h", 1}, {"c", "h", 3}}, 16, 128);
  auto bytes = encode_view(v);
  auto back = decode_view(bytes);
  REQUIRE(back);
  CHECK(back->version == v.version);
  CHECK(back->members == v.members);
  CHECK(back->epochs == v.epochs);
  auto bad = decode_view(bytes.substr(0, bytes.size() / 2));
  CHECK_FALSE(bad);
}
