// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: what `handle(command)` returns.
#pragma once

#include "annals/type_list.hpp"

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace annals {

/// The events a command produced, not yet bound to an aggregate type.
template <class... Es>
struct emitted {
  std::tuple<Es...> events;
};

/// A refusal: the domain said no. Carries a `caf::error` of the user's
/// error category, e.g. `account_errc::insufficient_funds`.
struct rejection {
  caf::error reason;
};

/// Emits zero or more events: `return annals::emit(money_deposited{500});`.
template <class... Es>
emitted<std::decay_t<Es>...> emit(Es&&... xs) {
  return {std::tuple<std::decay_t<Es>...>{std::forward<Es>(xs)...}};
}

/// Rejects a command with an error code of an enum that CAF can turn into a
/// `caf::error` (declared with `CAF_ERROR_CODE_ENUM(E, "category")`, or with
/// a `make_error(E)` overload found by ADL). `detail` is appended as context.
template <class E>
rejection reject(E code, std::string detail = {}) {
  if constexpr (caf::detail::error_factory<E>::specialized) {
    if (detail.empty())
      return {caf::make_error(code)};
    return {caf::make_error(code, std::move(detail))};
  } else {
    caf::error err = make_error(code);
    if (!detail.empty())
      err.context() = caf::make_message(std::move(detail));
    return {std::move(err)};
  }
}

/// The outcome of `A::handle(command)` for a deciding command: either the
/// events to persist (possibly none) or a rejection. Implicitly constructible
/// from `emit(...)` and `reject(...)`.
template <class A>
class decision {
public:
  using event_variant = tl_variant_t<typename A::events>;

  decision() = default;

  template <class... Es>
  decision(emitted<Es...> x) {
    static_assert((tl_contains_v<Es, typename A::events> && ...),
                  "annals: emit() got an event type that is not in the "
                  "aggregate's `events` list");
    events_.reserve(sizeof...(Es));
    std::apply(
      [this](auto&... e) { (events_.emplace_back(std::move(e)), ...); },
      x.events);
  }

  decision(rejection x) : rejection_(std::move(x.reason)) {
  }

  /// Appends one more event (for decisions built step by step).
  template <class E>
  void add(E event) {
    static_assert(tl_contains_v<E, typename A::events>,
                  "annals: add() got an event type that is not in the "
                  "aggregate's `events` list");
    events_.emplace_back(std::move(event));
  }

  bool rejected() const noexcept {
    return static_cast<bool>(rejection_);
  }
  const caf::error& reason() const noexcept {
    return rejection_;
  }
  const std::vector<event_variant>& events() const noexcept {
    return events_;
  }
  std::vector<event_variant>& events() noexcept {
    return events_;
  }

private:
  std::vector<event_variant> events_;
  caf::error rejection_;
};

} // namespace annals
