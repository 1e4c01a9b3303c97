// annals -- tests of the runtime's replication hooks: replies wait for the
// high watermark, a lost leadership ends them `outcome_unknown`, and
// subscriptions never read past what is visible.
#include "annals/render.hpp"
#include "annals/runtime.hpp"
#include "annals/runtime_types.hpp"

#include "runtime_fixture.hpp"
#include "sample_account.hpp"

#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <mutex>
#include <optional>
#include <set>

using namespace annals;
using namespace sample;
using annals::testing::await;
using annals::testing::runtime_fixture;

namespace {

/// What the writer told the stand-in replicator.
struct committed_log {
  std::mutex mtx;
  std::set<partition_id> partitions;
  bool has(partition_id p) {
    std::lock_guard guard{mtx};
    return partitions.count(p) != 0;
  }
};

caf::behavior fake_replicator(caf::event_based_actor*,
                              std::shared_ptr<committed_log> log) {
  return {
    [log](committed_atom, const std::vector<committed_end>& ends) {
      std::lock_guard guard{log->mtx};
      for (const auto& e : ends)
        log->partitions.insert(e.partition);
    },
  };
}

partition_id partition_of_account(const runtime_fixture& fx,
                                  const std::string& id) {
  return partition_of(stream_id{std::string{account::category}, id},
                      fx.store->partition_count());
}

/// A deposit of 5 to `id`, sent from another thread, once the writer has
/// committed it and holds its reply for replication: its partition and the
/// future of that reply.
template <class Fixture, class Handle>
auto held_deposit(Fixture& fx, Handle& accounts, const std::string& id) {
  auto p = partition_of_account(fx, id);
  auto reply = std::async(std::launch::async, [&accounts, id] {
    return accounts.ask(id, deposit{5, ""});
  });
  REQUIRE(await([&] { return fx.log->has(p); }));
  return std::pair{p, std::move(reply)};
}

/// Two accounts in different partitions.
std::pair<std::string, std::string> two_accounts(const runtime_fixture& fx) {
  std::string a = "acc-0";
  for (int k = 1;; ++k) {
    auto b = "acc-" + std::to_string(k);
    if (partition_of_account(fx, b) != partition_of_account(fx, a))
      return {a, b};
  }
}

struct replicated_fixture : runtime_fixture {
  replicated_fixture() {
    log = std::make_shared<committed_log>();
    replicator = sys.spawn(fake_replicator, log);
    rt->enable_replication(replicator);
    for (partition_id p = 0; p < store->partition_count(); ++p)
      rt->set_epoch(p, 1);
  }
  ~replicated_fixture() {
    caf::anon_send_exit(replicator, caf::exit_reason::user_shutdown);
  }
  std::shared_ptr<committed_log> log;
  caf::actor replicator;
};

/// The replicator's release of partition `p` up to `hw` at `epoch`.
void release(replicated_fixture& fx, partition_id p, uint64_t epoch,
             position hw) {
  caf::anon_send(fx.rt->writer(), released_atom::value,
                 std::vector<committed_end>{{p, hw, epoch}});
}

} // namespace

TEST_CASE("a reply waits until the partition's high watermark covers it",
          "[replication-gate]") {
  replicated_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto [p, reply] = held_deposit(fx, accounts, "alice");
  // The writer holds the reply before it tells the replicator.
  CHECK(reply.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
  // A release of another epoch or below the append's position frees nothing.
  release(fx, p, uint64_t{1}, position{0});
  auto ends = fx.store->partition_ends();
  REQUIRE(ends);
  release(fx, p, uint64_t{1}, (*ends)[p]);
  REQUIRE(reply.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto res = reply.get();
  REQUIRE(res);
  // A retried command id of a replicated append is answered at once.
  CHECK(fx.store->read_partition(p, 1).value().size() == 1);
}

TEST_CASE("a lost leadership ends held replies outcome_unknown",
          "[replication-gate]") {
  replicated_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto [p, reply] = held_deposit(fx, accounts, "bob");
  caf::anon_send(fx.rt->writer(), lost_atom::value, p, uint64_t{1});
  REQUIRE(reply.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto res = reply.get();
  REQUIRE_FALSE(res);
  INFO(render(res.error()));
  CHECK(is(res.error(), errc::outcome_unknown));
}

TEST_CASE("held replies carried into the next epoch wait for its high "
          "watermark, appends of the old epoch are refused",
          "[replication-gate]") {
  replicated_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto [p, reply] = held_deposit(fx, accounts, "dave");
  caf::anon_send(fx.rt->writer(), carried_atom::value, p, uint64_t{1},
                 uint64_t{2});
  auto ends = fx.store->partition_ends();
  REQUIRE(ends);
  // A release of epoch 1 frees nothing any more.
  release(fx, p, uint64_t{1}, (*ends)[p]);
  CHECK(reply.wait_for(std::chrono::milliseconds(300))
        == std::future_status::timeout);
  // One of epoch 2 does: the reply is a success, not outcome_unknown.
  release(fx, p, uint64_t{2}, (*ends)[p]);
  REQUIRE(reply.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto res = reply.get();
  INFO((res ? "" : render(res.error())));
  REQUIRE(res);
  // Until epoch 2 serves, nothing stamped with epoch 1 is written.
  auto refused = accounts.ask("dave", deposit{1, ""});
  REQUIRE_FALSE(refused);
  CHECK_FALSE(is(refused.error(), errc::outcome_unknown));
  CHECK(fx.store->partition_ends().value()[p] == (*ends)[p]);
  fx.rt->set_epoch(p, 2);
  auto again = std::async(std::launch::async, [&] {
    return accounts.ask("dave", deposit{1, ""});
  });
  REQUIRE(await([&] {
    auto e = fx.store->partition_ends();
    return e && (*e)[p] > (*ends)[p];
  }));
  release(fx, p, uint64_t{2}, fx.store->partition_ends().value()[p]);
  REQUIRE(again.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  CHECK(again.get());
}

TEST_CASE("a retried command that is in the journal but not yet replicated "
          "is acknowledged only once the high watermark covers it",
          "[replication-gate]") {
  replicated_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto p = partition_of_account(fx, "carol");
  auto ask = [&](const std::string& id) {
    return std::async(std::launch::async, [&accounts, id] {
      return accounts.ask("carol", deposit{5, ""},
                          command_options{id, {}, {}, {}});
    });
  };
  auto first = ask("c-1");
  REQUIRE(await([&] { return fx.log->has(p); }));
  caf::anon_send(fx.rt->writer(), lost_atom::value, p, uint64_t{1});
  REQUIRE(first.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto res = first.get();
  REQUIRE_FALSE(res);
  CHECK(is(res.error(), errc::outcome_unknown));
  // This node leads again at epoch 2; c-1 is in its journal, above the
  // high watermark. Its retry must not be acknowledged yet...
  fx.rt->set_epoch(p, 2);
  auto retry = ask("c-1");
  auto again = ask("c-1"); // joins the first retry
  CHECK(retry.wait_for(std::chrono::milliseconds(300))
        == std::future_status::timeout);
  auto ends = fx.store->partition_ends();
  REQUIRE(ends);
  // ...nor by a release of the old epoch...
  release(fx, p, uint64_t{1}, (*ends)[p]);
  CHECK(retry.wait_for(std::chrono::milliseconds(100))
        == std::future_status::timeout);
  // ...only once epoch 2's high watermark covers it.
  release(fx, p, uint64_t{2}, (*ends)[p]);
  for (auto* f : {&retry, &again}) {
    REQUIRE(f->wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto ack = f->get();
    REQUIRE(ack);
    CHECK(ack->duplicate);
  }
  CHECK(fx.store->read_partition(p, 1).value().size() == 1);
  // A retry whose wait ends with the leadership is `outcome_unknown`.
  auto second = ask("c-2");
  stream_id carol{std::string{account::category}, "carol"};
  REQUIRE(await([&] {
    auto found = fx.store->find_command(carol, "c-2");
    return found && found->has_value();
  }));
  caf::anon_send(fx.rt->writer(), lost_atom::value, p, uint64_t{2});
  REQUIRE(second.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  REQUIRE_FALSE(second.get());
  fx.rt->set_epoch(p, 3);
  auto waiting = ask("c-2");
  CHECK(waiting.wait_for(std::chrono::milliseconds(300))
        == std::future_status::timeout);
  caf::anon_send(fx.rt->writer(), lost_atom::value, p, uint64_t{3});
  REQUIRE(waiting.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto ended = waiting.get();
  REQUIRE_FALSE(ended);
  CHECK(is(ended.error(), errc::outcome_unknown));
}

TEST_CASE("subscriptions read each partition only up to what is visible",
          "[replication-gate]") {
  replicated_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto [a, b] = two_accounts(fx);
  auto pa = partition_of_account(fx, a);
  auto pb = partition_of_account(fx, b);
  for (const auto& id : {a, b}) {
    auto reply = std::async(std::launch::async, [&accounts, id = id] {
      return accounts.ask(id, deposit{1, ""});
    });
    auto p = partition_of_account(fx, id);
    REQUIRE(await([&] { return fx.log->has(p); }));
    auto ends = fx.store->partition_ends();
    release(fx, p, uint64_t{1}, (*ends)[p]);
    REQUIRE(reply.get());
  }
  std::mutex mtx;
  std::vector<std::string> seen;
  auto sub = fx.rt->subscribe(subscription_options{},
                              [&](const recorded_event& ev) -> caf::error {
                                std::lock_guard guard{mtx};
                                seen.push_back(ev.stream.id);
                                return {};
                              });
  fx.rt->set_visible(pb, 1);
  REQUIRE(await([&] {
    std::lock_guard guard{mtx};
    return !seen.empty();
  }));
  {
    std::lock_guard guard{mtx};
    CHECK(seen == std::vector<std::string>{b});
  }
  CHECK(fx.rt->visible_end(pa) == 0);
  fx.rt->set_visible(pa, 1);
  REQUIRE(await([&] {
    std::lock_guard guard{mtx};
    return seen.size() == 2;
  }));
  std::lock_guard guard{mtx};
  CHECK(seen.back() == a);
}

TEST_CASE("a catch-up over many partitions skips the invisible ones and "
          "comes back for them",
          "[replication-gate]") {
  replicated_fixture fx;
  auto parts = fx.store->partition_count();
  // Events in 40 partitions, written directly (the journal's own path).
  std::vector<partition_id> used;
  for (int k = 0; used.size() < 40; ++k) {
    stream_id s{"other.thing", "t" + std::to_string(k)};
    auto p = partition_of(s, parts);
    if (std::find(used.begin(), used.end(), p) != used.end())
      continue;
    used.push_back(p);
    append_request req;
    req.stream = s;
    req.events.push_back({"t", 1, 0, {}, {}, to_bytes("x")});
    REQUIRE(fx.store->append(req));
  }
  // Every other partition visible.
  for (std::size_t i = 0; i < used.size(); i += 2)
    fx.rt->set_visible(used[i], 1);
  std::mutex mtx;
  std::set<partition_id> seen;
  int repeats = 0;
  auto sub = fx.rt->subscribe(subscription_options{},
                              [&](const recorded_event& ev) -> caf::error {
                                std::lock_guard guard{mtx};
                                if (!seen.insert(ev.partition).second)
                                  ++repeats;
                                return {};
                              });
  REQUIRE(await([&] {
    std::lock_guard guard{mtx};
    return seen.size() == 20;
  }));
  {
    std::lock_guard guard{mtx};
    for (std::size_t i = 1; i < used.size(); i += 2)
      CHECK(seen.count(used[i]) == 0);
  }
  for (std::size_t i = 1; i < used.size(); i += 2)
    fx.rt->set_visible(used[i], 1);
  REQUIRE(await([&] {
    std::lock_guard guard{mtx};
    return seen.size() == 40;
  }));
  std::lock_guard guard{mtx};
  CHECK(repeats == 0);
}

TEST_CASE("a leading_only subscription reads only the partitions this node "
          "leads and resumes each where it stopped when it leads it again",
          "[replication-gate]") {
  replicated_fixture fx;
  auto parts = fx.store->partition_count();
  auto stream_in = [&](int from, std::optional<partition_id> not_in = {}) {
    for (int k = from;; ++k) {
      stream_id s{"other.thing", "t" + std::to_string(k)};
      if (!not_in || partition_of(s, parts) != *not_in)
        return s;
    }
  };
  auto sa = stream_in(0);
  auto pa = partition_of(sa, parts);
  auto sb = stream_in(1, pa);
  auto pb = partition_of(sb, parts);
  auto append = [&](const stream_id& s, const std::string& body) {
    append_request req;
    req.stream = s;
    req.events.push_back({"t", 1, 0, {}, {}, to_bytes(body)});
    REQUIRE(fx.store->append(req));
  };
  append(sa, "a1");
  append(sb, "b1");
  fx.rt->set_visible(pa, 100);
  fx.rt->set_visible(pb, 100);
  CHECK_FALSE(fx.rt->leads(pa));
  std::mutex mtx;
  std::vector<std::string> seen;
  subscription_options opts;
  opts.leading_only = true;
  auto sub
    = fx.rt->subscribe(opts, [&](const recorded_event& ev) -> caf::error {
        std::lock_guard guard{mtx};
        seen.emplace_back(reinterpret_cast<const char*>(ev.payload.data()),
                          ev.payload.size());
        return {};
      });
  auto seen_now = [&] {
    std::lock_guard guard{mtx};
    return seen;
  };
  fx.rt->set_leading(pa, true);
  REQUIRE(await([&] { return seen_now().size() == 1; }));
  CHECK(seen_now() == std::vector<std::string>{"a1"});
  fx.rt->set_leading(pb, true);
  REQUIRE(await([&] { return seen_now().size() == 2; }));
  CHECK(seen_now().back() == "b1");
  // pa is led elsewhere now: its next event waits.
  fx.rt->set_leading(pa, false);
  append(sa, "a2");
  append(sb, "b2");
  fx.rt->set_visible(pa, 200); // raising it wakes the subscriptions
  fx.rt->set_visible(pb, 200);
  REQUIRE(await([&] { return seen_now().size() == 3; }));
  CHECK(seen_now().back() == "b2");
  fx.rt->set_leading(pa, true);
  REQUIRE(await([&] { return seen_now().size() == 4; }));
  CHECK(seen_now() == std::vector<std::string>{"a1", "b1", "b2", "a2"});
}

TEST_CASE("shutdown ends a reply held for replication outcome_unknown "
          "instead of waiting for a release that never comes",
          "[replication-gate][lifecycle]") {
  replicated_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto [p, reply] = held_deposit(fx, accounts, "erin");
  // The replicator is gone first (as a cluster node stops before its
  // runtime): nobody will release the reply.
  caf::anon_send_exit(fx.replicator, caf::exit_reason::user_shutdown);
  fx.rt->shutdown();
  REQUIRE(reply.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto res = reply.get();
  REQUIRE_FALSE(res);
  INFO(render(res.error()));
  CHECK(is(res.error(), errc::outcome_unknown));
  CHECK(render(res.error()).find("the runtime stopped") != std::string::npos);
  // Committed here all the same.
  CHECK(fx.store->read_partition(p, 1).value().size() == 1);
}
