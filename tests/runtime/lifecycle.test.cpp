// annals -- the runtime's lifecycle: a runtime stopped in a process starts
// again on the same directory in the same process; shutdown answers every
// caller and closes the journal before it returns.
#include "annals/render.hpp"
#include "annals/runtime.hpp"

#include "runtime_fixture.hpp"
#include "sample_account.hpp"
#include "temp_dir.hpp"

#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace annals;
using namespace sample;
using annals::testing::await;
using annals::testing::temp_dir;
using annals::testing::test_config;

namespace {

runtime_config lmdb_config(const temp_dir& dir) {
  runtime_config rc;
  rc.data_dir = dir.path();
  rc.journal.sync = durability::unsafe_no_sync;
  rc.journal.initial_map_bytes = 16 << 20;
  rc.journal.dedupe_window = 100000;
  rc.command_timeout = std::chrono::seconds{30};
  return rc;
}

/// The errors a command may get from a runtime that stops: never a timeout.
bool stopping_error(const caf::error& err) {
  return is(err, errc::unavailable)
         || (is(err, errc::outcome_unknown)
             && render(err).find("the runtime stopped") != std::string::npos)
         || err == caf::sec::request_receiver_down
         || err == caf::sec::invalid_argument;
}

/// A journal whose `scan_stream` of one stream blocks until released (an
/// aggregate stuck in its recovery, holding the only recovery permit).
class stalling_journal : public forwarding_journal {
public:
  stalling_journal(std::shared_ptr<journal> inner, stream_id stalled)
    : forwarding_journal(std::move(inner)), stalled_(std::move(stalled)) {
  }
  caf::error scan_stream(const stream_id& s, revision from,
                         const event_visitor& f) const override {
    if (s == stalled_ && !once_.exchange(true)) {
      entered.set_value();
      released.wait();
    }
    return forwarding_journal::scan_stream(s, from, f);
  }
  mutable std::promise<void> entered;
  std::shared_future<void> released;

private:
  stream_id stalled_;
  mutable std::atomic<bool> once_{false};
};

} // namespace

TEST_CASE("a runtime stopped with shutdown starts again on its directory, "
          "20 times",
          "[runtime][lifecycle]") {
  temp_dir dir;
  test_config conf;
  caf::actor_system sys{conf};
  auto rc = lmdb_config(dir);
  int64_t sum = 0;
  for (int cycle = 1; cycle <= 20; ++cycle) {
    INFO("cycle " << cycle);
    auto rt = runtime::start(sys, rc);
    REQUIRE(rt);
    auto accounts = (*rt)->host<account>();
    // The state of every earlier cycle was recovered.
    REQUIRE(accounts.ask("alice", get_balance{}).value() == sum);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(accounts.ask("alice", deposit{cycle, ""}));
      sum += cycle;
    }
    REQUIRE(accounts.ask("bob", deposit{1, ""}));
    (*rt)->shutdown();
    (*rt)->shutdown(); // idempotent
    // Stopped: commands fail at once, nothing is served from the journal.
    auto late = accounts.ask("alice", deposit{1, ""});
    REQUIRE_FALSE(late);
    CHECK(stopping_error(late.error()));
    CHECK_THROWS_AS((*rt)->store(), std::logic_error);
    CHECK(is((*rt)->parked("c").error(), errc::unavailable));
    // The journal is closed: the directory is free before the runtime dies.
  }
  auto rt = runtime::start(sys, rc);
  REQUIRE(rt);
  CHECK((*rt)->host<account>().ask("alice", get_balance{}).value() == sum);
  CHECK((*rt)->host<account>().ask("bob", get_balance{}).value() == 20);
}

TEST_CASE("a runtime destroyed without shutdown frees its directory",
          "[runtime][lifecycle]") {
  temp_dir dir;
  test_config conf;
  caf::actor_system sys{conf};
  auto rc = lmdb_config(dir);
  for (int cycle = 1; cycle <= 5; ++cycle) {
    INFO("cycle " << cycle);
    auto rt = runtime::start(sys, rc);
    REQUIRE(rt);
    auto accounts = (*rt)->host<account>();
    REQUIRE(accounts.ask("alice", get_balance{}).value() == cycle - 1);
    REQUIRE(accounts.ask("alice", deposit{1, ""}));
    // A subscription and a user's handle outlive nothing: neither keeps
    // the journal open.
    auto sub
      = (*rt)->subscribe(subscription_options{},
                         [](const recorded_event&) { return caf::error{}; });
    REQUIRE(sub.worker());
    rt->reset();
    CHECK(accounts.ask("alice", get_balance{}).error()
          == caf::sec::request_receiver_down);
  }
}

TEST_CASE("shutdown with commands in flight and a projection running: every "
          "caller gets an answer, every acknowledged event is there once",
          "[runtime][lifecycle]") {
  temp_dir dir;
  test_config conf;
  caf::actor_system sys{conf};
  auto rc = lmdb_config(dir);
  const std::string model = "lifecycle.counts";
  auto counter = [](const recorded_event& ev, model_writer& mw) {
    auto n = mw.get(ev.stream.id).value_or("0");
    mw.put(ev.stream.id, std::to_string(std::stoll(n) + 1));
    return caf::error{};
  };
  constexpr int clients = 4;
  struct outcome {
    std::vector<std::pair<std::string, ack>> acked;
    std::vector<std::string> unknown; ///< may or may not be in the journal
    std::vector<std::string> refused; ///< definite errors: not written
    caf::error last;
    std::chrono::steady_clock::duration slowest{};
  };
  std::vector<outcome> out(clients);
  {
    auto rt = runtime::start(sys, rc);
    REQUIRE(rt);
    (*rt)->project(model, subscription_filter::of_category("sample.account"),
                   counter);
    auto accounts = (*rt)->host<account>();
    std::atomic<int> acks{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&, c] {
        auto id = "acct" + std::to_string(c);
        for (int i = 0;; ++i) {
          auto cmd_id = id + "-" + std::to_string(i);
          command_options opts;
          opts.command_id = cmd_id;
          auto t0 = std::chrono::steady_clock::now();
          auto res = accounts.ask(id, deposit{1, cmd_id}, opts);
          auto took = std::chrono::steady_clock::now() - t0;
          out[c].slowest = std::max(out[c].slowest, took);
          if (res) {
            out[c].acked.emplace_back(cmd_id, *res);
            ++acks;
            continue;
          }
          out[c].last = res.error();
          if (is(res.error(), errc::outcome_unknown))
            out[c].unknown.push_back(cmd_id);
          else
            out[c].refused.push_back(cmd_id);
          return; // the runtime stopped
        }
      });
    REQUIRE(await([&] { return acks.load() >= 200; }));
    (*rt)->shutdown();
    for (auto& t : threads)
      t.join();
  }
  for (auto& o : out) {
    INFO("last error: " << render(o.last));
    CHECK(stopping_error(o.last));
    CHECK(o.slowest < std::chrono::seconds{10}); // nobody waited for a timeout
  }
  auto rt = runtime::start(sys, rc);
  REQUIRE(rt);
  auto& store = (*rt)->store();
  for (int c = 0; c < clients; ++c) {
    auto id = "acct" + std::to_string(c);
    stream_id s{"sample.account", id};
    auto events = store.read_stream(s, 1);
    REQUIRE(events);
    std::size_t found = 0;
    for (auto& [cmd_id, a] : out[c].acked) {
      auto f = store.find_command(s, cmd_id);
      REQUIRE(f);
      REQUIRE(*f);
      CHECK((*f)->last_revision == a.revision);
      ++found;
    }
    for (auto& cmd_id : out[c].unknown) {
      auto f = store.find_command(s, cmd_id);
      REQUIRE(f);
      found += *f ? 1 : 0;
    }
    for (auto& cmd_id : out[c].refused) {
      auto f = store.find_command(s, cmd_id);
      REQUIRE(f);
      CHECK_FALSE(*f);
    }
    // One event per command, none twice, none unaccounted for.
    CHECK(events->size() == found);
    CHECK((*rt)->host<account>().ask(id, get_balance{}).value()
          == static_cast<int64_t>(found));
  }
  // The projection resumes from its checkpoint: each event counted once.
  (*rt)->project(model, subscription_filter::of_category("sample.account"),
                 counter);
  for (int c = 0; c < clients; ++c) {
    auto id = "acct" + std::to_string(c);
    auto n = store.read_stream({"sample.account", id}, 1)->size();
    CHECK(await([&] {
      auto row = store.load_model(model, id);
      return row && *row && std::stoull(**row) == n;
    }));
  }
}

TEST_CASE("shutdown answers the commands waiting for a recovery with "
          "unavailable and lets the recovering aggregate finish",
          "[runtime][lifecycle]") {
  test_config conf;
  caf::actor_system sys{conf};
  auto mem = std::shared_ptr<journal>{make_memory_journal()};
  {
    // Both accounts exist before the stalling run.
    auto rt = runtime::start(sys, runtime_config{}, mem);
    REQUIRE(rt->host<account>().ask("alice", deposit{5, ""}));
    REQUIRE(rt->host<account>().ask("bob", deposit{7, ""}));
  }
  auto stalling = std::make_shared<stalling_journal>(
    mem, stream_id{"sample.account", "alice"});
  std::promise<void> release;
  stalling->released = release.get_future().share();
  auto entered = stalling->entered.get_future();
  runtime_config rc;
  rc.max_recoveries = 1;
  rc.command_timeout = std::chrono::seconds{30};
  auto rt = runtime::start(sys, rc, stalling);
  auto accounts = rt->host<account>();
  caf::scoped_actor self{sys};
  auto send = [&](const std::string& id) {
    return self->request(accounts.actor(), std::chrono::seconds{30},
                         accounts.make(id, deposit{1, ""}));
  };
  // Alice holds the only permit, stuck reading her stream.
  auto alice1 = send("alice");
  REQUIRE(entered.wait_for(std::chrono::seconds{10})
          == std::future_status::ready);
  // Bob's commands wait for a permit; Alice's next waits in her mailbox.
  auto bob1 = send("bob");
  auto bob2 = send("bob");
  auto alice2 = send("alice");
  auto stopped = std::async(std::launch::async, [&] { rt->shutdown(); });
  // Bob's waiting commands are answered while Alice is still stuck.
  for (auto* h : {&bob1, &bob2})
    h->receive([](ack&) { FAIL("bob's command ran"); },
               [](caf::error& err) {
                 INFO(render(err));
                 CHECK(is(err, errc::unavailable));
               });
  CHECK(stopped.wait_for(std::chrono::milliseconds{0})
        != std::future_status::ready);
  release.set_value();
  stopped.get();
  // Alice's commands had reached her before the exit: they ran.
  for (auto* h : {&alice1, &alice2})
    h->receive([](ack& a) { CHECK(a.events == 1); },
               [](caf::error& err) { FAIL(render(err)); });
  CHECK(mem->read_stream({"sample.account", "alice"}, 1)->size() == 3);
  CHECK(mem->read_stream({"sample.account", "bob"}, 1)->size() == 1);
}

TEST_CASE("a directory whose journal is still held elsewhere stays locked",
          "[runtime][lifecycle]") {
  temp_dir dir;
  test_config conf;
  caf::actor_system sys{conf};
  auto rc = lmdb_config(dir);
  auto j = open_lmdb_journal(rc.data_dir, rc.journal);
  REQUIRE(j);
  std::shared_ptr<journal> held{std::move(*j)};
  auto rt = runtime::start(sys, rc, held);
  REQUIRE(rt->host<account>().ask("alice", deposit{3, ""}));
  rt->shutdown();
  // The caller still holds the journal: a start fails at once.
  auto second = runtime::start(sys, rc);
  REQUIRE_FALSE(second);
  CHECK(is(second.error(), journal_errc::locked));
  held.reset();
  auto third = runtime::start(sys, rc);
  REQUIRE(third);
  CHECK((*third)->host<account>().ask("alice", get_balance{}).value() == 3);
}

TEST_CASE("shutdown called from an actor's handler does not wait for "
          "itself",
          "[runtime][lifecycle]") {
  temp_dir dir;
  test_config conf;
  caf::actor_system sys{conf};
  auto rc = lmdb_config(dir);
  auto rt = runtime::start(sys, rc);
  REQUIRE(rt);
  REQUIRE((*rt)->host<account>().ask("alice", deposit{4, ""}));
  auto* raw = rt->get();
  // A subscription handler is one of the runtime's own actors.
  std::atomic<bool> returned{false};
  auto sub = raw->subscribe(subscription_options{},
                            [raw, &returned](const recorded_event&) {
                              raw->shutdown();
                              returned = true;
                              return caf::error{};
                            });
  REQUIRE(sub.worker());
  REQUIRE(await([&] { return returned.load(); }));
  // The destructor, on this thread, waits for the stop begun there.
  rt->reset();
  auto again = runtime::start(sys, rc);
  REQUIRE(again);
  CHECK((*again)->host<account>().ask("alice", get_balance{}).value() == 4);
}
