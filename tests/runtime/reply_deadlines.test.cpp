// annals -- event-sourced aggregates on the C++ Actor Framework.
// reply_deadlines: coarse request timeouts outside CAF's clock thread.
#include "annals/reply_deadlines.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct silent_state {
  std::vector<caf::response_promise> held;
};

/// Answers an int request only when told "release" (then acks that).
// (A dummy argument each: CAF 0.17 spawns an actor function without
// arguments through a null empty tuple, which UBSan reports.)
caf::behavior silent(caf::stateful_actor<silent_state>* self, int) {
  return {
    [=](int) -> caf::result<int> {
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<int>{};
    },
    [=](const std::string&) {
      for (auto& p : self->state.held)
        p.deliver(42);
      self->state.held.clear();
      return std::string{"released"};
    },
  };
}

caf::behavior echo(caf::event_based_actor*, int) {
  return {[](int x) { return x; }};
}

/// Asks `target` (an int request, `ms` timeout on `d`) when sent (target,
/// ms), and reports "reply", "timeout <elapsed ms>" or "error" to `test`;
/// anything unexpected reaches `test` as "unexpected".
caf::behavior requester(caf::event_based_actor* self,
                        std::shared_ptr<annals::reply_deadlines> d,
                        caf::actor test) {
  self->set_default_handler(
    [self, test](caf::scheduled_actor*,
                 caf::message_view&) -> caf::result<caf::message> {
      self->send(test, std::string{"unexpected"});
      return caf::sec::unexpected_message;
    });
  return {
    [=](caf::actor target, int ms) {
      auto t0 = clock_type::now();
      auto h = self->request(target, caf::infinite, 1);
      auto t = d->arm(caf::actor_cast<caf::strong_actor_ptr>(self), h.id(),
                      std::chrono::milliseconds{ms});
      h.then(
        [=](int) {
          d->disarm(t);
          self->send(test, std::string{"reply"});
        },
        [=](caf::error& err) {
          d->disarm(t);
          if (err == caf::sec::request_timeout) {
            auto ms_taken
              = std::chrono::duration_cast<std::chrono::milliseconds>(
                  clock_type::now() - t0)
                  .count();
            self->send(test, "timeout " + std::to_string(ms_taken));
          } else {
            self->send(test, std::string{"error"});
          }
        });
    },
  };
}

std::string next(caf::scoped_actor& self) {
  std::string out = "nothing within 10 s";
  self->receive([&](const std::string& s) { out = s; },
                caf::after(std::chrono::seconds{10}) >> [] {});
  return out;
}

long elapsed_of(const std::string& report) {
  return std::stol(report.substr(report.find(' ') + 1));
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<annals::reply_deadlines> d
    = std::make_shared<annals::reply_deadlines>(5ms);
  caf::actor quiet = sys.spawn(silent, 0);
  caf::actor fast = sys.spawn(echo, 0);
  caf::actor asker = sys.spawn(requester, d, caf::actor{self});

  ~fixture() {
    for (const auto& a : {quiet, fast, asker})
      self->send_exit(a, caf::exit_reason::user_shutdown);
  }
};

} // namespace

TEST_CASE("a request without a reply fails with request_timeout after its "
          "timeout",
          "[runtime][deadlines]") {
  fixture f;
  f.self->send(f.asker, f.quiet, 50);
  auto r = next(f.self);
  REQUIRE(r.rfind("timeout ", 0) == 0);
  CHECK(elapsed_of(r) >= 50);
  CHECK(f.d->armed() == 0);
}

TEST_CASE("a reply before the deadline disarms it", "[runtime][deadlines]") {
  fixture f;
  f.self->send(f.asker, f.fast, 20);
  CHECK(next(f.self) == "reply");
  CHECK(f.d->armed() == 0);
  // A later request times out on its own; nothing else arrives meanwhile.
  f.self->send(f.asker, f.quiet, 100);
  auto r = next(f.self);
  REQUIRE(r.rfind("timeout ", 0) == 0);
  CHECK(elapsed_of(r) >= 100);
}

TEST_CASE("a reply after the timeout is dropped, and the requester goes on",
          "[runtime][deadlines]") {
  fixture f;
  f.self->send(f.asker, f.quiet, 30);
  auto r = next(f.self);
  REQUIRE(r.rfind("timeout ", 0) == 0);
  // The late reply is in the requester's mailbox before our next message.
  std::string released;
  f.self->request(f.quiet, std::chrono::seconds{10}, std::string{"release"})
    .receive([&](const std::string& s) { released = s; }, [](caf::error&) {});
  REQUIRE(released == "released");
  f.self->send(f.asker, f.fast, 1000);
  CHECK(next(f.self) == "reply"); // not "unexpected"
}

TEST_CASE("many deadlines: each fires once, the disarmed ones never",
          "[runtime][deadlines]") {
  fixture f;
  for (int i = 0; i < 50; ++i) {
    f.self->send(f.asker, f.quiet, 20 + i % 7);
    f.self->send(f.asker, f.fast, 20 + i % 7);
  }
  int timeouts = 0, replies = 0, other = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = next(f.self);
    if (r.rfind("timeout ", 0) == 0)
      ++timeouts;
    else if (r == "reply")
      ++replies;
    else
      ++other;
  }
  CHECK(timeouts == 50);
  CHECK(replies == 50);
  CHECK(other == 0);
  CHECK(f.d->armed() == 0);
}

TEST_CASE("stopping fails what is armed at once, and what is armed later",
          "[runtime][deadlines]") {
  fixture f;
  f.self->send(f.asker, f.quiet, 600'000);
  // Armed once the requester ran: await it.
  auto limit = clock_type::now() + 10s;
  while (f.d->armed() == 0 && clock_type::now() < limit)
    std::this_thread::yield();
  REQUIRE(f.d->armed() == 1);
  f.d->stop();
  auto r = next(f.self);
  REQUIRE(r.rfind("timeout ", 0) == 0);
  CHECK(elapsed_of(r) < 600'000);
  f.self->send(f.asker, f.quiet, 600'000);
  r = next(f.self);
  REQUIRE(r.rfind("timeout ", 0) == 0);
  CHECK(elapsed_of(r) < 600'000);
  f.d->stop(); // idempotent
}
