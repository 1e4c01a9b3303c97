// shop -- a shopping cart aggregate, written against an installed annals
// (find_package(annals)) the way the README's first aggregate is written.
//
// A cart holds quantities per item; items are added until it is checked
// out, after which it takes no more. Checking out an empty cart, a quantity
// below 1 and adding to a checked-out cart are rejected.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/runtime_types.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace shop {

/// Why a cart refuses a command (error category "shop").
enum class cart_errc : uint8_t {
  non_positive_quantity = 1,
  checked_out,
  empty,
};

} // namespace shop

CAF_ERROR_CODE_ENUM(shop::cart_errc, "shop")

namespace shop {

// -- commands -----------------------------------------------------------------

struct add_item {
  std::string sku;
  int64_t quantity = 0;
};
struct check_out {};
struct count_items {}; ///< query: the number of pieces in the cart

// -- events -------------------------------------------------------------------

struct item_added {
  static constexpr std::string_view type_name = "shop.item_added";
  std::string sku;
  int64_t quantity = 0;
};
struct checked_out {
  static constexpr std::string_view type_name = "shop.checked_out";
  int64_t pieces = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, add_item& x) {
  return f(caf::meta::type_name("shop.add_item"), x.sku, x.quantity);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_out&) {
  return f(caf::meta::type_name("shop.check_out"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, count_items&) {
  return f(caf::meta::type_name("shop.count_items"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_added& x) {
  return f(caf::meta::type_name("shop.item_added"), x.sku, x.quantity);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checked_out& x) {
  return f(caf::meta::type_name("shop.checked_out"), x.pieces);
}

// -- the aggregate ------------------------------------------------------------

class cart {
public:
  static constexpr std::string_view category = "shop.cart";
  using commands = annals::type_list<add_item, check_out, count_items>;
  using events = annals::type_list<item_added, checked_out>;

  annals::decision<cart> handle(const add_item& c) const {
    if (c.quantity <= 0)
      return annals::reject(cart_errc::non_positive_quantity);
    if (checked_out_)
      return annals::reject(cart_errc::checked_out);
    return annals::emit(item_added{c.sku, c.quantity});
  }
  annals::decision<cart> handle(const check_out&) const {
    if (checked_out_)
      return annals::reject(cart_errc::checked_out);
    if (pieces_ == 0)
      return annals::reject(cart_errc::empty);
    return annals::emit(checked_out{pieces_});
  }
  int64_t handle(const count_items&) const {
    return pieces_;
  }

  void apply(const item_added& e) noexcept {
    items_[e.sku] += e.quantity;
    pieces_ += e.quantity;
  }
  void apply(const checked_out&) noexcept {
    checked_out_ = true;
  }

  /// For snapshots.
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, cart& x) {
    return f(caf::meta::type_name("shop.cart"), x.items_, x.pieces_,
             x.checked_out_);
  }

private:
  std::map<std::string, int64_t> items_;
  int64_t pieces_ = 0;
  bool checked_out_ = false;
};

} // namespace shop

// CAF type IDs (commands and events may cross nodes), after annals' block.
CAF_BEGIN_TYPE_ID_BLOCK(shop, caf::id_block::annals::end)
CAF_ADD_TYPE_ID(shop, (shop::add_item))
CAF_ADD_TYPE_ID(shop, (shop::check_out))
CAF_ADD_TYPE_ID(shop, (shop::count_items))
CAF_ADD_TYPE_ID(shop, (shop::item_added))
CAF_ADD_TYPE_ID(shop, (shop::checked_out))
CAF_END_TYPE_ID_BLOCK(shop)
