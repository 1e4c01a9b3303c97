// shop -- the cart's rules, given/when/then with annals' test kit (no actor
// system, no journal).
#define CATCH_CONFIG_MAIN
#include "annals/testkit.hpp"

#include "shop/cart.hpp"

#include <catch2/catch.hpp>

using annals::testing::aggregate_fixture;
using namespace shop;

TEST_CASE("items add up until the cart is checked out", "[cart]") {
  aggregate_fixture<cart> fx;
  fx.given(item_added{"apple", 2}, item_added{"pear", 1});
  auto out = fx.when(add_item{"apple", 3});
  REQUIRE_FALSE(out.rejected());
  REQUIRE(out.event<item_added>() != nullptr);
  CHECK(out.event<item_added>()->quantity == 3);
  CHECK(fx.query(count_items{}) == 6);
  auto done = fx.when(check_out{});
  REQUIRE(done.event<checked_out>() != nullptr);
  CHECK(done.event<checked_out>()->pieces == 6);
}

TEST_CASE("the cart refuses what its rules forbid", "[cart]") {
  aggregate_fixture<cart> fx;
  CHECK(fx.when(check_out{}).rejected_with(cart_errc::empty));
  CHECK(fx.when(add_item{"apple", 0})
          .rejected_with(cart_errc::non_positive_quantity));
  fx.given(item_added{"apple", 1}, checked_out{1});
  CHECK(fx.when(add_item{"apple", 1}).rejected_with(cart_errc::checked_out));
  CHECK(fx.when(check_out{}).rejected_with(cart_errc::checked_out));
  CHECK(fx.query(count_items{}) == 1);
}
