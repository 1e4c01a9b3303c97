// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: stable names and schema versions of events.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace annals {

/// An event type `E` declares its stable name and, optionally, its schema
/// version and the older version it upcasts from:
///
/// ~~~
/// struct money_deposited {
///   static constexpr std::string_view type_name = "bank.money_deposited";
///   static constexpr uint32_t schema_version = 2;      // default: 1
///   using upcast_from = money_deposited_v1;            // optional
///   static money_deposited upcast(money_deposited_v1 old);
///   int64_t cents = 0;
///   std::string memo;
/// };
/// ~~~
///
/// The journal stores `type_name` and `schema_version` with each event, never
/// a CAF type id. When a stored event has an older version, the runtime
/// decodes it as `upcast_from` (recursively) and calls `upcast`. Snapshot
/// state types use the same two members (`type_name` optional there).
template <class E>
concept named_type = requires {
  { E::type_name } -> std::convertible_to<std::string_view>;
};

template <class E>
constexpr uint32_t schema_version_of() noexcept {
  if constexpr (requires { E::schema_version; })
    return E::schema_version;
  else
    return 1;
}

template <class E>
concept upcastable = requires(typename E::upcast_from old) {
  { E::upcast(std::move(old)) } -> std::same_as<E>;
};

} // namespace annals
