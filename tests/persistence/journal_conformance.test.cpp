// annals -- the journal conformance suite, run against every backend.
#include "annals/persistence/journal.hpp"

#include "journal_backends.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <tuple>
#include <vector>

using namespace annals;
using annals::testing::lmdb_backend;
using annals::testing::memory_backend;

namespace {

event_data ev(std::string type, std::string body) {
  event_data e;
  e.type = std::move(type);
  e.payload = to_bytes(body);
  return e;
}

append_request req(stream_id s, std::vector<event_data> events,
                   expected_revision exp = expected_revision::any(),
                   std::string command_id = {}) {
  append_request r;
  r.stream = std::move(s);
  r.expected = exp;
  r.command_id = std::move(command_id);
  r.events = std::move(events);
  return r;
}

const stream_id alice{"bank.account", "alice"};
const stream_id bob{"bank.account", "bob"};
const stream_id carol{"bank.account", "carol"};

template <class Backend>
Backend single_partition() {
  journal_options opts;
  if constexpr (std::is_same_v<Backend, lmdb_backend>)
    opts = lmdb_backend::default_options();
  opts.partitions = 1;
  return Backend{opts};
}

} // namespace

#define JOURNAL_TEST(name)                                                     \
  TEMPLATE_TEST_CASE(name, "[persistence][conformance]", lmdb_backend,         \
                     memory_backend)

JOURNAL_TEST("appended events read back in order with gap-free revisions") {
  TestType j;
  for (int i = 0; i < 5; ++i) {
    auto res = j->append(req(alice, {ev("t.a", "x" + std::to_string(i)),
                                     ev("t.b", "y" + std::to_string(i))}));
    REQUIRE(res);
    CHECK(res->first_revision == revision(2 * i + 1));
    CHECK(res->last_revision == revision(2 * i + 2));
    CHECK(res->last_position == res->first_position + 1);
    CHECK_FALSE(res->duplicate);
  }
  auto events = j->read_stream(alice, 1);
  REQUIRE(events);
  REQUIRE(events->size() == 10);
  for (std::size_t i = 0; i < events->size(); ++i) {
    const auto& e = (*events)[i];
    CHECK(e.stream == alice);
    CHECK(e.rev == i + 1);
    CHECK(e.partition == partition_of(alice, j->partition_count()));
    CHECK(e.type == (i % 2 == 0 ? "t.a" : "t.b"));
    CHECK(bytes_to_string(e.payload)
          == (i % 2 == 0 ? "x" : "y") + std::to_string(i / 2));
    CHECK(e.timestamp_ns > 0);
  }
  CHECK(j->last_revision(alice).value() == 10);
  CHECK(j->last_revision(bob).value() == 0);
  CHECK(j->read_stream(bob, 1)->empty());
}

JOURNAL_TEST("a stream reads from any revision with a limit") {
  TestType j;
  for (int i = 0; i < 4; ++i)
    REQUIRE(j->append(req(alice, {ev("t", "1"), ev("t", "2"), ev("t", "3")})));
  auto mid = j->read_stream(alice, 5, 4);
  REQUIRE(mid);
  REQUIRE(mid->size() == 4);
  CHECK(mid->front().rev == 5);
  CHECK(mid->back().rev == 8);
  CHECK(j->read_stream(alice, 12)->size() == 1);
  CHECK(j->read_stream(alice, 13)->empty());
  CHECK(j->read_stream(alice, 0, 2)->front().rev == 1);
  CHECK(j->read_stream(alice, 1, 0)->empty());
}

JOURNAL_TEST("partition positions are gap-free across streams") {
  auto j = single_partition<TestType>();
  write_batch b;
  b.appends.push_back(req(alice, {ev("t", "a1"), ev("t", "a2")}));
  b.appends.push_back(req(bob, {ev("t", "b1")}));
  b.appends.push_back(req(alice, {ev("t", "a3")}));
  auto res = j->commit(b);
  REQUIRE(res);
  REQUIRE(res->appends.size() == 3);
  CHECK(res->appends[0]->first_position == 1);
  CHECK(res->appends[1]->first_position == 3);
  CHECK(res->appends[2]->first_position == 4);
  CHECK(res->appends[2]->first_revision == 3);
  auto all = j->read_partition(0, 1);
  REQUIRE(all);
  REQUIRE(all->size() == 4);
  for (std::size_t i = 0; i < 4; ++i)
    CHECK((*all)[i].pos == i + 1);
  CHECK(bytes_to_string((*all)[2].payload) == "b1");
  auto tail = j->read_partition(0, 3, 1);
  REQUIRE(tail->size() == 1);
  CHECK(tail->front().stream == bob);
  CHECK(j->partition_ends().value() == std::vector<position>{4});
  CHECK(j->read_partition(0, 5)->empty());
  CHECK_FALSE(j->read_partition(1, 1));
}

JOURNAL_TEST("partition_ends covers every partition") {
  TestType j;
  REQUIRE(j->append(req(alice, {ev("t", "1"), ev("t", "2")})));
  REQUIRE(j->append(req(bob, {ev("t", "1")})));
  auto ends = j->partition_ends();
  REQUIRE(ends);
  REQUIRE(ends->size() == 1024);
  CHECK((*ends)[partition_of(alice, 1024)] == 2);
  CHECK((*ends)[partition_of(bob, 1024)] == 1);
  position total = 0;
  for (auto e : *ends)
    total += e;
  CHECK(total == 3);
}

JOURNAL_TEST("expected revisions are checked") {
  TestType j;
  using er = expected_revision;
  CHECK(j->append(req(alice, {ev("t", "1")}, er::no_stream())));
  auto again = j->append(req(alice, {ev("t", "1")}, er::no_stream()));
  REQUIRE_FALSE(again);
  CHECK(is(again.error(), journal_errc::wrong_expected_revision));
  CHECK(actual_revision(again.error()) == revision{1});
  CHECK(j->append(req(alice, {ev("t", "2")}, er::exactly(1))));
  auto stale = j->append(req(alice, {ev("t", "x")}, er::exactly(1)));
  REQUIRE_FALSE(stale);
  CHECK(actual_revision(stale.error()) == revision{2});
  CHECK(describe(stale.error()).find("bank.account/alice")
        != std::string::npos);
  CHECK(j->append(req(alice, {ev("t", "3")}, er::stream_exists())));
  auto missing = j->append(req(bob, {ev("t", "1")}, er::stream_exists()));
  REQUIRE_FALSE(missing);
  CHECK(actual_revision(missing.error()) == revision{0});
  CHECK(j->append(req(bob, {ev("t", "1")}, er::exactly(0))));
  CHECK(j->last_revision(alice).value() == 3);
}

JOURNAL_TEST("a conflict inside a batch rejects only that stream's part") {
  TestType j;
  REQUIRE(j->append(req(bob, {ev("t", "b1")})));
  write_batch b;
  b.appends.push_back(req(alice, {ev("t", "a1")}));
  b.appends.push_back(
    req(bob, {ev("t", "b2"), ev("t", "b3")}, expected_revision::no_stream()));
  b.appends.push_back(req(carol, {ev("t", "c1")}));
  auto res = j->commit(b);
  REQUIRE(res);
  REQUIRE(res->appends.size() == 3);
  CHECK(res->appends[0]);
  REQUIRE_FALSE(res->appends[1]);
  CHECK(actual_revision(res->appends[1].error()) == revision{1});
  CHECK(res->appends[2]);
  CHECK(j->last_revision(alice).value() == 1);
  CHECK(j->last_revision(bob).value() == 1); // b2, b3: all or nothing
  CHECK(j->last_revision(carol).value() == 1);
  CHECK(j->read_stream(bob, 1)->size() == 1);
}

JOURNAL_TEST("parts of one stream in one batch see each other") {
  TestType j;
  write_batch b;
  b.appends.push_back(
    req(alice, {ev("t", "1")}, expected_revision::no_stream()));
  b.appends.push_back(
    req(alice, {ev("t", "2")}, expected_revision::exactly(1)));
  b.appends.push_back(
    req(alice, {ev("t", "x")}, expected_revision::exactly(1)));
  auto res = j->commit(b);
  REQUIRE(res);
  CHECK(res->appends[0]);
  CHECK(res->appends[1]);
  CHECK_FALSE(res->appends[2]);
  CHECK(j->last_revision(alice).value() == 2);
}

JOURNAL_TEST("a repeated command id returns the original result") {
  TestType j;
  auto first = j->append(req(alice, {ev("t", "1"), ev("t", "2")},
                             expected_revision::any(), "cmd-1"));
  REQUIRE(first);
  REQUIRE(j->append(req(alice, {ev("t", "3")})));
  auto again = j->append(req(alice, {ev("t", "1"), ev("t", "2")},
                             expected_revision::no_stream(), "cmd-1"));
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->first_revision == first->first_revision);
  CHECK(again->last_revision == first->last_revision);
  CHECK(again->first_position == first->first_position);
  CHECK(j->last_revision(alice).value() == 3);
  // The same id on another stream is another command.
  auto other
    = j->append(req(bob, {ev("t", "1")}, expected_revision::any(), "cmd-1"));
  REQUIRE(other);
  CHECK_FALSE(other->duplicate);
  // Within one batch, the second copy is a duplicate of the first.
  write_batch b;
  b.appends.push_back(req(carol, {ev("t", "1")}, {}, "cmd-2"));
  b.appends.push_back(req(carol, {ev("t", "1")}, {}, "cmd-2"));
  auto res = j->commit(b);
  REQUIRE(res);
  CHECK_FALSE(res->appends[0]->duplicate);
  CHECK(res->appends[1]->duplicate);
  CHECK(j->last_revision(carol).value() == 1);
  // Metadata carries the command id.
  CHECK(j->read_stream(alice, 1)->front().meta.command_id == "cmd-1");
}

JOURNAL_TEST("command ids survive a reopen") {
  TestType j;
  REQUIRE(j->append(req(alice, {ev("t", "1")}, {}, "cmd-9")));
  j.reopen();
  auto again = j->append(req(alice, {ev("t", "1")}, {}, "cmd-9"));
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(j->last_revision(alice).value() == 1);
}

JOURNAL_TEST("every event tells whether it ends its append") {
  auto j = single_partition<TestType>();
  write_batch b;
  b.appends.push_back(
    req(alice, {ev("t", "a1"), ev("t", "a2"), ev("t", "a3")}));
  b.appends.push_back(req(bob, {ev("t", "b1")}));
  REQUIRE(j->commit(b));
  REQUIRE(j->append(req(alice, {ev("t", "a4"), ev("t", "a5")})));
  auto check = [&j] {
    auto all = j->read_partition(0, 1);
    REQUIRE(all);
    std::vector<bool> ends;
    for (const auto& e : *all)
      ends.push_back(e.ends_append);
    CHECK(ends == std::vector<bool>{false, false, true, true, false, true});
    std::vector<bool> seen;
    REQUIRE_FALSE(j->scan_stream(alice, 1, [&seen](const event_view& e) {
      seen.push_back(e.ends_append);
      return true;
    }));
    CHECK(seen == std::vector<bool>{false, false, true, false, true});
  };
  check();
  j.reopen();
  check();
}

JOURNAL_TEST("a verbatim append records its command id without looking it up") {
  TestType j;
  REQUIRE(j->append(req(alice, {ev("t", "1")}, {}, "cmd-1")));
  // A replica copies a leader whose window had already forgotten cmd-1.
  auto copy
    = req(alice, {ev("t", "2")}, expected_revision::exactly(1), "cmd-1");
  copy.verbatim = true;
  auto res = j->append(copy);
  REQUIRE(res);
  CHECK_FALSE(res->duplicate);
  CHECK(res->first_revision == 2);
  // An ordinary retry of cmd-1 is a duplicate of the newest append.
  auto retry = j->append(req(alice, {ev("t", "3")}, {}, "cmd-1"));
  REQUIRE(retry);
  CHECK(retry->duplicate);
  CHECK(j->last_revision(alice).value() == 2);
}

/// Options of backend `B` with a per-stream dedupe window of `window` events.
template <class B>
journal_options with_window(uint32_t window) {
  journal_options opts;
  if constexpr (std::is_same_v<B, lmdb_backend>)
    opts = lmdb_backend::default_options();
  opts.dedupe_window = window;
  return opts;
}

JOURNAL_TEST("the dedupe window is the stream's last events") {
  TestType j{with_window<TestType>(4)};
  REQUIRE(j->append(req(alice, {ev("t", "x")}, {}, "cmd-0"))); // revision 1
  for (int i = 0; i < 3; ++i)
    REQUIRE(j->append(req(alice, {ev("t", "x")}))); // revisions 2..4
  // Revision 1 is among the last 4 events: recognised.
  auto dup = j->append(req(alice, {ev("t", "x")}, {}, "cmd-0"));
  REQUIRE(dup);
  CHECK(dup->duplicate);
  CHECK(dup->first_revision == 1);
  CHECK(j->find_command(alice, "cmd-0").value().has_value());
  REQUIRE(j->append(req(alice, {ev("t", "x")}))); // revision 5
  // Now it is not: a retry is a new command.
  CHECK_FALSE(j->find_command(alice, "cmd-0").value().has_value());
  auto again = j->append(req(alice, {ev("t", "x")}, {}, "cmd-0"));
  REQUIRE(again);
  CHECK_FALSE(again->duplicate);
  CHECK(again->first_revision == 6);
}

JOURNAL_TEST("load on other streams does not shrink a stream's dedupe window") {
  TestType j{with_window<TestType>(8)};
  REQUIRE(j->append(req(alice, {ev("t", "a")}, {}, "edge")));
  for (int i = 0; i < 7; ++i)
    REQUIRE(j->append(req(alice, {ev("t", "a")})));
  // Thousands of commands with ids on other streams, batched like load.
  for (int c = 0; c < 40; ++c) {
    write_batch b;
    for (int k = 0; k < 100; ++k)
      b.appends.push_back(req({"load", "s" + std::to_string(k)}, {ev("t", "l")},
                              {}, "load-" + std::to_string(c * 100 + k)));
    REQUIRE(j->commit(b));
  }
  j.reopen();
  // At the window's edge (the 8th last event of alice): still recognised.
  auto dup = j->append(req(alice, {ev("t", "a")}, {}, "edge"));
  REQUIRE(dup);
  CHECK(dup->duplicate);
  CHECK(dup->first_revision == 1);
  CHECK(j->last_revision(alice).value() == 8);
  CHECK(
    j->append(req({"load", "s7"}, {ev("t", "l")}, {}, "load-3907"))->duplicate);
}

JOURNAL_TEST("an append at the window's edge is found whole") {
  TestType j{with_window<TestType>(3)};
  REQUIRE(j->append(
    req(alice, {ev("t", "1"), ev("t", "2"), ev("t", "3")}, {}, "multi")));
  REQUIRE(j->append(req(alice, {ev("t", "4")})));
  // Only revision 3 of "multi" is among the last 3 events; the result is
  // the whole append.
  auto found = j->find_command(alice, "multi").value();
  REQUIRE(found);
  CHECK(found->first_revision == 1);
  CHECK(found->last_revision == 3);
  CHECK(found->last_position == found->first_position + 2);
  CHECK(found->duplicate);
}

JOURNAL_TEST("a dedupe window of 0 turns deduplication off") {
  TestType j{with_window<TestType>(0)};
  REQUIRE(j->append(req(alice, {ev("t", "x")}, {}, "cmd")));
  auto again = j->append(req(alice, {ev("t", "x")}, {}, "cmd"));
  REQUIRE(again);
  CHECK_FALSE(again->duplicate);
  CHECK(j->last_revision(alice).value() == 2);
}

JOURNAL_TEST("the log reads in commit order and locates partition positions") {
  journal_options opts;
  if constexpr (std::is_same_v<TestType, lmdb_backend>)
    opts = lmdb_backend::default_options();
  opts.partitions = 4;
  TestType j{opts};
  for (int c = 0; c < 30; ++c) {
    write_batch b;
    for (int k = 0; k < 5; ++k)
      b.appends.push_back(
        req({"log", "s" + std::to_string((c * 5 + k) % 11)}, {ev("t", "x")}));
    REQUIRE(j->commit(b));
  }
  std::vector<position> seen(4, 0);
  uint64_t prev = 0, count = 0;
  std::vector<std::pair<uint64_t, std::pair<partition_id, position>>> order;
  auto err = j->scan_log(0, [&](uint64_t seq, const event_view& v) {
    CHECK(seq > prev);
    prev = seq;
    CHECK(v.pos == seen[v.partition] + 1); // each partition in order
    seen[v.partition] = v.pos;
    order.push_back({seq, {v.partition, v.pos}});
    ++count;
    return true;
  });
  CHECK_FALSE(err);
  CHECK(count == 150);
  // locate() finds each event's sequence number; scan_log resumes there.
  for (const auto& [seq, at] : order) {
    auto found = j->locate(at.first, at.second);
    REQUIRE(found);
    CHECK(*found == std::optional<uint64_t>{seq});
  }
  auto [mid_seq, mid] = order[70];
  bool first = true;
  REQUIRE_FALSE(j->scan_log(mid_seq, [&](uint64_t seq, const event_view& v) {
    CHECK(seq == mid_seq);
    CHECK(v.partition == mid.first);
    CHECK(v.pos == mid.second);
    first = false;
    return false;
  }));
  CHECK_FALSE(first);
  CHECK_FALSE(j->locate(0, seen[0] + 1).value().has_value());
  CHECK_FALSE(j->locate(4, 1));
  // Truncated events leave the log.
  REQUIRE(j->truncate_partition(0, 0));
  uint64_t left = 0;
  REQUIRE_FALSE(j->scan_log(0, [&](uint64_t, const event_view& v) {
    CHECK(v.partition != 0);
    ++left;
    return true;
  }));
  CHECK(left == 150 - seen[0]);
}

JOURNAL_TEST("invalid appends are refused and write nothing") {
  TestType j;
  write_batch b;
  b.appends.push_back(req(alice, {}));                 // no events
  b.appends.push_back(req({"", "x"}, {ev("t", "1")})); // no category
  b.appends.push_back(req({"c", std::string(300, 'x')}, {ev("t", "1")}));
  b.appends.push_back(req(bob, {ev("", "1")})); // no type
  b.appends.push_back(req(bob, {ev("t", "1")}, {}, std::string(101, 'c')));
  event_data big = ev("t", "");
  big.payload.resize((std::size_t{4} << 20) + 1);
  b.appends.push_back(req(carol, {big}));
  auto res = j->commit(b);
  REQUIRE(res);
  for (std::size_t i = 0; i < res->appends.size(); ++i) {
    INFO("part " << i);
    REQUIRE_FALSE(res->appends[i]);
  }
  CHECK(is(res->appends[0].error(), journal_errc::invalid_argument));
  CHECK(is(res->appends[5].error(), journal_errc::too_large));
  CHECK(j->stats()->events == 0);
}

JOURNAL_TEST("a stale owner epoch is refused") {
  TestType j;
  auto p = partition_of(alice, j->partition_count());
  auto r1 = req(alice, {ev("t", "1")});
  r1.epoch = 5;
  REQUIRE(j->append(r1));
  CHECK(j->partition_epoch(p).value() == 5);
  auto r2 = req(alice, {ev("t", "2")});
  r2.epoch = 4;
  auto res = j->append(r2);
  REQUIRE_FALSE(res);
  CHECK(is(res.error(), journal_errc::stale_epoch));
  auto r3 = req(alice, {ev("t", "3")});
  r3.epoch = 6;
  REQUIRE(j->append(r3));
  auto events = j->read_stream(alice, 1);
  REQUIRE(events->size() == 2);
  CHECK((*events)[0].meta.epoch == 5);
  CHECK((*events)[1].meta.epoch == 6);
  j.reopen();
  CHECK(j->partition_epoch(p).value() == 6);
}

JOURNAL_TEST("an epoch fence refuses older writers without an event") {
  TestType j;
  auto p = partition_of(alice, j->partition_count());
  auto r1 = req(alice, {ev("t", "1")});
  r1.epoch = 3;
  REQUIRE(j->append(r1));
  write_batch fence;
  fence.fences.push_back({p, 7});
  fence.fences.push_back({p, 2}); // lower: no effect
  REQUIRE(j->commit(fence));
  CHECK(j->partition_epoch(p).value() == 7);
  auto r2 = req(alice, {ev("t", "2")});
  r2.epoch = 3;
  auto res = j->append(r2);
  REQUIRE_FALSE(res);
  CHECK(is(res.error(), journal_errc::stale_epoch));
  CHECK(j->last_revision(alice).value() == 1);
  j.reopen();
  CHECK(j->partition_epoch(p).value() == 7);
  write_batch bad;
  bad.fences.push_back({j->partition_count(), 9});
  auto rb = j->commit(bad);
  REQUIRE_FALSE(rb);
  CHECK(is(rb.error(), journal_errc::invalid_argument));
}

JOURNAL_TEST("checkpoints can be listed") {
  TestType j;
  write_batch b;
  b.checkpoints.push_back({"saga", 4, 10});
  b.checkpoints.push_back({"balances", 4, 12});
  b.checkpoints.push_back({"balances", 9, 3});
  REQUIRE(j->commit(b));
  j.reopen();
  std::vector<std::tuple<std::string, partition_id, position>> seen;
  auto err = j->scan_checkpoints(
    [&](std::string_view c, partition_id p, position pos) {
      seen.emplace_back(std::string{c}, p, pos);
      return true;
    });
  CHECK_FALSE(err);
  std::sort(seen.begin(), seen.end());
  using row = std::tuple<std::string, partition_id, position>;
  CHECK(seen
        == std::vector<row>{
          {"balances", 4, 12}, {"balances", 9, 3}, {"saga", 4, 10}});
}

JOURNAL_TEST("snapshots: latest, bounded, pruned") {
  journal_options opts;
  if constexpr (std::is_same_v<TestType, lmdb_backend>)
    opts = lmdb_backend::default_options();
  opts.snapshots_kept = 2;
  TestType j{opts};
  CHECK_FALSE(j->load_snapshot(alice).value());
  for (revision r : {10, 20, 30}) {
    write_batch b;
    b.snapshots.push_back(
      {alice, r, "bank.account", 1, to_bytes("s" + std::to_string(r))});
    REQUIRE(j->commit(b));
  }
  auto latest = j->load_snapshot(alice);
  REQUIRE(latest);
  REQUIRE(*latest);
  CHECK((*latest)->rev == 30);
  CHECK(bytes_to_string((*latest)->payload) == "s30");
  CHECK(j->load_snapshot(alice, 29).value()->rev == 20);
  CHECK_FALSE(j->load_snapshot(alice, 19).value()); // 10 was pruned
  CHECK_FALSE(j->load_snapshot(bob).value());
  CHECK(j->stats()->snapshots == 2);
}

JOURNAL_TEST("checkpoints and read models commit with the events") {
  TestType j;
  write_batch b;
  b.appends.push_back(req(alice, {ev("t", "1")}));
  b.checkpoints.push_back({"balances", 3, 17});
  b.models.push_back({"balances", "alice", "100", false});
  b.models.push_back({"balances", "bob", "5", false});
  REQUIRE(j->commit(b));
  j.reopen();
  CHECK(j->load_checkpoint("balances", 3).value() == position{17});
  CHECK_FALSE(j->load_checkpoint("balances", 4).value());
  CHECK(j->load_model("balances", "alice").value() == std::string{"100"});
  write_batch b2;
  b2.models.push_back({"balances", "bob", "", true});
  b2.checkpoints.push_back({"balances", 3, 18});
  REQUIRE(j->commit(b2));
  CHECK_FALSE(j->load_model("balances", "bob").value());
  CHECK(j->load_checkpoint("balances", 3).value() == position{18});
  // A malformed checkpoint rejects the whole batch.
  write_batch bad;
  bad.appends.push_back(req(carol, {ev("t", "1")}));
  bad.checkpoints.push_back({"x", 5000, 1});
  auto res = j->commit(bad);
  REQUIRE_FALSE(res);
  CHECK(is(res.error(), journal_errc::invalid_argument));
  CHECK(j->last_revision(carol).value() == 0);
}

JOURNAL_TEST("reopening returns everything") {
  TestType j;
  std::set<std::string> streams;
  for (int i = 0; i < 50; ++i) {
    write_batch b;
    for (int s = 0; s < 7; ++s)
      b.appends.push_back(
        req({"c", std::to_string(s)}, {ev("t", std::to_string(i))}));
    REQUIRE(j->commit(b));
  }
  j.reopen();
  for (int s = 0; s < 7; ++s) {
    auto events = j->read_stream({"c", std::to_string(s)}, 1);
    REQUIRE(events);
    REQUIRE(events->size() == 50);
    for (int i = 0; i < 50; ++i)
      CHECK(bytes_to_string((*events)[static_cast<std::size_t>(i)].payload)
            == std::to_string(i));
  }
  auto rep = j->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  CHECK(rep->events == 350);
  CHECK(rep->streams == 7);
}

JOURNAL_TEST("find_command returns the original result") {
  TestType j;
  CHECK_FALSE(j->find_command(alice, "cmd-x").value());
  auto res = j->append(req(alice, {ev("t", "1"), ev("t", "2")}, {}, "cmd-x"));
  REQUIRE(res);
  auto found = j->find_command(alice, "cmd-x");
  REQUIRE(found);
  REQUIRE(*found);
  CHECK((*found)->first_revision == res->first_revision);
  CHECK((*found)->last_revision == res->last_revision);
  CHECK((*found)->duplicate);
  CHECK_FALSE(j->find_command(bob, "cmd-x").value());
}

JOURNAL_TEST("scans visit in order and stop when asked") {
  TestType j;
  for (int i = 0; i < 10; ++i)
    REQUIRE(j->append(req(alice, {ev("t", std::to_string(i))})));
  std::vector<revision> seen;
  auto err = j->scan_stream(alice, 3, [&](const event_view& v) {
    seen.push_back(v.rev);
    CHECK(v.category == "bank.account");
    CHECK(v.id == "alice");
    CHECK(std::string(reinterpret_cast<const char*>(v.payload), v.payload_size)
          == std::to_string(v.rev - 1));
    return seen.size() < 4;
  });
  CHECK_FALSE(err);
  CHECK(seen == std::vector<revision>{3, 4, 5, 6});
  std::vector<position> positions;
  err = j->scan_partition(partition_of(alice, j->partition_count()), 9,
                          [&](const event_view& v) {
                            positions.push_back(v.pos);
                            return true;
                          });
  CHECK_FALSE(err);
  CHECK(positions == std::vector<position>{9, 10});
}

JOURNAL_TEST("read models scan in key order within their model") {
  TestType j;
  write_batch b;
  b.models.push_back({"m1", "b", "2", false});
  b.models.push_back({"m1", "a", "1", false});
  b.models.push_back({"m2", "a", "x", false});
  b.models.push_back({"m", "z", "y", false});
  REQUIRE(j->commit(b));
  std::vector<std::string> seen;
  CHECK_FALSE(j->scan_model("m1", [&](std::string_view k, std::string_view v) {
    seen.push_back(std::string{k} + "=" + std::string{v});
    return true;
  }));
  CHECK(seen == std::vector<std::string>{"a=1", "b=2"});
}
