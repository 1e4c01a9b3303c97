// annals -- test support for the journal upgrade: histories of write
// batches, applied alike to a memory journal (what an upgraded journal must
// read like) and to a format-1 journal, and the comparison of two journals
// through the public API.
#pragma once

#include "annals/persistence/journal.hpp"

#include "format1_writer.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace annals::testing {

/// Write batches and what they touch.
struct history {
  uint32_t partitions = 0;
  std::vector<write_batch> batches;

  std::set<stream_id> streams() const {
    std::set<stream_id> out;
    for (const auto& b : batches)
      for (const auto& a : b.appends)
        out.insert(a.stream);
    return out;
  }
};

/// The stamp of the `n`-th event of a history (never 0, so no journal
/// stamps its own clock).
inline int64_t history_time(uint64_t n) {
  return int64_t{1'700'000'000'000'000'000} + static_cast<int64_t>(n) * 1000;
}

/// The history in tests/data/journal_format1 (written by the format-1
/// journal itself, 8 partitions; see the README there). Never change it.
inline history golden_history() {
  history h;
  h.partitions = 8;
  uint64_t n = 0;
  auto ev = [&](std::string type, std::string body, std::string corr = {},
                std::string cause = {}, uint32_t schema = 1) {
    event_data e;
    e.type = std::move(type);
    e.schema_version = schema;
    e.timestamp_ns = history_time(++n);
    e.correlation_id = std::move(corr);
    e.causation_id = std::move(cause);
    e.payload = to_bytes(body);
    return e;
  };
  auto app = [](stream_id s, std::string cmd, uint64_t epoch,
                std::vector<event_data> events) {
    append_request r;
    r.stream = std::move(s);
    r.command_id = std::move(cmd);
    r.epoch = epoch;
    r.events = std::move(events);
    return r;
  };
  stream_id alice{"bank.account", "alice"}, bob{"bank.account", "bob"},
    carol{"bank.account", "carol"}, t1{"bank.transfer", "t1"},
    empty_id{"bank.ledger", ""};
  write_batch b1;
  b1.appends.push_back(
    app(alice, "open-alice", 0, {ev("bank.account_opened", "alice")}));
  b1.appends.push_back(
    app(bob, "open-bob", 0, {ev("bank.account_opened", "bob")}));
  b1.appends.push_back(app(carol, "", 0,
                           {ev("bank.account_opened", "carol"),
                            ev("bank.money_deposited", "100", "", "", 2)}));
  h.batches.push_back(std::move(b1));
  write_batch b2;
  b2.appends.push_back(
    app(t1, "transfer-1", 1,
        {ev("bank.transfer_started", "alice->bob 50", "saga-1", "http-1"),
         ev("bank.transfer_debited", "50", "saga-1", "t1-1"),
         ev("bank.transfer_credited", "50", "saga-1", "t1-2")}));
  b2.appends.push_back(
    app(alice, "dep-1", 1, {ev("bank.money_deposited", "500", "saga-0")}));
  b2.appends.push_back(app(empty_id, "ledger-1", 0,
                           {ev("bank.ledger_opened", std::string(3000, 'L'))}));
  b2.checkpoints.push_back({"bank.balances", 0, 1});
  b2.models.push_back({"balances", "alice", "500", false});
  h.batches.push_back(std::move(b2));
  write_batch b3;
  b3.appends.push_back(app(alice, "wd-1", 2,
                           {ev("bank.money_withdrawn", "20", "saga-2"),
                            ev("bank.money_withdrawn", "30", "saga-2")}));
  b3.appends.push_back(
    app(bob, "", 2, {ev("bank.money_deposited", std::string("\0\1\2", 3))}));
  b3.snapshots.push_back({alice, 2, "bank.account_state", 1, to_bytes("s2")});
  b3.snapshots.push_back({alice, 4, "bank.account_state", 3, to_bytes("s4")});
  b3.snapshots.push_back({t1, 3, "bank.transfer_state", 1, to_bytes("done")});
  b3.checkpoints.push_back({"bank.balances", 3, 2});
  b3.checkpoints.push_back({"audit", 7, 0});
  b3.models.push_back({"balances", "bob", "0", false});
  b3.models.push_back({"balances", "carol", "100", false});
  b3.models.push_back({"owners", "alice", "Alice A.", false});
  h.batches.push_back(std::move(b3));
  write_batch b4;
  b4.appends.push_back(
    app(carol, "wd-carol", 3, {ev("bank.money_withdrawn", "10")}));
  b4.models.push_back({"balances", "carol", "90", false});
  b4.models.push_back({"owners", "alice", "", true});
  b4.fences.push_back({0, 9});
  b4.fences.push_back({5, 7});
  h.batches.push_back(std::move(b4));
  return h;
}

/// A random history over `partitions`: `appends` appends of 1-4 events in
/// batches of up to 40, on 200 streams of three categories (one with empty
/// ids), most with command ids, epochs rising over time, some payloads
/// large; snapshots, checkpoints, read-model rows (some erased) and
/// fences.
inline history random_history(uint32_t seed, int appends, uint32_t partitions) {
  std::mt19937_64 rng{seed};
  auto pick = [&](uint64_t n) { return rng() % n; };
  history h;
  h.partitions = partitions;
  std::map<stream_id, revision> heads;
  uint64_t n = 0;
  int done = 0;
  while (done < appends) {
    write_batch b;
    auto k = 1 + static_cast<int>(pick(40));
    for (int i = 0; i < k && done < appends; ++i, ++done) {
      append_request r;
      static constexpr const char* categories[] = {"acct", "order", "x"};
      auto c = pick(3);
      r.stream = {categories[c], c == 2 ? "" : "s" + std::to_string(pick(200))};
      if (pick(10) < 7)
        r.command_id = "cmd-" + std::to_string(done);
      if (pick(4) == 0)
        r.epoch = 1 + static_cast<uint64_t>(done) * 5 / appends;
      auto events = 1 + pick(4);
      for (uint64_t e = 0; e < events; ++e) {
        event_data ev;
        ev.type = "t" + std::to_string(pick(5));
        ev.schema_version = 1 + static_cast<uint32_t>(pick(3));
        ev.timestamp_ns = history_time(++n);
        if (pick(3) == 0)
          ev.correlation_id = "corr-" + std::to_string(pick(50));
        if (pick(3) == 0)
          ev.causation_id = "cause-" + std::to_string(n);
        auto size = pick(50) == 0 ? 5000 + pick(20000) : pick(120);
        for (uint64_t j = 0; j < size; ++j)
          ev.payload.push_back(static_cast<std::byte>(rng()));
        r.events.push_back(std::move(ev));
      }
      heads[r.stream] += events;
      b.appends.push_back(std::move(r));
    }
    if (pick(5) == 0 && !heads.empty()) {
      auto it = std::next(heads.begin(), static_cast<long>(pick(heads.size())));
      b.snapshots.push_back({it->first, 1 + pick(it->second), "state", 1,
                             to_bytes("snap-" + std::to_string(n))});
    }
    if (pick(3) == 0)
      b.checkpoints.push_back({"proj-" + std::to_string(pick(3)),
                               static_cast<partition_id>(pick(partitions)),
                               pick(100)});
    if (pick(3) == 0)
      b.models.push_back({"m" + std::to_string(pick(2)),
                          "k" + std::to_string(pick(30)),
                          "v" + std::to_string(n), pick(6) == 0});
    h.batches.push_back(std::move(b));
  }
  write_batch last;
  last.fences.push_back({0, 40});
  last.fences.push_back({partitions - 1, 41});
  h.batches.push_back(std::move(last));
  return h;
}

/// Options under which a journal keeps every snapshot of a history.
inline journal_options history_options(const history& h) {
  journal_options opts;
  opts.partitions = h.partitions;
  opts.snapshots_kept = 1000;
  return opts;
}

/// A memory journal that committed `h`: what its upgrade must read like.
inline std::unique_ptr<journal> expected_journal(const history& h) {
  auto j = make_memory_journal(history_options(h));
  for (const auto& b : h.batches) {
    auto res = j->commit(b);
    REQUIRE(res);
    for (const auto& a : res->appends)
      REQUIRE(a);
  }
  return j;
}

/// Writes `h` in format 1 into `dir` (which must exist).
inline void write_format1(const history& h, const std::string& dir) {
  format1_writer w{dir, h.partitions};
  for (const auto& b : h.batches) {
    auto res = w.commit(b, history_time(0));
    for (const auto& a : res.appends)
      REQUIRE(a);
  }
}

/// Checks that `got` reads like `want` after committing `h`: every event of
/// every partition and stream (with revisions, positions and metadata), the
/// snapshots, checkpoints, read models, owner epochs, epoch lineages and
/// remembered command ids; and that `got` verifies clean.
inline void check_same(const journal& want, const journal& got,
                       const history& h) {
  REQUIRE(got.partition_count() == want.partition_count());
  auto want_ends = want.partition_ends();
  auto got_ends = got.partition_ends();
  REQUIRE(want_ends);
  REQUIRE(got_ends);
  CHECK(*got_ends == *want_ends);
  for (partition_id p = 0; p < h.partitions; ++p) {
    INFO("partition " << p);
    auto a = want.read_partition(p, 1);
    auto b = got.read_partition(p, 1);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*b == *a);
    CHECK(got.partition_epoch(p) == want.partition_epoch(p));
    CHECK(got.partition_lineage(p) == want.partition_lineage(p));
  }
  std::set<std::pair<stream_id, revision>> snaps;
  std::set<std::string> models;
  for (const auto& batch : h.batches) {
    for (const auto& s : batch.snapshots)
      snaps.emplace(s.stream, s.rev);
    for (const auto& m : batch.models)
      models.insert(m.model);
    for (const auto& a : batch.appends)
      if (!a.command_id.empty()) {
        INFO("stream " << to_string(a.stream) << " command " << a.command_id);
        CHECK(got.find_command(a.stream, a.command_id)
              == want.find_command(a.stream, a.command_id));
      }
  }
  for (const auto& s : h.streams()) {
    INFO("stream " << to_string(s));
    auto a = want.read_stream(s, 1);
    auto b = got.read_stream(s, 1);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*b == *a);
    CHECK(got.last_revision(s) == want.last_revision(s));
  }
  for (const auto& [s, rev] : snaps) {
    INFO("snapshot of " << to_string(s) << " at " << rev);
    auto a = want.load_snapshot(s, rev);
    auto b = got.load_snapshot(s, rev);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*b == *a);
  }
  using row = std::tuple<std::string, partition_id, position>;
  auto checkpoints = [](const journal& j) {
    std::set<row> out;
    auto err = j.scan_checkpoints(
      [&](std::string_view consumer, partition_id p, position pos) {
        out.emplace(std::string{consumer}, p, pos);
        return true;
      });
    REQUIRE_FALSE(err);
    return out;
  };
  CHECK(checkpoints(got) == checkpoints(want));
  for (const auto& m : models) {
    auto rows = [&](const journal& j) {
      std::map<std::string, std::string> out;
      auto err = j.scan_model(m, [&](std::string_view k, std::string_view v) {
        out.emplace(std::string{k}, std::string{v});
        return true;
      });
      REQUIRE_FALSE(err);
      return out;
    };
    INFO("model " << m);
    CHECK(rows(got) == rows(want));
  }
  auto rep = got.verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
}

} // namespace annals::testing
