// annals -- tests of the aggregate programming model and its test kit.
#include "annals/codec.hpp"
#include "annals/testkit.hpp"

#include "sample_account.hpp"

#include <catch2/catch.hpp>

using namespace sample;
using annals::testing::aggregate_fixture;

static_assert(annals::check_aggregate<account>());
static_assert(annals::is_deciding_v<account, deposit>);
static_assert(!annals::is_deciding_v<account, get_balance>);

TEST_CASE("given events, when a command, then events",
          "[aggregates][testkit]") {
  aggregate_fixture<account> fx;
  fx.given(opened{"alice"}, deposited{100, "pay"});
  auto out = fx.when(withdraw{30});
  REQUIRE_FALSE(out.rejected());
  REQUIRE(out.events().size() == 1);
  REQUIRE(out.event<withdrawn>() != nullptr);
  CHECK(out.event<withdrawn>()->cents == 30);
  CHECK(fx.query(get_balance{}) == 70);
  CHECK(fx.history().size() == 3);
}

TEST_CASE("a rejection carries the aggregate's error code",
          "[aggregates][testkit]") {
  aggregate_fixture<account> fx;
  fx.given(opened{"alice"}, deposited{100, ""});
  auto out = fx.when(withdraw{150});
  CHECK(out.rejected_with(account_errc::insufficient_funds));
  CHECK_FALSE(out.rejected_with(account_errc::not_open));
  CHECK(out.events().empty());
  CHECK(fx.query(get_balance{}) == 100);
  CHECK(
    fx.when(deposit{-5, ""}).rejected_with(account_errc::non_positive_amount));
  CHECK(fx.when(open{"bob"}).rejected_with(account_errc::already_open));
}

TEST_CASE("a command may decide to emit nothing", "[aggregates][testkit]") {
  aggregate_fixture<account> fx;
  auto out = fx.when(touch{});
  CHECK_FALSE(out.rejected());
  CHECK(out.events().empty());
}

TEST_CASE("events round-trip by stable name and version",
          "[aggregates][codec]") {
  using variant = annals::tl_variant_t<account::events>;
  variant ev = deposited{42, "memo"};
  auto bytes = annals::encode_event(ev);
  CHECK(annals::event_type_name(ev) == "sample.deposited");
  CHECK(annals::event_schema_version(ev) == 2);
  variant back;
  REQUIRE_FALSE(annals::decode_event<account::events>(
    "sample.deposited", 2, bytes.data(), bytes.size(), back));
  REQUIRE(std::holds_alternative<deposited>(back));
  CHECK(std::get<deposited>(back).memo == "memo");
}

TEST_CASE("an old event version is upcast on read", "[aggregates][codec]") {
  auto old = annals::encode(deposited_v1{77});
  annals::tl_variant_t<account::events> ev;
  REQUIRE_FALSE(annals::decode_event<account::events>(
    "sample.deposited", 1, old.data(), old.size(), ev));
  REQUIRE(std::holds_alternative<deposited>(ev));
  CHECK(std::get<deposited>(ev).cents == 77);
  CHECK(std::get<deposited>(ev).memo == "(before memos)");
}

TEST_CASE("unknown types, versions and bad bytes are clear errors",
          "[aggregates][codec]") {
  annals::tl_variant_t<account::events> ev;
  auto bytes = annals::encode(withdrawn{5});
  auto err = annals::decode_event<account::events>(
    "sample.nope", 1, bytes.data(), bytes.size(), ev);
  CHECK(annals::is(err, annals::errc::unknown_event_type));
  err = annals::decode_event<account::events>("sample.deposited", 7,
                                              bytes.data(), bytes.size(), ev);
  CHECK(annals::is(err, annals::errc::unknown_schema_version));
  err = annals::decode_event<account::events>("sample.withdrawn", 1,
                                              bytes.data(), 3, ev);
  CHECK(annals::is(err, annals::errc::malformed_payload));
  bytes.push_back(std::byte{1});
  err = annals::decode_event<account::events>("sample.withdrawn", 1,
                                              bytes.data(), bytes.size(), ev);
  CHECK(annals::is(err, annals::errc::malformed_payload));
  // A string length claiming more bytes than there are.
  std::vector<std::byte> bomb(16, std::byte{0xff});
  err = annals::decode_event<account::events>("sample.opened", 1, bomb.data(),
                                              bomb.size(), ev);
  CHECK(annals::is(err, annals::errc::malformed_payload));
}

TEST_CASE("the state survives a snapshot round trip", "[aggregates][codec]") {
  aggregate_fixture<account> fx;
  fx.given(opened{"zoe"}, deposited{10, "a"}, noted{"x", 1});
  auto bytes = annals::encode(fx.state());
  account back;
  REQUIRE_FALSE(annals::decode(bytes.data(), bytes.size(), back, "state"));
  CHECK(back.balance() == 10);
  CHECK(back.notes() == 1);
  CHECK(back.owner() == "zoe");
}
