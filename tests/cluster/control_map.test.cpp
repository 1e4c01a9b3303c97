// annals -- the control plane's values: the partition map's and the member
// registration's JSON codecs (cluster/src/control).
#include "control/control_errc.hpp"
#include "control/partition_map.hpp"
#include "control/registration.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace annals::cluster::control;

namespace {

partition_map sample_map() {
  partition_map m;
  m.version = 7;
  m.rf = 2;
  m.members = {{"a", "a-1", "127.0.0.1:1", member_intent::serve},
               {"b", "b-2", "127.0.0.1:2", member_intent::leave},
               {"c", "c-1", "[::1]:3", member_intent::serve}};
  m.partitions = {{3, "a", {{"a", "a-1"}, {"b", "b-1"}}, {{"b", "b-2"}}},
                  {1, "c", {{"c", "c-1"}, {"a", "a-1"}}, {}, false}};
  return m;
}

/// The sample map's JSON with `from` replaced by `to` (once).
std::string edited(const std::string& from, const std::string& to) {
  auto text = encode(sample_map());
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

bool fails_with(const std::string& text, control_errc code) {
  auto res = decode_partition_map(text);
  if (res)
    return false;
  INFO(describe(res.error()));
  return is(res.error(), code);
}

} // namespace

TEST_CASE("control: the partition map survives an encode/decode round trip",
          "[control][map]") {
  auto m = sample_map();
  auto back = decode_partition_map(encode(m));
  REQUIRE(back);
  CHECK(*back == m);
  CHECK(back->find_member("b")->intent == member_intent::leave);
  CHECK(back->find_member("x") == nullptr);
  auto other = m;
  other.partitions[1].epoch = 2;
  CHECK(other != m);
}

TEST_CASE("control: a format 1 map (no settled flags) is read as settled",
          "[control][map]") {
  auto text = encode(sample_map());
  text.replace(text.find("\"format\":2"), 10, "\"format\":1");
  for (auto at = text.find(",\"settled\":"); at != std::string::npos;
       at = text.find(",\"settled\":"))
    text.erase(at, text.find('}', at) - at);
  auto back = decode_partition_map(text);
  REQUIRE(back);
  auto expected = sample_map();
  for (auto& x : expected.partitions)
    x.settled = true;
  CHECK(*back == expected);
}

TEST_CASE("control: malformed partition maps decode to errors, never throw",
          "[control][map]") {
  using e = control_errc;
  CHECK(fails_with("", e::malformed_value));
  CHECK(fails_with("{\"format\":1", e::malformed_value));
  CHECK(fails_with("[1,2]", e::malformed_value));
  CHECK(fails_with("\"x\"", e::malformed_value));
  CHECK(fails_with("{}", e::malformed_value));
  CHECK(fails_with(edited("\"format\":2", "\"format\":3"), e::unknown_format));
  CHECK(
    fails_with(edited("\"format\":2", "\"format\":-1"), e::malformed_value));
  CHECK(
    fails_with(edited("\"format\":2", "\"format\":\"2\""), e::malformed_value));
  // Format 2 needs "settled", a boolean; format 1 must not have it.
  CHECK(fails_with(edited(",\"settled\":true", ""), e::malformed_value));
  CHECK(fails_with(edited("\"settled\":true", "\"settled\":1"),
                   e::malformed_value));
  CHECK(fails_with(edited("\"format\":2", "\"format\":1"), e::malformed_value));
  CHECK(
    fails_with(edited("\"rf\":2", "\"rf\":2,\"extra\":0"), e::malformed_value));
  CHECK(fails_with(edited("\"rf\":2,", ""), e::malformed_value));
  CHECK(fails_with(edited("\"rf\":2", "\"rf\":0"), e::malformed_value));
  CHECK(
    fails_with(edited("\"rf\":2", "\"rf\":99999999999"), e::malformed_value));
  CHECK(
    fails_with(edited("\"version\":7", "\"version\":0"), e::malformed_value));
  CHECK(
    fails_with(edited("\"version\":7", "\"version\":7.5"), e::malformed_value));
  CHECK(fails_with(edited("\"epoch\":3", "\"epoch\":0"), e::malformed_value));
  CHECK(fails_with(edited("\"epoch\":3", "\"epoch\":-3"), e::malformed_value));
  CHECK(fails_with(edited("\"leader\":\"a\"", "\"leader\":\"c\""),
                   e::malformed_value));
  CHECK(fails_with(edited("\"leader\":\"a\"", "\"leader\":null"),
                   e::malformed_value));
  CHECK(fails_with(edited("\"intent\":\"leave\"", "\"intent\":\"go\""),
                   e::malformed_value));
  // a voter twice, a learner equal to a voter, unsorted or unknown members
  CHECK(fails_with(edited("{\"incarnation\":\"b-1\",\"node\":\"b\"}",
                          "{\"incarnation\":\"a-2\",\"node\":\"a\"}"),
                   e::malformed_value));
  CHECK(fails_with(edited("{\"incarnation\":\"b-2\",\"node\":\"b\"}",
                          "{\"incarnation\":\"b-1\",\"node\":\"b\"}"),
                   e::malformed_value));
  CHECK(
    fails_with(edited("\"name\":\"a\"", "\"name\":\"d\""), e::malformed_value));
  CHECK(
    fails_with(edited("\"name\":\"c\"", "\"name\":\"z\""), e::malformed_value));
  CHECK(fails_with(edited("\"incarnation\":\"a-1\"", "\"incarnation\":7"),
                   e::malformed_value));
  CHECK(fails_with(edited("\"learners\":[]", "\"learners\":{}"),
                   e::malformed_value));
  auto no_partitions = sample_map();
  no_partitions.partitions.clear();
  CHECK(fails_with(encode(no_partitions), e::malformed_value));
  auto no_voters = sample_map();
  no_voters.partitions[1].replicas.clear();
  CHECK(fails_with(encode(no_voters), e::malformed_value));
  auto empty_inc = sample_map();
  empty_inc.partitions[1].replicas[1].incarnation.clear();
  CHECK(fails_with(encode(empty_inc), e::malformed_value));
}

TEST_CASE("control: member registrations round-trip and reject bad values",
          "[control][map]") {
  registration reg{"inc-1", "10.0.0.1:4000", member_intent::leave};
  auto back = decode_registration(encode(reg));
  REQUIRE(back);
  CHECK(*back == reg);
  CHECK(is(decode_registration("nope").error(), control_errc::malformed_value));
  CHECK(is(decode_registration("{\"format\":3}").error(),
           control_errc::unknown_format));
  CHECK(is(decode_registration("{\"format\":1,\"incarnation\":\"\","
                               "\"address\":\"x\",\"intent\":\"serve\"}")
             .error(),
           control_errc::malformed_value));
  CHECK(is(decode_registration("{\"format\":1,\"incarnation\":\"i\","
                               "\"address\":\"x\"}")
             .error(),
           control_errc::malformed_value));
  CHECK(describe(make_error(control_errc::conflict, "x"))
        == "control.conflict: x");
}
