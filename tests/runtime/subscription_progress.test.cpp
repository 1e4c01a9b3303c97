// annals -- tests of `runtime::subscriptions`: the lag of a subscription
// known to be behind and of one known to be caught up (events its filter
// skips included), and the parked events of a durable consumer.
#include "annals/runtime.hpp"
#include "annals/runtime_types.hpp"

#include "runtime_fixture.hpp"
#include "sample_account.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <optional>
#include <stdexcept>

using namespace annals;
using namespace sample;
using annals::testing::await;
using annals::testing::runtime_fixture;

namespace {

/// Holds the first batch unanswered until it gets `ok_atom`; from then on
/// it handles every batch at once.
struct gate_state {
  // Not an aggregate: CAF 0.17 would construct it from the actor pointer.
  gate_state() = default;
  bool open = false;
  std::optional<caf::response_promise> held;
  uint32_t held_size = 0;
};

caf::behavior gated_subscriber(caf::stateful_actor<gate_state>* self,
                               std::shared_ptr<std::atomic<uint64_t>> seen) {
  return {
    [=](event_batch& b) {
      auto n = static_cast<uint32_t>(b.events.size());
      auto rp = self->make_response_promise();
      if (self->state.open) {
        *seen += n;
        rp.deliver(batch_done{n, {}});
      } else {
        self->state.held = rp;
        self->state.held_size = n;
      }
      return rp;
    },
    [=](caf::ok_atom) {
      self->state.open = true;
      if (self->state.held) {
        *seen += self->state.held_size;
        self->state.held->deliver(batch_done{self->state.held_size, {}});
        self->state.held.reset();
      }
    },
  };
}

std::optional<subscription_progress> progress_of(runtime& rt,
                                                 const std::string& consumer) {
  auto all = rt.subscriptions();
  REQUIRE(all);
  for (auto& p : *all)
    if (p.consumer == consumer)
      return p;
  return std::nullopt;
}

/// Commits `n` events of another category through the writer (which wakes
/// the subscriptions, as any commit does).
void commit_other(runtime& rt, caf::actor_system& sys, int n) {
  write_batch b;
  for (int i = 0; i < n; ++i) {
    append_request req;
    req.stream = {"other.thing", "x" + std::to_string(i)};
    req.events.push_back({"other.happened", 1, 0, {}, {}, to_bytes("o")});
    b.appends.push_back(std::move(req));
  }
  caf::scoped_actor self{sys};
  bool ok = false;
  self->request(rt.writer(), std::chrono::seconds{10}, import_atom::value, b)
    .receive([&](batch_result&) { ok = true; }, [](caf::error&) {});
  REQUIRE(ok);
}

} // namespace

TEST_CASE("a subscription's lag is what it has not read: behind, then "
          "caught up, skipped events included",
          "[pubsub][progress]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto seen_caught = std::make_shared<std::atomic<uint64_t>>(0);
  subscription_options caught_opts;
  caught_opts.consumer = "caught-up";
  caught_opts.filter = subscription_filter::of_category("sample.account");
  auto caught = fx.rt->subscribe(caught_opts, [=](const recorded_event&) {
    ++*seen_caught;
    return caf::error{};
  });
  auto seen_gated = std::make_shared<std::atomic<uint64_t>>(0);
  auto gate = fx.sys.spawn(gated_subscriber, seen_gated);
  subscription_options gated_opts;
  gated_opts.consumer = "behind";
  auto behind = fx.rt->subscribe(gate, gated_opts);
  for (int i = 0; i < 10; ++i)
    REQUIRE(accounts.ask("acc-" + std::to_string(i % 3), deposit{1, ""}));
  commit_other(*fx.rt, fx.sys, 5);
  // Caught up: 0, although the last 5 events are of a category it skips.
  REQUIRE(await([&] { return seen_caught->load() == 10; }));
  REQUIRE(await([&] {
    auto p = progress_of(*fx.rt, "caught-up");
    return p && p->started && p->lag_events == 0;
  }));
  // Behind: its first batch is held, so all 15 events are ahead of it.
  REQUIRE(await([&] {
    auto p = progress_of(*fx.rt, "behind");
    return p && p->started && p->lag_events == 15;
  }));
  for (int i = 0; i < 5; ++i)
    REQUIRE(accounts.ask("acc-9", deposit{1, ""}));
  REQUIRE(
    await([&] { return progress_of(*fx.rt, "behind")->lag_events == 20; }));
  CHECK(progress_of(*fx.rt, "behind")->parked_events == 0);
  CHECK(seen_gated->load() == 0);
  // Released, it catches up.
  caf::anon_send(gate, caf::ok_atom::value);
  REQUIRE(await([&] { return seen_gated->load() == 20; }));
  REQUIRE(
    await([&] { return progress_of(*fx.rt, "behind")->lag_events == 0; }));
  REQUIRE(await([&] {
    return progress_of(*fx.rt, "caught-up")->lag_events == 0
           && seen_caught->load() == 15;
  }));
  // A cancelled subscription is no longer listed.
  caught.cancel();
  REQUIRE(await([&] { return !progress_of(*fx.rt, "caught-up"); }));
  caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
}

TEST_CASE("a durable consumer's progress counts its parked events, which "
          "no longer count as lag",
          "[pubsub][progress][poison]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  subscription_options opts;
  opts.consumer = "ledger";
  opts.max_attempts = 2;
  auto sub = fx.rt->subscribe(opts, [](const recorded_event& ev) {
    if (ev.stream.id == "bad" && ev.rev == 2)
      throw std::runtime_error("cannot handle bad/2"); // deterministic
    return caf::error{};
  });
  for (int i = 0; i < 4; ++i) {
    REQUIRE(accounts.ask("bad", deposit{1, ""}));
    REQUIRE(accounts.ask("good", deposit{1, ""}));
  }
  // bad/2 .. bad/4 are parked; the rest is handled.
  REQUIRE(await([&] {
    auto p = progress_of(*fx.rt, "ledger");
    return p && p->parked_events == 3 && p->lag_events == 0;
  }));
  CHECK(fx.rt->parked("ledger")->size() == 3);
  // A volatile subscription is listed without a consumer name.
  auto vol
    = fx.rt->subscribe({}, [](const recorded_event&) { return caf::error{}; });
  REQUIRE(await([&] {
    auto all = fx.rt->subscriptions();
    for (auto& p : *all)
      if (p.id == vol.id())
        return p.consumer.empty() && p.started && p.lag_events == 0;
    return false;
  }));
}
