// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: what a user's aggregate class must offer,
// checked at compile time with messages written for users.
//
// An aggregate `A` is a value type:
//
// ~~~
// class account {
// public:
//   static constexpr std::string_view category = "bank.account";
//   using commands = annals::type_list<open, deposit, withdraw, get_balance>;
//   using events = annals::type_list<opened, deposited, withdrawn>;
//
//   annals::decision<account> handle(const deposit&) const;  // decides
//   int64_t handle(const get_balance&) const;                // query
//   view handle(const get_view&,                             // query that
//               const annals::command_context&) const;       // sees revision
//   void apply(const deposited&) noexcept;                   // evolves
//
//   template <class Inspector>                  // optional: snapshots
//   friend typename Inspector::result_type inspect(Inspector&, account&);
// };
// ~~~
//
// `handle` is const and pure (no I/O, clock or randomness: time and ids come
// in the command). A deciding `handle` returns `decision<A>`: events or a
// rejection. Any other return type makes the command a read-only query that
// replies with that value and writes nothing. `apply` is noexcept and the
// only code that changes state. Commands and events are plain types with an
// `inspect` overload; events also carry `type_name` (see event_type.hpp).
//
// Any `handle` may take a second parameter `const command_context&`: what the
// runtime knows about the state being handled (its stream revision). The
// runtime keeps that count, so an aggregate never counts its own events (a
// hand-kept counter is one more field that a snapshot can forget).
#pragma once

#include "annals/decision.hpp"
#include "annals/event_type.hpp"
#include "annals/type_list.hpp"

#include <caf/detail/type_traits.hpp>
#include <caf/serializer.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace annals {

/// What the runtime tells a `handle` about the state it runs against.
struct command_context {
  /// The stream revision the state reflects: the number of events applied
  /// (including events of earlier commands still being committed; a reply
  /// is released only after those commits succeeded). 0: no events yet.
  uint64_t revision = 0;
};

namespace detail {

template <class A, class C>
concept has_context_handle
  = requires(const A& a, const C& c, const command_context& ctx) {
  a.handle(c, ctx);
};

template <class A, class C>
concept has_handle = requires(const A& a, const C& c) {
  a.handle(c);
}
|| has_context_handle<A, C>;

template <class A, class E>
concept has_apply = requires(A& a, const E& e) {
  a.apply(e);
};

template <class A, class E>
concept has_noexcept_apply = requires(A& a, const E& e) {
  { a.apply(e) }
  noexcept;
};

template <class T>
inline constexpr bool inspectable_v
  = caf::detail::is_inspectable<caf::serializer, T>::value;

template <class A, class C>
constexpr bool check_command() {
  static_assert(has_handle<A, C>,
                "annals: a type in the aggregate's `commands` list has no "
                "`handle(const Command&) const` member function (nor "
                "`handle(const Command&, const annals::command_context&) "
                "const`; check the `const` and the parameter type; see the "
                "instantiation below for which command)");
  static_assert(inspectable_v<C>,
                "annals: every command needs an `inspect(Inspector&, "
                "Command&)` overload listing its fields");
  static_assert(caf::has_type_id<C>::value,
                "annals: every command needs a CAF type ID (add it with "
                "CAF_ADD_TYPE_ID to your CAF_BEGIN_TYPE_ID_BLOCK, starting at "
                "caf::id_block::annals::end) so that it can cross nodes");
  return true;
}

template <class A, class E>
constexpr bool check_event() {
  static_assert(has_apply<A, E>,
                "annals: a type in the aggregate's `events` list has no "
                "`apply(const Event&) noexcept` member function (see the "
                "instantiation below for which event)");
  static_assert(has_noexcept_apply<A, E>,
                "annals: `apply(const Event&)` must be `noexcept`: applying "
                "a persisted event cannot fail");
  static_assert(named_type<E>,
                "annals: every event needs `static constexpr "
                "std::string_view type_name = \"...\";` -- the stable name "
                "stored in the journal");
  static_assert(inspectable_v<E>,
                "annals: every event needs an `inspect(Inspector&, Event&)` "
                "overload listing its fields");
  static_assert(caf::has_type_id<E>::value,
                "annals: every event needs a CAF type ID (add it with "
                "CAF_ADD_TYPE_ID to your CAF_BEGIN_TYPE_ID_BLOCK, starting at "
                "caf::id_block::annals::end) so that it can cross nodes");
  return true;
}

template <class A, class List>
struct check_commands;

template <class A, class... Cs>
struct check_commands<A, type_list<Cs...>> {
  static constexpr bool value = (check_command<A, Cs>() && ...);
};

template <class A, class List>
struct check_events;

template <class A, class... Es>
struct check_events<A, type_list<Es...>> {
  static constexpr bool value = (check_event<A, Es>() && ...);
};

template <class A>
concept has_category = requires {
  { A::category } -> std::convertible_to<std::string_view>;
};

template <class A>
concept has_lists = requires {
  typename A::commands;
  typename A::events;
};

} // namespace detail

/// Calls `a.handle(cmd, ctx)` if `A` takes the context for `C`, else
/// `a.handle(cmd)`.
template <class A, class C>
decltype(auto) invoke_handle(const A& a, const C& cmd,
                             const command_context& ctx) {
  if constexpr (detail::has_context_handle<A, C>)
    return a.handle(cmd, ctx);
  else
    return a.handle(cmd);
}

/// The reply type of `handle(C)` on aggregate `A`.
template <class A, class C>
using query_result_t = std::decay_t<decltype(invoke_handle(
  std::declval<const A&>(), std::declval<const C&>(),
  std::declval<const command_context&>()))>;

/// True if `handle(C)` of aggregate `A` decides (returns `decision<A>`);
/// false if it is a read-only query.
template <class A, class C>
inline constexpr bool is_deciding_v
  = std::is_same_v<query_result_t<A, C>, decision<A>>;

/// True if `A`'s state can be snapshotted (it has `inspect`).
template <class A>
inline constexpr bool snapshottable_v = detail::inspectable_v<A>;

/// Checks `A` against the aggregate contract; each violation is a
/// `static_assert` with a message for users. Use as
/// `static_assert(annals::check_aggregate<A>())`; the runtime does.
template <class A>
constexpr bool check_aggregate() {
  static_assert(detail::has_category<A>,
                "annals: the aggregate needs `static constexpr "
                "std::string_view category = \"...\";` -- the stable stream "
                "category of its instances");
  static_assert(detail::has_lists<A>,
                "annals: the aggregate needs `using commands = "
                "annals::type_list<...>;` and `using events = "
                "annals::type_list<...>;`");
  static_assert(std::is_default_constructible_v<A>,
                "annals: the aggregate must be default-constructible (its "
                "state before the first event)");
  if constexpr (detail::has_lists<A>) {
    static_assert(tl_unique_v<typename A::commands>,
                  "annals: a type occurs twice in `commands`");
    static_assert(tl_unique_v<typename A::events>,
                  "annals: a type occurs twice in `events`");
    static_assert(A::events::size > 0,
                  "annals: an aggregate needs at least one event type");
    return detail::check_commands<A, typename A::commands>::value
           && detail::check_events<A, typename A::events>::value;
  }
  return false;
}

/// Applies a decoded event (a variant of `A::events`) to `a`.
template <class A>
void apply_event(A& a, const tl_variant_t<typename A::events>& ev) noexcept {
  std::visit([&a](const auto& e) { a.apply(e); }, ev);
}

} // namespace annals
