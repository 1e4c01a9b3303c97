// annals -- actor-level tests of the runtime: recovery, ordering,
// idempotency, passivation, snapshots, storage failures.
#include "annals/runtime.hpp"

#include "runtime_fixture.hpp"
#include "sample_account.hpp"
#include "temp_dir.hpp"

#include <caf/policy/work_sharing.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace annals;
using namespace sample;
using annals::testing::await;
using annals::testing::faulty_journal;
using annals::testing::runtime_fixture;

namespace {

const stream_id alice{"sample.account", "alice"};

} // namespace

TEST_CASE("a command is persisted before its ack, with its revision",
          "[runtime]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto a1 = accounts.ask("alice", open{"Alice"});
  REQUIRE(a1);
  CHECK(a1->first_revision == 1);
  CHECK(a1->revision == 1);
  CHECK(a1->events == 1);
  CHECK_FALSE(a1->duplicate);
  auto a2 = accounts.ask("alice", deposit{500, "salary"});
  REQUIRE(a2);
  CHECK(a2->revision == 2);
  // The ack came after the commit: the journal has the event now.
  auto events = fx.store->read_stream(alice, 1);
  REQUIRE(events);
  REQUIRE(events->size() == 2);
  CHECK((*events)[1].type == "sample.deposited");
  CHECK((*events)[1].schema_version == 2);
  auto balance = accounts.ask("alice", get_balance{});
  REQUIRE(balance);
  CHECK(*balance == 500);
}

TEST_CASE("a rejection reaches the caller and writes nothing", "[runtime]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  REQUIRE(accounts.ask("alice", open{"Alice"}));
  auto res = accounts.ask("alice", withdraw{10});
  REQUIRE_FALSE(res);
  CHECK(res.error() == caf::make_error(account_errc::insufficient_funds));
  CHECK(fx.store->last_revision(alice).value() == 1);
  // The aggregate keeps working.
  CHECK(accounts.ask("alice", deposit{5, ""}));
}

TEST_CASE("a command that emits nothing is acknowledged at the current "
          "revision",
          "[runtime]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  REQUIRE(accounts.ask("alice", open{"A"}));
  auto res = accounts.ask("alice", touch{});
  REQUIRE(res);
  CHECK(res->events == 0);
  CHECK(res->revision == 1);
}

TEST_CASE("a throwing handler is an error, and the aggregate goes on",
          "[runtime]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto res = accounts.ask("alice", explode{});
  REQUIRE_FALSE(res);
  CHECK(annals::is(res.error(), errc::handler_failed));
  CHECK(render(res.error()).find("boom") != std::string::npos);
  CHECK(accounts.ask("alice", open{"A"}));
}

TEST_CASE("an unknown command type is refused", "[runtime]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto env = accounts.make("alice", touch{});
  env.command = caf::make_message(std::string{"not a command"});
  caf::scoped_actor self{fx.sys};
  caf::error err;
  self->request(accounts.actor(), std::chrono::seconds{5}, env)
    .receive([](const ack&) { FAIL("accepted"); },
             [&](caf::error& e) { err = e; });
  CHECK(annals::is(err, errc::unknown_command));
  env.category = "other.type";
  self->request(accounts.actor(), std::chrono::seconds{5}, env)
    .receive([](const ack&) { FAIL("accepted"); },
             [&](caf::error& e) { err = e; });
  CHECK(annals::is(err, errc::invalid_command));
}

TEST_CASE("an expected revision is checked before deciding", "[runtime]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  command_options opts;
  opts.expected = expected_revision::no_stream();
  REQUIRE(accounts.ask("alice", open{"A"}, opts));
  opts.expected = expected_revision::exactly(0);
  auto res = accounts.ask("alice", deposit{1, ""}, opts);
  REQUIRE_FALSE(res);
  CHECK(annals::is(res.error(), errc::wrong_expected_revision));
  opts.expected = expected_revision::exactly(1);
  CHECK(accounts.ask("alice", deposit{1, ""}, opts));
}

TEST_CASE("aggregates recover from the journal after a restart",
          "[runtime][recovery]") {
  runtime_fixture fx;
  {
    auto accounts = fx.rt->host<account>();
    REQUIRE(accounts.ask("alice", open{"Alice"}));
    for (int i = 1; i <= 20; ++i)
      REQUIRE(accounts.ask("alice", deposit{i, ""}));
  }
  fx.restart();
  auto accounts = fx.rt->host<account>();
  CHECK(accounts.ask("alice", get_balance{}).value() == 210);
  CHECK(fx.rt->stats().recoveries == 1);
  auto res = accounts.ask("alice", deposit{1, ""});
  REQUIRE(res);
  CHECK(res->revision == 22);
}

TEST_CASE("recovery uses the latest snapshot", "[runtime][recovery]") {
  auto rc = runtime_fixture::default_config();
  rc.hosts.snapshot_every = 10;
  runtime_fixture fx{nullptr, rc};
  {
    auto accounts = fx.rt->host<account>();
    REQUIRE(accounts.ask("alice", open{"Alice"}));
    for (int i = 1; i <= 34; ++i)
      REQUIRE(accounts.ask("alice", deposit{1, ""}));
  }
  REQUIRE(await([&] { return fx.store->load_snapshot(alice)->has_value(); }));
  REQUIRE(await([&] {
    auto s = fx.store->load_snapshot(alice).value();
    return s && s->rev >= 30;
  }));
  fx.restart();
  auto accounts = fx.rt->host<account>();
  CHECK(accounts.ask("alice", get_balance{}).value() == 34);
  auto st = fx.rt->stats();
  CHECK(st.recoveries == 1);
  CHECK(st.replayed_events <= 5); // only the tail after the snapshot
  CHECK(st.snapshot_fallbacks == 0);
}

TEST_CASE("an undecodable snapshot falls back to a full replay",
          "[runtime][recovery]") {
  runtime_fixture fx;
  {
    auto accounts = fx.rt->host<account>();
    REQUIRE(accounts.ask("alice", open{"Alice"}));
    REQUIRE(accounts.ask("alice", deposit{7, ""}));
  }
  // A snapshot whose bytes are garbage (valid record, bad payload), and one
  // with a schema version this build does not read.
  write_batch b;
  b.snapshots.push_back(
    {alice, 2, "sample.account", 1, to_bytes("\xff\xff\xff garbage")});
  REQUIRE(fx.store->commit(b));
  fx.restart();
  auto accounts = fx.rt->host<account>();
  CHECK(accounts.ask("alice", get_balance{}).value() == 7);
  CHECK(fx.rt->stats().snapshot_fallbacks == 1);
  CHECK(fx.rt->stats().replayed_events == 2);
  write_batch b2;
  b2.snapshots.push_back({alice, 2, "sample.account", 9, {}});
  REQUIRE(fx.store->commit(b2));
  fx.restart();
  accounts = fx.rt->host<account>();
  CHECK(accounts.ask("alice", get_balance{}).value() == 7);
  CHECK(fx.rt->stats().snapshot_fallbacks == 1);
}

TEST_CASE("old event versions in the journal are upcast on recovery",
          "[runtime][recovery]") {
  runtime_fixture fx;
  // A journal written by a build where `deposited` was version 1.
  append_request req;
  req.stream = alice;
  for (auto ev :
       {annals::encode(opened{"Old"}), annals::encode(deposited_v1{40})}) {
    event_data d;
    d.type = req.events.empty() ? "sample.opened" : "sample.deposited";
    d.schema_version = 1;
    d.payload = ev;
    req.events.push_back(d);
  }
  REQUIRE(fx.store->append(req));
  auto accounts = fx.rt->host<account>();
  CHECK(accounts.ask("alice", get_balance{}).value() == 40);
  CHECK(accounts.ask("alice", deposit{2, "new"}));
  CHECK(accounts.ask("alice", get_balance{}).value() == 42);
}

TEST_CASE("an unknown event type in the journal fails recovery clearly, for "
          "every command",
          "[runtime][recovery]") {
  runtime_fixture fx;
  append_request req;
  req.stream = alice;
  event_data d;
  d.type = "sample.from_the_future";
  d.payload = to_bytes("x");
  req.events.push_back(d);
  REQUIRE(fx.store->append(req));
  auto accounts = fx.rt->host<account>();
  auto res = accounts.ask("alice", deposit{1, ""});
  REQUIRE_FALSE(res);
  CHECK(annals::is(res.error(), errc::recovery_failed));
  CHECK(render(res.error()).find("sample.from_the_future")
        != std::string::npos);
  // Every command gets the reason, also those still in the mailbox when
  // recovery fails (not CAF's request_receiver_down).
  caf::scoped_actor self{fx.sys};
  constexpr int n = 200;
  std::vector<decltype(self->request(accounts.actor(), caf::infinite,
                                     command_envelope{}))>
    replies;
  for (int i = 0; i < n; ++i)
    replies.push_back(self->request(accounts.actor(), std::chrono::seconds{30},
                                    accounts.make("alice", deposit{1, ""})));
  int clear = 0;
  std::vector<std::string> others;
  for (auto& reply : replies)
    reply.receive([&](const ack&) { others.emplace_back("an ack"); },
                  [&](caf::error& err) {
                    if (annals::is(err, errc::recovery_failed))
                      ++clear;
                    else
                      others.push_back(render(err));
                  });
  INFO("first other reply: " << (others.empty() ? "" : others.front()));
  CHECK(clear == n);
  CHECK(fx.store->last_revision(alice).value() == 1);
}

TEST_CASE("concurrent senders to one aggregate keep their own order",
          "[runtime][ordering]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  constexpr int senders = 8;
  constexpr uint64_t per_sender = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([&, s] {
      // Each sender pipelines its commands: all sent before any reply.
      caf::scoped_actor self{fx.sys};
      std::vector<decltype(self->request(accounts.actor(), caf::infinite,
                                         command_envelope{}))>
        replies;
      for (uint64_t i = 1; i <= per_sender; ++i)
        replies.push_back(self->request(
          accounts.actor(), std::chrono::seconds{30},
          accounts.make("hot", note{"s" + std::to_string(s), i})));
      uint64_t last_rev = 0;
      for (auto& reply : replies)
        reply.receive(
          [&](const ack& a) {
            if (a.revision <= last_rev)
              ++failures; // replies come back in order
            last_rev = a.revision;
          },
          [&](caf::error&) { ++failures; });
    });
  for (auto& t : threads)
    t.join();
  CHECK(failures == 0);
  auto events = fx.store->read_stream({"sample.account", "hot"}, 1);
  REQUIRE(events);
  REQUIRE(events->size() == senders * per_sender);
  std::map<std::string, uint64_t> last;
  for (std::size_t i = 0; i < events->size(); ++i) {
    const auto& ev = (*events)[i];
    CHECK(ev.rev == i + 1);
    annals::tl_variant_t<account::events> v;
    REQUIRE_FALSE(annals::decode_event<account::events>(
      ev.type, ev.schema_version, ev.payload.data(), ev.payload.size(), v));
    const auto& n = std::get<noted>(v);
    CHECK(n.seq == last[n.sender] + 1);
    last[n.sender] = n.seq;
  }
  // Pipelining: far fewer commits than commands.
  CHECK(fx.rt->stats().commits < senders * per_sender);
}

TEST_CASE("a retried command id gets the original reply, also after a "
          "restart",
          "[runtime][idempotency]") {
  runtime_fixture fx;
  command_options opts;
  opts.command_id = "deposit-42";
  ack first;
  {
    auto accounts = fx.rt->host<account>();
    REQUIRE(accounts.ask("alice", open{"A"}));
    first = accounts.ask("alice", deposit{42, ""}, opts).value();
    auto again = accounts.ask("alice", deposit{42, ""}, opts);
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->revision == first.revision);
  }
  fx.restart();
  auto accounts = fx.rt->host<account>();
  auto again = accounts.ask("alice", deposit{42, ""}, opts);
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->first_revision == first.first_revision);
  CHECK(accounts.ask("alice", get_balance{}).value() == 42);
}

TEST_CASE("retries of a command still in flight share its reply",
          "[runtime][idempotency]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  command_options opts;
  opts.command_id = "once";
  caf::scoped_actor self{fx.sys};
  std::vector<decltype(self->request(accounts.actor(), caf::infinite,
                                     command_envelope{}))>
    replies;
  for (int i = 0; i < 5; ++i)
    replies.push_back(
      self->request(accounts.actor(), std::chrono::seconds{10},
                    accounts.make("bob", deposit{10, ""}, opts)));
  std::set<uint64_t> revisions;
  for (auto& reply : replies)
    reply.receive([&](const ack& a) { revisions.insert(a.revision); },
                  [&](caf::error& e) { FAIL(render(e)); });
  CHECK(revisions == std::set<uint64_t>{1});
  CHECK(accounts.ask("bob", get_balance{}).value() == 10);
}

TEST_CASE("idle aggregates passivate and come back on the next command",
          "[runtime][passivation]") {
  auto rc = runtime_fixture::default_config();
  rc.hosts.passivate_after = std::chrono::milliseconds{30};
  runtime_fixture fx{nullptr, rc};
  auto accounts = fx.rt->host<account>();
  REQUIRE(accounts.ask("alice", open{"A"}));
  REQUIRE(accounts.ask("alice", deposit{3, ""}));
  REQUIRE(await([&] { return fx.rt->stats().passivations >= 1; }));
  REQUIRE(await([&] { return fx.rt->stats().live_aggregates == 0; }));
  CHECK(accounts.ask("alice", get_balance{}).value() == 3);
  CHECK(fx.rt->stats().recoveries == 2);
}

TEST_CASE("the live-aggregate cap evicts the least recently used",
          "[runtime][passivation]") {
  auto rc = runtime_fixture::default_config();
  rc.hosts.max_live = 8;
  runtime_fixture fx{nullptr, rc};
  auto accounts = fx.rt->host<account>();
  for (int i = 0; i < 60; ++i)
    REQUIRE(accounts.ask("acc-" + std::to_string(i), deposit{i + 1, ""}));
  REQUIRE(await([&] { return fx.rt->stats().live_aggregates <= 9; }));
  for (int i = 0; i < 60; i += 7)
    CHECK(accounts.ask("acc-" + std::to_string(i), get_balance{}).value()
          == i + 1);
}

TEST_CASE("recoveries are limited to the configured number at once",
          "[runtime][recovery]") {
  auto rc = runtime_fixture::default_config();
  rc.max_recoveries = 2;
  runtime_fixture fx{nullptr, rc};
  // Many aggregates with history, then touched all at once after a restart.
  {
    write_batch b;
    for (int i = 0; i < 40; ++i) {
      append_request req;
      req.stream = {"sample.account", "r" + std::to_string(i)};
      event_data d;
      d.type = "sample.deposited";
      d.schema_version = 2;
      d.payload = annals::encode(deposited{5, ""});
      req.events.assign(50, d);
      b.appends.push_back(req);
    }
    REQUIRE(fx.store->commit(b));
  }
  auto accounts = fx.rt->host<account>();
  caf::scoped_actor self{fx.sys};
  std::vector<decltype(self->request(accounts.actor(), caf::infinite,
                                     command_envelope{}))>
    replies;
  for (int i = 0; i < 40; ++i)
    replies.push_back(
      self->request(accounts.actor(), std::chrono::seconds{30},
                    accounts.make("r" + std::to_string(i), get_balance{})));
  int ok = 0;
  for (auto& reply : replies)
    reply.receive([&](int64_t b) { ok += b == 250 ? 1 : 0; },
                  [&](caf::error& e) { FAIL(render(e)); });
  CHECK(ok == 40);
  CHECK(fx.rt->stats().recoveries == 40);
  CHECK(fx.rt->stats().max_active_recoveries <= 2);
}

TEST_CASE("a failed commit fails that command and every later one, and "
          "nothing unacknowledged becomes visible",
          "[runtime][failure]") {
  auto faulty = std::make_shared<faulty_journal>(
    std::shared_ptr<journal>{make_memory_journal()});
  runtime_fixture fx{faulty};
  auto accounts = fx.rt->host<account>();
  REQUIRE(accounts.ask("alice", open{"A"})); // acknowledged before the fault
  faulty->fail_commits = 1;
  caf::scoped_actor self{fx.sys};
  constexpr int n = 6;
  std::vector<decltype(self->request(accounts.actor(), caf::infinite,
                                     command_envelope{}))>
    replies;
  for (int i = 0; i < n; ++i) {
    command_options opts;
    opts.command_id = "c" + std::to_string(i);
    replies.push_back(
      self->request(accounts.actor(), std::chrono::seconds{10},
                    accounts.make("alice", deposit{1 << i, ""}, opts)));
  }
  std::set<std::string> acked, failed;
  for (auto& reply : replies)
    reply.receive(
      [&](const ack& a) { acked.insert("rev" + std::to_string(a.revision)); },
      [&](caf::error& e) {
        CHECK(annals::is(e, errc::not_persisted));
        failed.insert(render(e));
      });
  CHECK(faulty->failed == 1);
  CHECK_FALSE(failed.empty());
  // Exactly the acknowledged commands are in the journal.
  auto events = fx.store->read_stream(alice, 1).value();
  CHECK(events.size() == 1 + acked.size());
  int64_t sum = 0;
  for (const auto& ev : events)
    if (ev.type == "sample.deposited") {
      annals::tl_variant_t<account::events> v;
      REQUIRE_FALSE(annals::decode_event<account::events>(
        ev.type, ev.schema_version, ev.payload.data(), ev.payload.size(), v));
      sum += std::get<deposited>(v).cents;
    }
  // The aggregate recovered from the journal: its state is what is durable.
  CHECK(accounts.ask("alice", get_balance{}).value() == sum);
  CHECK(fx.rt->stats().storage_failures >= 1);
  CHECK(accounts.ask("alice", deposit{1000, ""}));
  CHECK(accounts.ask("alice", get_balance{}).value() == sum + 1000);
}

TEST_CASE("the runtime opens its LMDB journal and refuses a locked one",
          "[runtime][lmdb]") {
  annals::testing::temp_dir dir;
  annals::testing::test_config conf;
  caf::actor_system sys{conf};
  runtime_config rc;
  rc.data_dir = dir.path();
  rc.journal.sync = durability::unsafe_no_sync;
  rc.journal.initial_map_bytes = 16 << 20;
  auto rt = runtime::start(sys, rc);
  REQUIRE(rt);
  auto accounts = (*rt)->host<account>();
  CHECK(accounts.ask("alice", open{"A"}));
  auto second = runtime::start(sys, rc);
  REQUIRE_FALSE(second);
  CHECK(is(second.error(), journal_errc::locked));
}

TEST_CASE("configuration comes from the command line and an INI file",
          "[runtime][config]") {
  annals::testing::temp_dir dir;
  auto ini = dir.sub("app.ini");
  {
    std::ofstream out{ini};
    out << "[annals]\nsnapshot-every=250\nmax-live=77\n";
  }
  annals::config conf;
  std::string a0 = "prog", a1 = "--annals.data-dir=" + dir.sub("data"),
              a2 = "--annals.passivate-after=5s",
              a3 = "--annals.sync=unsafe-no-sync", a4 = "--config-file=" + ini;
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data()};
  REQUIRE_FALSE(conf.parse(5, argv));
  auto rc = conf.runtime();
  CHECK(rc.data_dir == dir.sub("data"));
  CHECK(rc.hosts.passivate_after == std::chrono::seconds{5});
  CHECK(rc.journal.sync == durability::unsafe_no_sync);
  CHECK(rc.hosts.snapshot_every == 250);
  CHECK(rc.hosts.max_live == 77);
  CHECK(rc.max_recoveries == 16); // default kept
  annals::config bad;
  std::string b1 = "--annals.no-such-option=1";
  char* bargv[] = {a0.data(), b1.data()};
  CHECK(bad.parse(2, bargv));
}

TEST_CASE("the scheduler is work stealing unless the config says otherwise",
          "[runtime][config]") {
  using stealing = caf::scheduler::coordinator<caf::policy::work_stealing>;
  using sharing = caf::scheduler::coordinator<caf::policy::work_sharing>;
  {
    annals::config conf;
    CHECK(caf::get_or(conf, "scheduler.policy", caf::atom(""))
          == caf::atom("stealing"));
    caf::actor_system sys{conf};
    CHECK(dynamic_cast<stealing*>(&sys.scheduler()) != nullptr);
  }
  {
    annals::config conf;
    std::string a0 = "prog", a1 = "--scheduler.policy=sharing";
    char* argv[] = {a0.data(), a1.data()};
    REQUIRE_FALSE(conf.parse(2, argv));
    caf::actor_system sys{conf};
    CHECK(dynamic_cast<sharing*>(&sys.scheduler()) != nullptr);
  }
  {
    annals::config conf;
    std::istringstream ini{"[scheduler]\npolicy='sharing'\n"};
    REQUIRE_FALSE(conf.parse(caf::actor_system_config::string_list{}, ini));
    caf::actor_system sys{conf};
    CHECK(dynamic_cast<sharing*>(&sys.scheduler()) != nullptr);
  }
}

TEST_CASE("a writer with a stale owner epoch is refused and writes nothing",
          "[runtime][epoch]") {
  runtime_fixture fx;
  auto accounts = fx.rt->host<account>();
  auto p = partition_of(alice, fx.store->partition_count());
  fx.rt->set_epoch(p, 3);
  REQUIRE(accounts.ask("alice", deposit{5, ""}));
  CHECK(fx.store->read_stream(alice, 1)->at(0).meta.epoch == 3);
  // Another leader took the partition over (it fenced it at 4); this node
  // still believes in epoch 3. Nothing is written, and the client is told
  // to retry (`unavailable`: its retry reaches the new leader).
  write_batch fence;
  fence.fences.push_back({p, 4});
  REQUIRE(fx.store->commit(fence));
  auto refused = accounts.ask("alice", deposit{7, ""});
  REQUIRE_FALSE(refused);
  CHECK(is(refused.error(), errc::unavailable));
  CHECK(render(refused.error()).find("stale_epoch") != std::string::npos);
  CHECK(fx.store->last_revision(alice).value() == 1);
  // Only a writer at the new epoch gets through.
  fx.rt->set_epoch(p, 4);
  await([&] {
    return static_cast<bool>(accounts.ask("alice", deposit{7, ""}));
  });
  CHECK(fx.store->last_revision(alice).value() == 2);
  CHECK(fx.store->read_stream(alice, 2)->at(0).meta.epoch == 4);
}
