// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: compile-time lists of types.
#pragma once

#include <cstddef>
#include <type_traits>
#include <variant>

namespace annals {

/// A list of types, e.g. an aggregate's commands or events.
template <class... Ts>
struct type_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

namespace detail {

template <class T, class List>
struct tl_contains;

template <class T, class... Ts>
struct tl_contains<T, type_list<Ts...>>
  : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};

template <class List>
struct tl_variant;

template <class... Ts>
struct tl_variant<type_list<Ts...>> {
  using type = std::variant<Ts...>;
};

template <class List>
struct tl_unique;

template <>
struct tl_unique<type_list<>> : std::true_type {};

template <class T, class... Ts>
struct tl_unique<type_list<T, Ts...>>
  : std::bool_constant<!(std::is_same_v<T, Ts> || ...)
                       && tl_unique<type_list<Ts...>>::value> {};

} // namespace detail

/// True if `T` is one of the types in `List`.
template <class T, class List>
inline constexpr bool tl_contains_v = detail::tl_contains<T, List>::value;

/// `std::variant<Ts...>` for `type_list<Ts...>`.
template <class List>
using tl_variant_t = typename detail::tl_variant<List>::type;

/// True if no type occurs twice in `List`.
template <class List>
inline constexpr bool tl_unique_v = detail::tl_unique<List>::value;

} // namespace annals
