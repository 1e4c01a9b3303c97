// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: how users send commands to aggregates.
#pragma once

#include "annals/aggregate.hpp"
#include "annals/command.hpp"
#include "annals/errc.hpp"
#include "annals/reply_deadlines.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <memory>
#include <string>
#include <utility>

namespace annals {

/// The reply type of command `C` on aggregate `A`: `ack` for a deciding
/// command, the query's result type otherwise.
template <class A, class C>
using reply_t = std::conditional_t<is_deciding_v<A, C>, ack,
                                   std::decay_t<query_result_t<A, C>>>;

/// A handle to all aggregates of type `A`, wherever they live.
///
/// From an actor, `request(self, id, cmd, timeout, on_reply, on_error)`;
/// the reply is `reply_t<A, C>` or a `caf::error` (a rejection of the
/// aggregate's category, or `annals::errc`). From plain code, `ask` blocks.
/// Sending `make(id, cmd)` to `actor()` with CAF's own `request` works too,
/// but a finite CAF request timeout costs a trip through CAF's clock thread,
/// which bounds throughput at tens of thousands of requests per second
/// (see reply_deadlines.hpp).
/// The handle stays the same when the cluster module routes commands to
/// other nodes: only the actor behind it changes.
///
/// Thread-safe (a value type holding an actor handle).
template <class A>
class aggregate_handle {
public:
  aggregate_handle() = default;
  aggregate_handle(caf::actor_system& sys, caf::actor entry,
                   caf::timespan default_timeout,
                   std::shared_ptr<reply_deadlines> deadlines = nullptr)
    : sys_(&sys), entry_(std::move(entry)), timeout_(default_timeout),
      deadlines_(std::move(deadlines)) {
  }

  /// The actor that accepts `command_envelope`s for `A`.
  const caf::actor& actor() const noexcept {
    return entry_;
  }

  /// Builds the envelope for command `cmd` to aggregate `id`.
  template <class C>
  command_envelope make(std::string id, C cmd,
                        const command_options& opts = {}) const {
    static_assert(tl_contains_v<C, typename A::commands>,
                  "annals: this type is not in the aggregate's `commands`");
    command_envelope env;
    env.category = std::string{A::category};
    env.id = std::move(id);
    env.command_id = opts.command_id;
    env.correlation_id = opts.correlation_id;
    env.causation_id = opts.causation_id;
    if (opts.expected) {
      using k = expected_revision::kind;
      switch (opts.expected->what()) {
      case k::any:
        env.expected_kind = 0;
        break;
      case k::no_stream:
        env.expected_kind = 1;
        break;
      case k::stream_exists:
        env.expected_kind = 2;
        break;
      case k::exactly:
        env.expected_kind = 3;
        env.expected_revision = opts.expected->value();
        break;
      }
    }
    env.command = caf::make_message(std::move(cmd));
    return env;
  }

  /// Sends `cmd` to aggregate `id` from actor `self` (an event-based actor,
  /// inside one of its handlers). Calls `on_reply(reply_t<A, C>&)` or
  /// `on_error(caf::error&)` once, in `self`'s context; no reply within
  /// `timeout` (plus at most the deadlines' tick) is `errc::outcome_unknown`
  /// for a deciding command (retry it with the same command id), else
  /// `caf::sec::request_timeout`.
  template <class Self, class C, class OnReply, class OnError>
  void request(Self* self, std::string id, C cmd, caf::timespan timeout,
               OnReply on_reply, OnError on_error,
               const command_options& opts = {}) const {
    using R = reply_t<A, C>;
    auto env = make(std::move(id), std::move(cmd), opts);
    auto fail = [on_error](caf::error& err) mutable {
      if (err == caf::sec::request_timeout && is_deciding_v<A, C>) {
        auto unknown
          = make_error(errc::outcome_unknown, "no reply within the timeout");
        on_error(unknown);
      } else {
        on_error(err);
      }
    };
    if (!deadlines_) {
      self->request(entry_, timeout, std::move(env))
        .then([on_reply](R& r) mutable { on_reply(r); }, std::move(fail));
      return;
    }
    auto h = self->request(entry_, caf::infinite, std::move(env));
    auto t = deadlines_->arm(caf::actor_cast<caf::strong_actor_ptr>(self),
                             h.id(), timeout);
    h.then(
      [d = deadlines_, t, on_reply](R& r) mutable {
        d->disarm(t);
        on_reply(r);
      },
      [d = deadlines_, t, fail](caf::error& err) mutable {
        d->disarm(t);
        fail(err);
      });
  }

  /// As above, with the handle's default timeout.
  template <class Self, class C, class OnReply, class OnError>
  void request(Self* self, std::string id, C cmd, OnReply on_reply,
               OnError on_error, const command_options& opts = {}) const {
    request(self, std::move(id), std::move(cmd), timeout_, std::move(on_reply),
            std::move(on_error), opts);
  }

  /// Sends `cmd` to aggregate `id` and waits for the reply (blocking; not
  /// for use inside an actor's handler). A timeout of a deciding command
  /// yields `errc::outcome_unknown`: retry with the same command id.
  template <class C>
  caf::expected<reply_t<A, C>> ask(std::string id, C cmd,
                                   const command_options& opts = {}) const {
    return ask_for(timeout_, std::move(id), std::move(cmd), opts);
  }

  template <class C>
  caf::expected<reply_t<A, C>> ask_for(caf::timespan timeout, std::string id,
                                       C cmd,
                                       const command_options& opts = {}) const {
    using R = reply_t<A, C>;
    caf::expected<R> out{caf::error{}};
    caf::scoped_actor self{*sys_};
    self->request(entry_, timeout, make(std::move(id), std::move(cmd), opts))
      .receive([&](R& r) { out = std::move(r); },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   out = make_error(errc::outcome_unknown,
                                    "no reply within the timeout");
                 else
                   out = std::move(err);
               });
    return out;
  }

private:
  caf::actor_system* sys_ = nullptr;
  caf::actor entry_;
  caf::timespan timeout_{std::chrono::seconds{10}};
  std::shared_ptr<reply_deadlines> deadlines_;
};

} // namespace annals
