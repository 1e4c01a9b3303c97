// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the aggregates module: a given/when/then kit for testing
// aggregates without an actor system or a journal.
//
// ~~~
// annals::testing::aggregate_fixture<bank::account> fx;
// fx.given(bank::account_opened{"alice", 0}, bank::money_deposited{100});
// auto out = fx.when(bank::withdraw{150});
// CHECK(out.rejected_with(bank::account_errc::insufficient_funds));
// CHECK(fx.query(bank::get_balance{}) == 100);
// ~~~
//
// Every event passing through the fixture is checked to survive encoding
// and decoding by its stable name (the journal's path), and `when` checks
// that replaying the whole history into a fresh aggregate -- and, if the
// aggregate is snapshottable, restoring a snapshot -- yields the same state.
// "The same" is judged from outside the snapshot's own `inspect` (which
// cannot see a field it forgets): by the aggregate's `operator==` if it has
// one, and by the answer of every query whose command is
// default-constructible, asked of both states. A failed check throws
// std::logic_error naming what differs.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/codec.hpp"

#include <caf/type_id.hpp>

#include <concepts>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace annals::testing {

template <class A>
class aggregate_fixture {
public:
  static_assert(check_aggregate<A>());

  using event_variant = tl_variant_t<typename A::events>;

  /// The outcome of one command.
  class outcome {
  public:
    explicit outcome(decision<A> d) : d_(std::move(d)) {
    }
    bool rejected() const noexcept {
      return d_.rejected();
    }
    /// True if the command was rejected with `code` (any enum usable with
    /// `annals::reject`).
    template <class E>
    bool rejected_with(E code) const {
      return d_.rejected() && d_.reason() == reject(code).reason;
    }
    const caf::error& reason() const noexcept {
      return d_.reason();
    }
    const std::vector<event_variant>& events() const noexcept {
      return d_.events();
    }
    /// The `i`-th event if it has type `E`, else nullptr.
    template <class E>
    const E* event(std::size_t i = 0) const {
      if (i >= d_.events().size())
        return nullptr;
      return std::get_if<E>(&d_.events()[i]);
    }

  private:
    decision<A> d_;
  };

  /// Applies past events (each one round-tripped through the codec first).
  template <class... Es>
  aggregate_fixture& given(Es... events) {
    (record(event_variant{std::move(events)}), ...);
    return *this;
  }

  /// Handles a deciding command against the current state and applies the
  /// resulting events, as the runtime would after a successful commit.
  template <class C>
  outcome when(const C& cmd) {
    static_assert(tl_contains_v<C, typename A::commands>,
                  "annals: when() got a type that is not in `commands`");
    static_assert(is_deciding_v<A, C>,
                  "annals: when() is for deciding commands; use query()");
    outcome out{invoke_handle(state_, cmd, context())};
    if (!out.rejected())
      for (const auto& ev : out.events())
        record(ev);
    check_replay();
    return out;
  }

  /// Answers a read-only query against the current state.
  template <class C>
  query_result_t<A, C> query(const C& q) const {
    static_assert(!is_deciding_v<A, C>,
                  "annals: query() is for read-only commands; use when()");
    return invoke_handle(state_, q, context());
  }

  const A& state() const noexcept {
    return state_;
  }

  const std::vector<event_variant>& history() const noexcept {
    return history_;
  }

private:
  void record(const event_variant& ev) {
    auto bytes = encode_event(ev);
    event_variant back;
    auto name = event_type_name(ev);
    if (auto err = decode_event<typename A::events>(
          name, event_schema_version(ev), bytes.data(), bytes.size(), back))
      throw std::logic_error("annals testkit: event " + std::string{name}
                             + " does not decode: " + caf::to_string(err));
    if (encode_event(back) != bytes)
      throw std::logic_error("annals testkit: event " + std::string{name}
                             + " changes in an encode/decode round trip "
                               "(does inspect() list every field?)");
    apply_event(state_, back);
    history_.push_back(std::move(back));
  }

  command_context context() const noexcept {
    return command_context{history_.size()};
  }

  void check_replay() const {
    A replayed;
    for (const auto& ev : history_)
      apply_event(replayed, ev);
    check_same(state_, replayed, "replaying the history",
               "handling the commands");
    if constexpr (snapshottable_v<A>) {
      auto now = encode(replayed);
      if (encode(state_) != now)
        throw std::logic_error("annals testkit: replaying the history gives "
                               "another state than handling the commands");
      A restored;
      if (auto err = decode(now.data(), now.size(), restored, "snapshot"))
        throw std::logic_error("annals testkit: state does not decode: "
                               + caf::to_string(err));
      if (encode(restored) != now)
        throw std::logic_error("annals testkit: state changes in a snapshot "
                               "round trip (does inspect() list every "
                               "field?)");
      check_same(restored, replayed, "restoring a snapshot",
                 "replaying the history (does inspect() list every field?)");
    }
  }

  /// Compares two states from outside: operator== and every query.
  void check_same(const A& x, const A& y, const char* what,
                  const char* than) const {
    if constexpr (std::equality_comparable<A>)
      if (!(x == y))
        throw std::logic_error(std::string{"annals testkit: "} + what
                               + " gives another state (operator==) than "
                               + than);
    check_queries(x, y, what, than, typename A::commands{});
  }

  template <class... Cs>
  void check_queries(const A& x, const A& y, const char* what, const char* than,
                     type_list<Cs...>) const {
    (check_query<Cs>(x, y, what, than), ...);
  }

  template <class C>
  void check_query(const A& x, const A& y, const char* what,
                   const char* than) const {
    if constexpr (!is_deciding_v<A, C> && std::is_default_constructible_v<C>) {
      using R = query_result_t<A, C>;
      std::optional<R> rx, ry;
      try {
        rx.emplace(invoke_handle(x, C{}, context()));
        ry.emplace(invoke_handle(y, C{}, context()));
      } catch (...) {
        return; // a query that needs arguments: nothing to compare
      }
      bool same = true;
      if constexpr (std::equality_comparable<R>)
        same = *rx == *ry;
      else if constexpr (detail::inspectable_v<R>)
        same = encode(*rx) == encode(*ry);
      if (!same)
        throw std::logic_error(std::string{"annals testkit: "} + what
                               + " answers query " + caf::type_name<C>::value
                               + " differently than " + than);
    }
  }

  A state_;
  std::vector<event_variant> history_;
};

} // namespace annals::testing
