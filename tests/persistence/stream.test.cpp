// annals -- tests of stream ids and the partition hash.
#include "annals/persistence/stream.hpp"

#include <catch2/catch.hpp>

using namespace annals;

TEST_CASE("the stream hash is the documented FNV-1a and never changes",
          "[persistence][stream]") {
  // Values computed independently (Python) from the documented definition.
  CHECK(stream_hash({"bank.account", "alice"}) == 0x4b53394f7daaf3caULL);
  CHECK(stream_hash({"bank.account", "bob"}) == 0xa1964f7ca7d6c5f5ULL);
  CHECK(stream_hash({"a", ""}) == 0x089be207b544f1e4ULL);
  CHECK(partition_of({"bank.account", "alice"}, 1024) == 970);
  CHECK(partition_of({"bank.account", "bob"}, 1024) == 501);
}

TEST_CASE("the separator keeps category and id apart",
          "[persistence][stream]") {
  CHECK(stream_hash({"ab", "c"}) != stream_hash({"a", "bc"}));
}

TEST_CASE("partitions spread streams evenly", "[persistence][stream]") {
  std::vector<int> counts(64, 0);
  for (int i = 0; i < 64000; ++i)
    ++counts[partition_of({"t", std::to_string(i)}, 64)];
  for (auto c : counts) {
    CHECK(c > 800);
    CHECK(c < 1200);
  }
}
