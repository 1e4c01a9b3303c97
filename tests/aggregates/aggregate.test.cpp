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

// -- the kit catches a field that a snapshot forgets --------------------------

namespace forgetful {

struct bump {};
struct get_count {};
struct get_revision {};
struct bumped {
  static constexpr std::string_view type_name = "forgetful.bumped";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bump&) {
  return f(caf::meta::type_name("forgetful.bump"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_count&) {
  return f(caf::meta::type_name("forgetful.get_count"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_revision&) {
  return f(caf::meta::type_name("forgetful.get_revision"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bumped&) {
  return f(caf::meta::type_name("forgetful.bumped"));
}

/// Counts its events itself; its snapshot leaves the count out when
/// `Forget`, exactly the bank account's old revision bug.
template <bool Forget>
class counter {
public:
  static constexpr std::string_view category = "forgetful.counter";
  using commands = annals::type_list<bump, get_count, get_revision>;
  using events = annals::type_list<bumped>;
  annals::decision<counter> handle(const bump&) const {
    return annals::emit(bumped{});
  }
  uint64_t handle(const get_count&) const {
    return count_;
  }
  /// The runtime's count, for comparison.
  uint64_t handle(const get_revision&,
                  const annals::command_context& ctx) const {
    return ctx.revision;
  }
  void apply(const bumped&) noexcept {
    ++count_;
    ++total_;
  }
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, counter& x) {
    if constexpr (Forget)
      return f(caf::meta::type_name("forgetful.counter"), x.total_);
    else
      return f(caf::meta::type_name("forgetful.counter"), x.total_, x.count_);
  }

private:
  uint64_t count_ = 0;
  uint64_t total_ = 0; ///< what the snapshot keeps either way
};

} // namespace forgetful

CAF_BEGIN_TYPE_ID_BLOCK(forgetful, caf::id_block::sample::end)
CAF_ADD_TYPE_ID(forgetful, (forgetful::bump))
CAF_ADD_TYPE_ID(forgetful, (forgetful::get_count))
CAF_ADD_TYPE_ID(forgetful, (forgetful::get_revision))
CAF_ADD_TYPE_ID(forgetful, (forgetful::bumped))
CAF_END_TYPE_ID_BLOCK(forgetful)

TEST_CASE("the kit catches a field that the snapshot forgets",
          "[aggregates][testkit]") {
  // The snapshot round trip itself is byte-stable (the forgotten field is
  // neither written nor read), so only a comparison from outside sees it.
  aggregate_fixture<forgetful::counter<false>> good;
  CHECK_NOTHROW(good.when(forgetful::bump{}));
  CHECK_NOTHROW(good.when(forgetful::bump{}));
  CHECK(good.query(forgetful::get_count{}) == 2);
  aggregate_fixture<forgetful::counter<true>> bad;
  try {
    bad.when(forgetful::bump{});
    FAIL("the kit did not notice the forgotten field");
  } catch (const std::logic_error& e) {
    std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("restoring a snapshot"));
    CHECK_THAT(what, Catch::Contains("forgetful::get_count"));
  }
}

TEST_CASE("a handle may take the runtime's revision as context",
          "[aggregates][testkit]") {
  static_assert(
    !annals::is_deciding_v<forgetful::counter<false>, forgetful::get_revision>);
  aggregate_fixture<forgetful::counter<false>> fx;
  CHECK(fx.query(forgetful::get_revision{}) == 0);
  fx.when(forgetful::bump{});
  fx.when(forgetful::bump{});
  fx.when(forgetful::bump{});
  CHECK(fx.query(forgetful::get_revision{}) == 3);
}
