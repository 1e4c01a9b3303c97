// annals -- the LMDB journal's format 2: a log in commit order whose stream
// and partition indexes are written behind it in bulk. Reads must agree with
// the log at every moment (during flushes too) and after every reopen.
#include "annals/persistence/journal.hpp"

#include "journal_backends.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <lmdb.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

using namespace annals;
using annals::testing::lmdb_backend;
using annals::testing::one;
using annals::testing::temp_dir;

namespace {

journal_options small_tail(uint32_t partitions, uint64_t max_unindexed) {
  auto opts = lmdb_backend::default_options();
  opts.partitions = partitions;
  opts.max_unindexed_events = max_unindexed;
  return opts;
}

stream_id nth(std::size_t i) {
  return {"idx", "s" + std::to_string(i)};
}

/// Checks that every stream and partition reads back gap-free and complete.
void check_reads(journal& j, const std::vector<revision>& heads,
                 uint32_t partitions) {
  uint64_t total = 0;
  for (std::size_t i = 0; i < heads.size(); ++i) {
    auto events = j.read_stream(nth(i), 1);
    REQUIRE(events);
    REQUIRE(events->size() == heads[i]);
    for (std::size_t k = 0; k < events->size(); ++k)
      REQUIRE((*events)[k].rev == k + 1);
    // A read from the middle starts exactly there.
    if (heads[i] > 2) {
      auto tail = j.read_stream(nth(i), heads[i] - 1);
      REQUIRE(tail);
      REQUIRE(tail->size() == 2);
      CHECK(tail->front().rev == heads[i] - 1);
    }
    CHECK(j.last_revision(nth(i)).value() == heads[i]);
    total += heads[i];
  }
  uint64_t in_partitions = 0;
  auto ends = j.partition_ends().value();
  for (partition_id p = 0; p < partitions; ++p) {
    auto events = j.read_partition(p, 1);
    REQUIRE(events);
    REQUIRE(events->size() == ends[p]);
    for (std::size_t k = 0; k < events->size(); ++k)
      REQUIRE((*events)[k].pos == k + 1);
    in_partitions += events->size();
  }
  CHECK(in_partitions == total);
  auto rep = j.verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  CHECK(rep->events == total);
}

} // namespace

TEST_CASE("bulk-written indexes agree with the log before and after reopens",
          "[persistence][lmdb][index]") {
  constexpr uint32_t partitions = 16;
  constexpr std::size_t streams = 500;
  lmdb_backend j{small_tail(partitions, 600)};
  std::mt19937 rng{Catch::rngSeed()};
  std::vector<revision> heads(streams, 0);
  bool saw_tail = false;
  for (int round = 0; round < 4; ++round) {
    for (int c = 0; c < 40; ++c) {
      write_batch batch;
      for (int k = 0; k < 40; ++k) {
        auto i = rng() % streams;
        auto req = one(nth(i), "e" + std::to_string(heads[i] + 1));
        if (rng() % 3 == 0)
          req.events.push_back(req.events.front());
        heads[i] += req.events.size();
        batch.appends.push_back(std::move(req));
      }
      auto res = j->commit(batch);
      REQUIRE(res);
      for (auto& part : res->appends)
        REQUIRE(part);
      auto st = j->stats().value();
      saw_tail = saw_tail || st.unindexed_events > 0;
      // Flushing keeps up: the tail stays within its bound (plus a batch).
      CHECK(st.unindexed_events <= 600 + 80);
    }
    check_reads(*j, heads, partitions);
    j.reopen(); // the tail is rebuilt from the log
    check_reads(*j, heads, partitions);
  }
  CHECK(saw_tail);
  auto st = j->stats().value();
  // Bulk: an index entry carries many events.
  CHECK(st.stream_index_entries * 2 < st.events);
}

TEST_CASE("one hot stream costs a few index entries, not one per append",
          "[persistence][lmdb][index]") {
  lmdb_backend j{small_tail(4, 256)};
  const stream_id hot{"idx", "hot"};
  for (int c = 0; c < 100; ++c) {
    write_batch batch;
    for (int k = 0; k < 100; ++k)
      batch.appends.push_back(one(hot, "x"));
    REQUIRE(j->commit(batch));
  }
  auto st = j->stats().value();
  CHECK(st.events == 10'000);
  CHECK(st.stream_index_entries < 100);
  j.reopen();
  uint64_t n = 0;
  auto err = j->scan_stream(
    hot, 1, [&](const event_view& ev) { return ev.rev == ++n; });
  CHECK_FALSE(err);
  CHECK(n == 10'000);
}

TEST_CASE("readers running during index flushes see gap-free, growing "
          "prefixes",
          "[persistence][lmdb][index][concurrency]") {
  constexpr uint32_t partitions = 8;
  constexpr std::size_t streams = 64;
  lmdb_backend j{small_tail(partitions, 64)};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<int> bad{0};
  auto reader = [&](unsigned seed) {
    std::mt19937 rng{seed};
    std::vector<revision> seen(streams, 0);
    std::vector<position> seen_p(partitions, 0);
    while (!done.load()) {
      auto i = rng() % streams;
      auto events = j->read_stream(nth(i), 1);
      if (!events) {
        ++bad;
        continue;
      }
      for (std::size_t k = 0; k < events->size(); ++k)
        if ((*events)[k].rev != k + 1)
          ++bad;
      if (events->size() < seen[i])
        ++bad; // a later read never sees less
      seen[i] = events->size();
      auto p = static_cast<partition_id>(rng() % partitions);
      auto part = j->read_partition(p, 1);
      if (!part) {
        ++bad;
        continue;
      }
      for (std::size_t k = 0; k < part->size(); ++k)
        if ((*part)[k].pos != k + 1)
          ++bad;
      if (part->size() < seen_p[p])
        ++bad;
      seen_p[p] = part->size();
      ++reads;
    }
  };
  std::thread r1{reader, 1u}, r2{reader, 2u};
  std::mt19937 rng{Catch::rngSeed()};
  std::vector<revision> heads(streams, 0);
  while (reads.load() < 1) // the readers run before and while we write
    std::this_thread::yield();
  for (int c = 0; c < 400; ++c) {
    write_batch batch;
    for (int k = 0; k < 8; ++k) {
      auto i = rng() % streams;
      batch.appends.push_back(one(nth(i), "e"));
      ++heads[i];
    }
    REQUIRE(j->commit(batch));
  }
  done = true;
  r1.join();
  r2.join();
  CHECK(bad.load() == 0);
  check_reads(*j, heads, partitions);
}

TEST_CASE("a format-1 directory is refused with the command that converts it",
          "[persistence][lmdb][format]") {
  temp_dir dir;
  {
    // The meta table of a format-1 journal: "format" = 1, "partitions".
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi meta = 0, log = 0;
    REQUIRE(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta) == 0);
    REQUIRE(mdb_dbi_open(txn, "log", MDB_CREATE, &log) == 0);
    uint32_t one_le = 1, parts = 1024; // little-endian host (x86-64, arm64)
    MDB_val fk{6, const_cast<char*>("format")}, fv{4, &one_le};
    MDB_val pk{10, const_cast<char*>("partitions")}, pv{4, &parts};
    REQUIRE(mdb_put(txn, meta, &fk, &fv, 0) == 0);
    REQUIRE(mdb_put(txn, meta, &pk, &pv, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  for (bool read_only : {false, true}) {
    auto j = read_only ? open_lmdb_journal_read_only(dir.path())
                       : open_lmdb_journal(dir.path());
    REQUIRE_FALSE(j);
    CHECK(is(j.error(), journal_errc::unsupported_format));
    auto text = describe(j.error());
    INFO(text);
    CHECK(text.find("format 1") != std::string::npos);
    CHECK(text.find("annals-journal upgrade " + dir.path())
          != std::string::npos);
  }
  // Nothing of format 2 was created beside it.
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.path().c_str(), MDB_RDONLY, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi idx = 0;
  CHECK(mdb_dbi_open(txn, "stream_index", 0, &idx) == MDB_NOTFOUND);
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

TEST_CASE("dedupe works from the log when the cache holds nothing",
          "[persistence][lmdb][dedupe]") {
  auto opts = small_tail(4, 64);
  opts.dedupe_cache_bytes = 0; // every stream is read from the log
  lmdb_backend j{opts};
  for (int i = 0; i < 50; ++i)
    REQUIRE(j->append(one(nth(i % 5), "x", "cmd-" + std::to_string(i))));
  CHECK(j->stats().value().remembered_commands == 0);
  for (int i = 0; i < 50; ++i) {
    auto again = j->append(one(nth(i % 5), "x", "cmd-" + std::to_string(i)));
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->first_revision == static_cast<revision>(i / 5 + 1));
  }
  CHECK(j->last_revision(nth(0)).value() == 10);
}

TEST_CASE("the dedupe cache answers for active streams and is bounded",
          "[persistence][lmdb][dedupe]") {
  auto opts = small_tail(4, 64);
  opts.dedupe_cache_bytes = 64 << 10;
  lmdb_backend j{opts};
  for (int i = 0; i < 2000; ++i)
    REQUIRE(j->append(one(nth(i % 500), "x", "c" + std::to_string(i))));
  auto st = j->stats().value();
  CHECK(st.remembered_commands > 0);
  CHECK(st.dedupe_cache_bytes <= (64u << 10));
  // Evicted or not, every id in the window is recognised.
  for (int i = 0; i < 2000; i += 37)
    CHECK(j->find_command(nth(i % 500), "c" + std::to_string(i))
            .value()
            .has_value());
}
