// annals -- tests of the record codec and the checksum.
#include "codec.hpp"

#include "annals/persistence/errc.hpp"

#include "crc32c.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace annals;
using namespace annals::detail;

namespace {

recorded_event sample() {
  recorded_event ev;
  ev.stream = {"bank.account", "alice"};
  ev.rev = 7;
  ev.partition = 970;
  ev.pos = 1234;
  ev.type = "bank.money_deposited";
  ev.schema_version = 2;
  ev.timestamp_ns = 1'700'000'000'000'000'000;
  ev.meta = {"cmd-1", "corr-1", "cause-1", 3};
  ev.payload = to_bytes("{\"amount\":500}");
  return ev;
}

} // namespace

TEST_CASE("crc32c matches the standard check value", "[persistence][codec]") {
  CHECK(crc32c("123456789", 9) == 0xe3069283u);
  CHECK(crc32c("", 0) == 0u);
  // Incremental use gives the same result as one call.
  auto part = crc32c("12345", 5);
  CHECK(crc32c("6789", 4, part) == 0xe3069283u);
}

TEST_CASE("an event record round-trips", "[persistence][codec]") {
  auto ev = sample();
  std::string buf;
  encode_record(ev, buf);
  auto back = decode_record(buf.data(), buf.size(), "here");
  REQUIRE(back);
  CHECK(*back == ev);
}

TEST_CASE("every single-byte flip of a record is detected",
          "[persistence][codec]") {
  std::string buf;
  encode_record(sample(), buf);
  for (std::size_t i = 0; i < buf.size(); ++i) {
    auto bad = buf;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto res = decode_record(bad.data(), bad.size(), "stream s revision 7");
    REQUIRE_FALSE(res);
    CHECK(is(res.error(), journal_errc::corrupt_record));
    CHECK(describe(res.error()).find("stream s revision 7")
          != std::string::npos);
  }
}

TEST_CASE("truncated and random records give errors, never crashes",
          "[persistence][codec]") {
  std::string buf;
  encode_record(sample(), buf);
  for (std::size_t n = 0; n < buf.size(); ++n)
    CHECK_FALSE(decode_record(buf.data(), n, "x"));
  std::mt19937 rng{42};
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 128, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng());
    // A valid checksum over junk: exercises the structural checks.
    if (junk.size() >= 5) {
      junk[4] = 1;
      auto crc = crc32c(junk.data() + 4, junk.size() - 4);
      for (int b = 0; b < 4; ++b)
        junk[static_cast<std::size_t>(b)] = static_cast<char>(crc >> (8 * b));
    }
    auto res = decode_record(junk.data(), junk.size(), "x");
    if (!res)
      CHECK(is(res.error(), journal_errc::corrupt_record));
  }
}

TEST_CASE("a snapshot record round-trips and detects damage",
          "[persistence][codec]") {
  snapshot s{
    {"bank.account", "alice"}, 42, "bank.account", 1, to_bytes("state")};
  std::string buf;
  encode_snapshot(s, buf);
  auto back = decode_snapshot(buf.data(), buf.size(), "snap");
  REQUIRE(back);
  CHECK(*back == s);
  buf[buf.size() - 1] ^= 0x40;
  auto bad = decode_snapshot(buf.data(), buf.size(), "snap");
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), journal_errc::corrupt_snapshot));
}

TEST_CASE("keys sort numerically", "[persistence][codec]") {
  CHECK(log_key(1, 255) < log_key(1, 256));
  CHECK(log_key(1, ~uint64_t{0}) < log_key(2, 0));
  auto sk = stream_key({"c", "id"});
  CHECK(stream_rev_key(sk, 9) < stream_rev_key(sk, 10));
  partition_id p;
  position pos;
  REQUIRE(parse_log_key(log_key(77, 123456789), p, pos));
  CHECK(p == 77);
  CHECK(pos == 123456789);
}
