// annals -- tests of subscriptions: publish from the journal, catch-up to
// live without gap or duplicate, filters, durable consumers, slow
// consumers, poison events, projections.
#include "annals/runtime.hpp"

#include "runtime_fixture.hpp"
#include "sample_account.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace annals;
using namespace sample;
using annals::testing::await;
using annals::testing::runtime_fixture;

namespace {

/// Collects delivered events and checks them like a history checker: per
/// stream, revisions must arrive as 1, 2, 3, ... (no gap, no duplicate, no
/// reordering); per partition, positions strictly increase.
struct collector {
  std::mutex mtx;
  std::map<std::string, revision> last_rev;
  std::map<partition_id, position> last_pos;
  std::vector<recorded_event> events;
  std::vector<std::string> anomalies;

  caf::error operator()(const recorded_event& ev) {
    std::lock_guard guard{mtx};
    auto key = to_string(ev.stream);
    auto& r = last_rev[key];
    if (ev.rev != r + 1)
      anomalies.push_back(key + ": revision " + std::to_string(ev.rev)
                          + " after " + std::to_string(r));
    r = ev.rev;
    auto& p = last_pos[ev.partition];
    if (ev.pos <= p)
      anomalies.push_back("partition " + std::to_string(ev.partition)
                          + ": position " + std::to_string(ev.pos) + " after "
                          + std::to_string(p));
    p = ev.pos;
    events.push_back(ev);
    return {};
  }
  std::size_t size() {
    std::lock_guard guard{mtx};
    return events.size();
  }
};

event_handler handler_of(std::shared_ptr<collector> c) {
  return [c](const recorded_event& ev) { return (*c)(ev); };
}

/// Sends `n` deposits to each of `ids` from `threads` threads.
void load(aggregate_handle<account> h, int threads, int n, int ids,
          const std::string& prefix = "acc-") {
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([=] {
      for (int i = 0; i < n; ++i)
        for (int k = t; k < ids; k += threads)
          REQUIRE(h.ask(prefix + std::to_string(k), deposit{1, ""}));
    });
  for (auto& t : ts)
    t.join();
}

} // namespace

TEST_CASE("subscribers get committed events live, in order per stream",
          "[pubsub]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto c = std::make_shared<collector>();
  auto sub = fx.rt->subscribe({}, handler_of(c));
  load(accounts, 4, 25, 20);
  REQUIRE(await([&] { return c->size() == 500; }));
  std::lock_guard guard{c->mtx};
  CHECK(c->anomalies.empty());
  CHECK(c->last_rev.size() == 20);
  for (auto& [s, r] : c->last_rev)
    CHECK(r == 25);
}

TEST_CASE("catch-up turns into live delivery without gap or duplicate",
          "[pubsub]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  load(accounts, 2, 20, 10); // history before subscribing
  auto c = std::make_shared<collector>();
  subscription_options opts;
  opts.batch_size = 7; // many small batches across the boundary
  std::thread writer{[&] { load(accounts, 2, 40, 10); }};
  auto sub = fx.rt->subscribe(opts, handler_of(c));
  writer.join();
  REQUIRE(await([&] { return c->size() == 600; }));
  // Nothing more arrives: no duplicates after the end either.
  accounts.ask("acc-0", deposit{1, ""}).value();
  REQUIRE(await([&] { return c->size() == 601; }));
  std::lock_guard guard{c->mtx};
  CHECK(c->anomalies.empty());
  for (auto& [s, r] : c->last_rev)
    CHECK(r == (s == "sample.account/acc-0" ? 61u : 60u));
}

TEST_CASE("a subscription behind in many partitions catches up through the "
          "log in commit order, then resumes from its checkpoint",
          "[pubsub][catchup]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  // 200 accounts: far more partitions behind than a per-partition read
  // serves (the worker then reads the log sequentially).
  load(accounts, 2, 3, 200);
  append_request other; // another category, skipped by the filter
  other.stream = {"other.thing", "x"};
  other.events.push_back({"other.happened", 1, 0, {}, {}, to_bytes("o")});
  REQUIRE(fx.store->append(other));
  subscription_options opts;
  opts.filter = subscription_filter::of_category("sample.account");
  opts.consumer = "catcher";
  opts.start = start_from::checkpoint;
  opts.batch_size = 7;
  opts.checkpoint_every = 1;
  auto first = std::make_shared<collector>();
  std::thread writer{[&] { load(accounts, 2, 2, 200); }};
  auto sub = fx.rt->subscribe(opts, handler_of(first));
  writer.join();
  REQUIRE(await([&] { return first->size() == 1000; }));
  // Its checkpoints reach every partition's end once it is idle.
  auto ends = fx.store->partition_ends().value();
  REQUIRE(await([&] {
    for (partition_id p = 0; p < ends.size(); ++p) {
      auto cp = fx.store->load_checkpoint("catcher", p);
      if (ends[p] > 0 && (!cp || !*cp || **cp != ends[p]))
        return false;
    }
    return true;
  }));
  sub.cancel();
  {
    std::lock_guard guard{first->mtx};
    CHECK(first->anomalies.empty());
    for (auto& [s, r] : first->last_rev)
      CHECK(r == 5u);
  }
  load(accounts, 1, 1, 200); // 200 more while it is away
  auto second = std::make_shared<collector>();
  auto again = fx.rt->subscribe(opts, handler_of(second));
  REQUIRE(await([&] { return second->size() >= 200; }));
  accounts.ask("acc-0", deposit{1, ""}).value(); // and one live
  REQUIRE(await([&] { return second->size() == 201; }));
  std::lock_guard guard{second->mtx};
  for (const auto& ev : second->events) {
    CHECK(ev.stream.category == "sample.account");
    CHECK(ev.rev >= 6); // nothing before the checkpoint again
  }
}

TEST_CASE("filters: one stream, one category, from now, from a revision",
          "[pubsub]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  load(accounts, 1, 3, 3);
  // Another category in the same journal.
  append_request other;
  other.stream = {"other.thing", "x"};
  other.events.push_back({"other.happened", 1, 0, {}, {}, to_bytes("o")});
  REQUIRE(fx.store->append(other));
  auto one = std::make_shared<collector>();
  subscription_options o1;
  o1.filter = subscription_filter::of_stream({"sample.account", "acc-1"});
  o1.from_revision = 2;
  auto s1 = fx.rt->subscribe(o1, handler_of(one));
  auto cat = std::make_shared<collector>();
  subscription_options o2;
  o2.filter = subscription_filter::of_category("sample.account");
  auto s2 = fx.rt->subscribe(o2, handler_of(cat));
  auto now = std::make_shared<collector>();
  subscription_options o3;
  o3.start = start_from::now;
  auto s3 = fx.rt->subscribe(o3, handler_of(now));
  REQUIRE(await([&] { return one->size() == 2 && cat->size() == 9; }));
  // `now` subscribers see only what comes after them.
  REQUIRE(accounts.ask("acc-1", deposit{1, ""}));
  REQUIRE(await([&] { return now->size() == 1 && one->size() == 3; }));
  std::lock_guard guard{one->mtx};
  CHECK(one->events.front().rev == 2);
  CHECK(now->events.front().stream.id == "acc-1");
  for (const auto& ev : cat->events)
    CHECK(ev.stream.category == "sample.account");
}

TEST_CASE("`all` skips system streams, their category still subscribes",
          "[pubsub]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  append_request marker;
  marker.stream = {"$epochs", "0.0"};
  marker.events.push_back({"annals.epoch_started", 1, 0, {}, {}, {}});
  REQUIRE(fx.store->append(marker));
  load(accounts, 1, 2, 1);
  auto all = std::make_shared<collector>();
  auto s1 = fx.rt->subscribe(subscription_options{}, handler_of(all));
  auto system = std::make_shared<collector>();
  subscription_options o2;
  o2.filter = subscription_filter::of_category("$epochs");
  auto s2 = fx.rt->subscribe(o2, handler_of(system));
  REQUIRE(await([&] { return all->size() == 2 && system->size() == 1; }));
  std::lock_guard guard{all->mtx};
  for (const auto& ev : all->events)
    CHECK(ev.stream.category == "sample.account");
}

TEST_CASE("a durable consumer resumes after its last checkpoint",
          "[pubsub][durable]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  load(accounts, 2, 10, 4);
  subscription_options opts;
  opts.consumer = "auditor";
  opts.start = start_from::checkpoint;
  opts.checkpoint_every = 5;
  auto first = std::make_shared<collector>();
  auto sub = fx.rt->subscribe(opts, handler_of(first));
  REQUIRE(await([&] { return first->size() == 40; }));
  // The checkpoint reaches the end once the cursor is idle.
  auto p = partition_of({"sample.account", "acc-0"}, 1024);
  auto end = fx.store->partition_ends().value()[p];
  REQUIRE(await([&] {
    auto cp = fx.store->load_checkpoint("auditor", p);
    return cp && *cp && **cp == end;
  }));
  sub.cancel();
  load(accounts, 1, 2, 4); // 8 more while it is away
  auto second = std::make_shared<collector>();
  auto again = fx.rt->subscribe(opts, handler_of(second));
  REQUIRE(await([&] { return second->size() == 8; }));
  std::lock_guard guard{second->mtx};
  for (const auto& ev : second->events)
    CHECK(ev.rev > 10); // nothing before the checkpoint again
}

namespace {

struct slow_state {
  // Not an aggregate: CAF 0.17 would otherwise construct it from the actor
  // pointer (C++20 parenthesised aggregate init), setting `busy` to true.
  slow_state() = default;
  bool busy = false;
  int overlapping = 0;
  std::size_t max_batch = 0;
  std::size_t received = 0;
};

/// Replies to each batch only after a delay, and records whether a second
/// batch ever arrived while one was still unanswered.
caf::behavior slow_subscriber(caf::stateful_actor<slow_state>* self,
                              std::shared_ptr<std::atomic<std::size_t>> seen,
                              std::shared_ptr<std::atomic<int>> overlap) {
  return {
    [=](event_batch& b) {
      if (self->state.busy)
        ++*overlap;
      self->state.busy = true;
      auto n = static_cast<uint32_t>(b.events.size());
      self->state.max_batch = std::max<std::size_t>(self->state.max_batch, n);
      auto rp = self->make_response_promise();
      self->delayed_send(self, std::chrono::milliseconds{2},
                         caf::ok_atom::value, n);
      self->state.received += n;
      // Answer later (the delayed message carries nothing but the size).
      self->become(caf::keep_behavior, [=](caf::ok_atom, uint32_t m) mutable {
        self->state.busy = false;
        *seen += m;
        rp.deliver(batch_done{m, {}});
        self->unbecome();
      });
      return rp;
    },
  };
}

} // namespace

TEST_CASE("a slow subscriber holds at most one batch", "[pubsub][slow]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto seen = std::make_shared<std::atomic<std::size_t>>(0);
  auto overlap = std::make_shared<std::atomic<int>>(0);
  auto sub_actor = fx.sys.spawn(slow_subscriber, seen, overlap);
  subscription_options opts;
  opts.batch_size = 16;
  auto sub = fx.rt->subscribe(sub_actor, opts);
  load(accounts, 2, 50, 8); // 400 events, much faster than it reads
  REQUIRE(await([&] { return seen->load() == 400; }, std::chrono::seconds{30}));
  CHECK(overlap->load() == 0);
  caf::anon_send_exit(sub_actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("a poison event is retried, then parked with the rest of its "
          "stream, other streams go on, parked events replay in order",
          "[pubsub][poison]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto healthy = std::make_shared<std::atomic<bool>>(false);
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto c = std::make_shared<collector>();
  subscription_options opts;
  opts.consumer = "ledger";
  opts.max_attempts = 3;
  auto sub = fx.rt->subscribe(opts, [=](const recorded_event& ev) {
    if (ev.stream.id == "bad" && ev.rev == 2 && !*healthy) {
      ++*attempts;
      return make_error(errc::handler_failed, "cannot handle bad/2");
    }
    return (*c)(ev);
  });
  for (int i = 0; i < 4; ++i) {
    REQUIRE(accounts.ask("bad", deposit{1, ""}));
    REQUIRE(accounts.ask("good", deposit{1, ""}));
  }
  // good: 4 events; bad: only revision 1 gets through.
  REQUIRE(await([&] { return c->size() == 5; }));
  REQUIRE(await([&] {
    auto p = fx.rt->parked("ledger");
    return p && p->size() == 3;
  }));
  CHECK(attempts->load() == 3);
  auto parked = fx.rt->parked("ledger").value();
  CHECK(parked[0].stream.id == "bad");
  CHECK(parked[0].rev == 2);
  CHECK(parked[0].reason.find("cannot handle bad/2") != std::string::npos);
  CHECK(parked[2].rev == 4);
  // Later events of the parked stream are parked too, in order.
  REQUIRE(accounts.ask("bad", deposit{1, ""}));
  REQUIRE(await([&] { return fx.rt->parked("ledger")->size() == 4; }));
  *healthy = true;
  auto replayed = sub.replay_parked();
  REQUIRE(replayed);
  CHECK(*replayed == 4);
  CHECK(fx.rt->parked("ledger")->empty() == true);
  // The stream flows again, after its replayed events.
  REQUIRE(accounts.ask("bad", deposit{1, ""}));
  REQUIRE(await([&] { return c->size() == 10; }));
  std::lock_guard guard{c->mtx};
  CHECK(c->anomalies.empty());
  CHECK(c->last_rev["sample.account/bad"] == 6);
}

TEST_CASE("a transiently failing event is retried with backoff and never "
          "parked",
          "[pubsub][poison][transient]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto attempts = std::make_shared<std::atomic<int>>(0);
  auto c = std::make_shared<collector>();
  subscription_options opts;
  opts.consumer = "saga-like";
  opts.max_attempts = 3; // would park after 3 deterministic failures
  opts.retry_backoff = std::chrono::milliseconds{20};
  opts.max_retry_backoff = std::chrono::milliseconds{40};
  constexpr int failures = 12;
  auto started = std::chrono::steady_clock::now();
  auto sub = fx.rt->subscribe(opts, [=](const recorded_event& ev) {
    if (ev.stream.id == "flaky" && ev.rev == 1 && ++*attempts <= failures)
      return make_error(errc::unavailable, "the owner is unreachable");
    return (*c)(ev);
  });
  REQUIRE(accounts.ask("flaky", deposit{1, ""}));
  REQUIRE(accounts.ask("flaky", deposit{2, ""}));
  REQUIRE(await([&] { return c->size() == 2; }));
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(attempts->load() == failures + 1);
  CHECK(fx.rt->parked("saga-like")->empty());
  CHECK(fx.rt->stats().retried_deliveries >= failures);
  CHECK(fx.rt->stats().parked_events == 0);
  // Backed off, not hammered: at least 3/4 of 20 + 11 * 40 ms in all.
  CHECK(elapsed >= std::chrono::milliseconds{345});
  std::lock_guard guard{c->mtx};
  CHECK(c->anomalies.empty());
  CHECK(c->last_rev["sample.account/flaky"] == 2);
}

TEST_CASE("transient and deterministic failures are told apart",
          "[pubsub][transient]") {
  CHECK(is_transient(make_error(errc::unavailable)));
  CHECK(is_transient(make_error(errc::outcome_unknown)));
  CHECK(is_transient(make_error(errc::not_persisted)));
  CHECK(is_transient(make_error(journal_errc::io_error)));
  CHECK(is_transient(make_error(journal_errc::journal_full)));
  CHECK(is_transient(make_error(journal_errc::stale_epoch)));
  CHECK(is_transient(caf::make_error(caf::sec::request_timeout)));
  CHECK(is_transient(caf::make_error(caf::sec::request_receiver_down)));
  CHECK_FALSE(is_transient(caf::error{}));
  CHECK_FALSE(is_transient(make_error(errc::handler_failed)));
  CHECK_FALSE(is_transient(make_error(errc::unknown_event_type)));
  CHECK_FALSE(is_transient(make_error(errc::malformed_payload)));
  CHECK_FALSE(is_transient(make_error(journal_errc::corrupt_record)));
  CHECK_FALSE(is_transient(caf::make_error(caf::sec::unexpected_message)));
  CHECK_FALSE(is_transient(caf::make_error(account_errc::insufficient_funds)));
}

TEST_CASE("a projection commits its model with its checkpoint: each event "
          "counts once across restarts",
          "[pubsub][projection]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto fail_once = std::make_shared<std::atomic<bool>>(true);
  auto projector
    = [fail_once](const recorded_event& ev, model_writer& model) -> caf::error {
    if (ev.type != "sample.deposited")
      return {};
    annals::tl_variant_t<account::events> v;
    if (auto err = annals::decode_event<account::events>(
          ev.type, ev.schema_version, ev.payload.data(), ev.payload.size(), v))
      return err;
    auto cents = std::get<deposited>(v).cents;
    // A transient failure in the middle of a batch.
    if (ev.stream.id == "acc-3" && ev.rev == 5 && fail_once->exchange(false))
      return make_error(errc::handler_failed, "transient");
    auto total = std::stoll(model.get("total").value_or("0"));
    model.put("total", std::to_string(total + cents));
    auto mine = std::stoll(model.get(ev.stream.id).value_or("0"));
    model.put(ev.stream.id, std::to_string(mine + cents));
    return {};
  };
  auto proj = fx.rt->project(
    "balances", subscription_filter::of_category("sample.account"), projector);
  load(accounts, 2, 10, 6); // 60 cents
  REQUIRE(await([&] {
    return fx.store->load_model("balances", "total")->value_or("") == "60";
  }));
  proj.cancel();
  fx.restart();
  auto accounts2 = fx.rt->host<account>();
  load(accounts2, 1, 2, 6); // 12 more
  auto again = fx.rt->project(
    "balances", subscription_filter::of_category("sample.account"), projector);
  REQUIRE(await([&] {
    return fx.store->load_model("balances", "total")->value_or("") == "72";
  }));
  CHECK(fx.store->load_model("balances", "acc-3")->value_or("") == "12");
}

TEST_CASE("consumer group members split the partitions and rebalance "
          "without breaking per-stream order",
          "[pubsub][group]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  // Per member: what it saw; overall: every (stream, revision) once.
  struct seen_log {
    std::mutex mtx;
    std::map<std::string, std::vector<revision>> by_stream;
    std::size_t total = 0;
  };
  auto log_a = std::make_shared<seen_log>();
  auto log_b = std::make_shared<seen_log>();
  auto record = [](std::shared_ptr<seen_log> l) {
    return [l](const recorded_event& ev) -> caf::error {
      std::lock_guard guard{l->mtx};
      l->by_stream[ev.stream.id].push_back(ev.rev);
      ++l->total;
      return {};
    };
  };
  auto total = [&] {
    std::scoped_lock guard{log_a->mtx, log_b->mtx};
    return log_a->total + log_b->total;
  };
  subscription_options opts;
  opts.consumer = "workers";
  opts.start = start_from::checkpoint;
  opts.group = true;
  opts.checkpoint_every = 10;
  auto a = fx.rt->subscribe(opts, record(log_a));
  load(accounts, 2, 5, 16); // 80 events, all to A
  REQUIRE(await([&] { return total() == 80; }));
  auto b = fx.rt->subscribe(opts, record(log_b));         // rebalance
  std::thread writer{[&] { load(accounts, 2, 10, 16); }}; // 160 during it
  writer.join();
  REQUIRE(await([&] { return total() == 240; }));
  CHECK(log_b->total > 0); // B took over some partitions
  a.cancel();              // A leaves: B gets everything
  load(accounts, 2, 5, 16);
  REQUIRE(await([&] { return total() == 320; }));
  // Every stream's events: each revision exactly once across members, and
  // each member saw its part of a stream in increasing order.
  std::map<std::string, std::vector<revision>> all;
  for (auto* l : {log_a.get(), log_b.get()}) {
    std::lock_guard guard{l->mtx};
    for (auto& [s, revs] : l->by_stream) {
      CHECK(std::is_sorted(revs.begin(), revs.end()));
      all[s].insert(all[s].end(), revs.begin(), revs.end());
    }
  }
  CHECK(all.size() == 16);
  for (auto& [s, revs] : all) {
    std::sort(revs.begin(), revs.end());
    CHECK(revs.size() == 20);
    CHECK(std::adjacent_find(revs.begin(), revs.end()) == revs.end());
  }
  CHECK(total() == 320); // no duplicates at the handovers
}
