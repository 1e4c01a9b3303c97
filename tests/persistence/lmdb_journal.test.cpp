// annals -- LMDB-specific journal tests: corruption, map growth, locking,
// partition count and format checks.
#include "annals/persistence/journal.hpp"

#include "journal_backends.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <lmdb.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

using namespace annals;
using annals::testing::lmdb_backend;
using annals::testing::one;
using annals::testing::temp_dir;

namespace {

journal_options test_options() {
  return lmdb_backend::default_options();
}

std::unique_ptr<journal> open_or_fail(const std::string& dir,
                                      journal_options opts = test_options()) {
  auto j = open_lmdb_journal(dir, opts);
  if (!j)
    FAIL(describe(j.error()));
  return std::move(*j);
}

/// Flips one byte of every occurrence of `needle` in `file` (LMDB is
/// copy-on-write: stale copies of a page may sit in free pages).
bool flip_byte_of(const std::string& file, const std::string& needle,
                  std::size_t offset_in_needle) {
  std::fstream f{file, std::ios::in | std::ios::out | std::ios::binary};
  std::string data{std::istreambuf_iterator<char>{f}, {}};
  bool any = false;
  for (auto at = data.find(needle); at != std::string::npos;
       at = data.find(needle, at + 1)) {
    auto pos = at + offset_in_needle;
    f.seekp(static_cast<std::streamoff>(pos));
    char c = static_cast<char>(data[pos] ^ 0x20);
    f.write(&c, 1);
    any = true;
  }
  return any && static_cast<bool>(f);
}

} // namespace

TEST_CASE("a flipped byte in a stored record is detected on read",
          "[persistence][lmdb][corruption]") {
  temp_dir dir;
  const stream_id s{"bank.account", "victim"};
  {
    auto j = open_or_fail(dir.path());
    REQUIRE(j->append(one(s, "first-event-payload")));
    REQUIRE(j->append(one(s, "UNIQUE-PAYLOAD-TO-DAMAGE")));
    REQUIRE(j->append(one(s, "third-event-payload")));
  }
  REQUIRE(flip_byte_of(dir.sub("data.mdb"), "UNIQUE-PAYLOAD-TO-DAMAGE", 7));
  auto j = open_or_fail(dir.path());
  auto res = j->read_stream(s, 1);
  REQUIRE_FALSE(res);
  CHECK(is(res.error(), journal_errc::corrupt_record));
  auto text = describe(res.error());
  CHECK(text.find("bank.account/victim") != std::string::npos);
  CHECK(text.find("revision 2") != std::string::npos);
  // Revision 1 is still readable; the damaged record is never returned.
  auto first = j->read_stream(s, 1, 1);
  REQUIRE(first);
  CHECK(first->size() == 1);
  // The partition read and verify() report it too.
  CHECK_FALSE(j->read_partition(partition_of(s, 1024), 1));
  auto rep = j->verify();
  REQUIRE(rep);
  REQUIRE_FALSE(rep->problems.empty());
  CHECK(rep->problems[0].find("checksum") != std::string::npos);
}

TEST_CASE("a damaged snapshot is reported and older ones remain usable",
          "[persistence][lmdb][corruption]") {
  temp_dir dir;
  const stream_id s{"bank.account", "snap"};
  {
    auto j = open_or_fail(dir.path());
    write_batch b;
    b.snapshots.push_back({s, 5, "state", 1, to_bytes("OLDER-SNAPSHOT")});
    b.snapshots.push_back({s, 9, "state", 1, to_bytes("NEWER-SNAPSHOT")});
    REQUIRE(j->commit(b));
  }
  REQUIRE(flip_byte_of(dir.sub("data.mdb"), "NEWER-SNAPSHOT", 2));
  auto j = open_or_fail(dir.path());
  auto latest = j->load_snapshot(s);
  REQUIRE_FALSE(latest);
  CHECK(is(latest.error(), journal_errc::corrupt_snapshot));
  CHECK(describe(latest.error()).find("revision 9") != std::string::npos);
  auto older = j->load_snapshot(s, 8);
  REQUIRE(older);
  REQUIRE(*older);
  CHECK((*older)->rev == 5);
}

TEST_CASE("the map grows on demand up to its limit",
          "[persistence][lmdb][map]") {
  temp_dir dir;
  auto opts = test_options();
  opts.initial_map_bytes = 1 << 20;
  opts.max_map_bytes = 64 << 20;
  auto j = open_or_fail(dir.path(), opts);
  std::string body(2000, 'x');
  for (int i = 0; i < 40; ++i) {
    write_batch b;
    for (int k = 0; k < 50; ++k)
      b.appends.push_back(one({"c", std::to_string(k)}, body));
    auto res = j->commit(b);
    REQUIRE(res);
  }
  auto st = j->stats();
  REQUIRE(st);
  CHECK(st->events == 2000);
  CHECK(st->map_bytes > (1u << 20));
  CHECK(j->verify()->problems.empty());
}

TEST_CASE("a full journal refuses the batch whole and keeps what it has",
          "[persistence][lmdb][map]") {
  temp_dir dir;
  auto opts = test_options();
  opts.initial_map_bytes = 1 << 20;
  opts.max_map_bytes = 2 << 20;
  auto j = open_or_fail(dir.path(), opts);
  std::string body(4000, 'y');
  uint64_t committed = 0;
  caf::error last;
  for (int i = 0; i < 1000; ++i) {
    write_batch b;
    for (int k = 0; k < 10; ++k)
      b.appends.push_back(one({"c", std::to_string(k)}, body));
    auto res = j->commit(b);
    if (!res) {
      last = res.error();
      break;
    }
    committed += 10;
  }
  REQUIRE(last);
  CHECK(is(last, journal_errc::journal_full));
  CHECK(committed > 0);
  // Nothing of the refused batch is visible; reads work.
  CHECK(j->stats()->events == committed);
  auto rep = j->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  CHECK(rep->events == committed);
  // After reopening with a higher limit, writing continues.
  j.reset();
  opts.max_map_bytes = 16 << 20;
  j = open_or_fail(dir.path(), opts);
  CHECK(j->append(one({"c", "0"}, body)));
}

TEST_CASE("a second opener of a data directory is refused",
          "[persistence][lmdb][lock]") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  SECTION("in the same process") {
    auto second = open_lmdb_journal(dir.path(), test_options());
    REQUIRE_FALSE(second);
    CHECK(is(second.error(), journal_errc::locked));
    CHECK(describe(second.error()).find(std::to_string(::getpid()))
          != std::string::npos);
  }
  SECTION("in another process") {
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto second = open_lmdb_journal(dir.path(), test_options());
      ::_exit(!second && is(second.error(), journal_errc::locked) ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  // Closing releases the directory.
  j.reset();
  CHECK(open_lmdb_journal(dir.path(), test_options()));
}

TEST_CASE("reopening with another partition count is refused",
          "[persistence][lmdb][format]") {
  temp_dir dir;
  auto opts = test_options();
  opts.partitions = 16;
  open_or_fail(dir.path(), opts)->append(one({"c", "x"}, "1")).value();
  opts.partitions = 32;
  auto j = open_lmdb_journal(dir.path(), opts);
  REQUIRE_FALSE(j);
  CHECK(is(j.error(), journal_errc::partition_count_mismatch));
  CHECK(describe(j.error()).find("16") != std::string::npos);
  opts.partitions = 0; // "whatever is stored"
  auto any = open_lmdb_journal(dir.path(), opts);
  REQUIRE(any);
  CHECK((*any)->partition_count() == 16);
}

TEST_CASE("an unknown format version is refused",
          "[persistence][lmdb][format]") {
  temp_dir dir;
  open_or_fail(dir.path());
  // Rewrite the stored format version with raw LMDB.
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi meta;
  REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
  uint32_t v99 = 99;
  MDB_val k{6, const_cast<char*>("format")}, v{4, &v99};
  REQUIRE(mdb_put(txn, meta, &k, &v, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
  auto j = open_lmdb_journal(dir.path(), test_options());
  REQUIRE_FALSE(j);
  CHECK(is(j.error(), journal_errc::unsupported_format));
  CHECK(describe(j.error()).find("99") != std::string::npos);
}

TEST_CASE("a data directory that cannot be created is a clear error",
          "[persistence][lmdb]") {
  temp_dir dir;
  std::ofstream{dir.sub("file")} << "not a directory";
  auto j = open_lmdb_journal(dir.sub("file") + "/sub", test_options());
  REQUIRE_FALSE(j);
  CHECK(is(j.error(), journal_errc::io_error));
}

TEST_CASE("reads from many threads run beside the writer",
          "[persistence][lmdb][threads]") {
  lmdb_backend j;
  const stream_id s{"c", "hot"};
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!done) {
        auto events = j->read_stream(s, 1);
        if (!events) {
          ++bad;
          continue;
        }
        for (std::size_t i = 0; i < events->size(); ++i)
          if ((*events)[i].rev != i + 1)
            ++bad;
      }
    });
  for (int i = 0; i < 300; ++i)
    REQUIRE(j->append(one(s, std::to_string(i))));
  done = true;
  for (auto& t : readers)
    t.join();
  CHECK(bad == 0);
  CHECK(j->last_revision(s).value() == 300);
}
