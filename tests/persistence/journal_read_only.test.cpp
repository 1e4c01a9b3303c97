// annals -- the read-only LMDB journal: it reads beside a live writer in
// another process (whose map grows meanwhile), refuses every write, writes
// nothing, and fails cleanly on what is not a journal. The annals-journal
// tool uses it, so it inspects the data directory of a running node.
#include "annals/persistence/journal.hpp"

#include "child_process.hpp"
#include "journal_backends.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <lmdb.h>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

using namespace annals;
using namespace std::chrono_literals;
using annals::testing::child_process;
using annals::testing::one;
using annals::testing::temp_dir;

namespace {

std::unique_ptr<journal> open_rw(const std::string& dir) {
  auto j
    = open_lmdb_journal(dir, annals::testing::lmdb_backend::default_options());
  if (!j)
    FAIL(describe(j.error()));
  return std::move(*j);
}

std::unique_ptr<journal> open_ro(const std::string& dir) {
  auto j = open_lmdb_journal_read_only(dir);
  if (!j)
    FAIL(describe(j.error()));
  return std::move(*j);
}

std::string file_bytes(const std::string& path) {
  std::ifstream f{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{f}, {}};
}

/// Streams, snapshots, checkpoints, model rows and an epoch fence.
void fill(journal& j) {
  for (int i = 0; i < 30; ++i) {
    auto s = stream_id{"ro", "s" + std::to_string(i % 4)};
    REQUIRE(j.append(
      one(s, "body-" + std::to_string(i), "cmd-" + std::to_string(i))));
  }
  write_batch b;
  b.snapshots.push_back(
    snapshot{{"ro", "s1"}, 3, "ro.state", 1, to_bytes("state-at-3")});
  b.checkpoints.push_back({"consumer-a", 5, 17});
  b.models.push_back({"model-a", "k1", "v1", false});
  b.models.push_back({"model-a", "k2", "v2", false});
  b.fences.push_back({7, 42});
  REQUIRE(j.commit(b));
}

annals::testing::command_result run_tool(const std::string& args) {
  return annals::testing::run_command(std::string{ANNALS_JOURNAL_TOOL} + " "
                                      + args + " 2>&1");
}

/// The number after `key=` in `text` (0 if absent).
uint64_t field(const std::string& text, const std::string& key) {
  auto at = text.find(key + "=");
  if (at == std::string::npos)
    return 0;
  return std::stoull(text.substr(at + key.size() + 1));
}

} // namespace

TEST_CASE("a read-only journal reads beside a writer process that keeps "
          "committing and grows the map",
          "[persistence][lmdb][read_only]") {
  temp_dir dir;
  child_process writer{{ANNALS_WRITER_CHILD, dir.path()}, true};
  REQUIRE(writer.send_line("1"));
  REQUIRE(writer.await_line("committed ", 10s));
  auto ro = open_ro(dir.path());
  CHECK(ro->partition_count() == 8);
  auto first = ro->stats();
  REQUIRE(first);
  auto first_map = first->map_bytes;
  uint64_t last_events = 0;
  uint64_t used = 0;
  uint64_t checked = 0;
  // Until the writer's data has outgrown our first mapping four times over
  // (the writer doubles its map each time it fills). Each round asks for
  // four commits and reads while they happen.
  while (used < 4 * first_map) {
    REQUIRE(writer.send_line("4"));
    for (int i = 0; i < 4; ++i) {
      auto st = ro->stats();
      REQUIRE(st);
      CHECK(st->events >= last_events); // nothing goes back
      last_events = st->events;
      auto line = writer.await_line("committed ", 10s);
      REQUIRE(line);
      auto acked = std::stoull(line->substr(10));
      // Everything committed before a read began is visible to it.
      st = ro->stats();
      REQUIRE(st);
      CHECK(st->events >= acked);
      used = st->used_bytes;
      auto last_cmd = acked - 1;
      stream_id s{"writer", "s" + std::to_string(last_cmd % 16)};
      auto found = ro->find_command(s, "w" + std::to_string(last_cmd));
      REQUIRE(found);
      CHECK(found->has_value());
      auto events = ro->read_stream(s, 1);
      REQUIRE(events);
      CHECK(events->size() >= last_cmd / 16 + 1);
      ++checked;
    }
  }
  INFO("reads checked: " << checked);
  // Our map followed the writer's (MDB_MAP_RESIZED was handled).
  auto st = ro->stats();
  REQUIRE(st);
  CHECK(st->map_bytes > first_map);
  // One consistent snapshot verifies while the writer goes on.
  auto rep = ro->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  CHECK(rep->events >= last_events);
  auto refused = ro->append(one({"writer", "s0"}, "from the reader"));
  REQUIRE_FALSE(refused);
  CHECK(is(refused.error(), journal_errc::read_only));
  // The writer never noticed us: it still commits, and ends cleanly.
  REQUIRE(writer.send_line("1"));
  REQUIRE(writer.await_line("committed ", 10s));
  writer.close_stdin();
  auto status = writer.wait_for(10s);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("annals-journal inspects a journal while its writer holds it and "
          "keeps committing",
          "[persistence][tool][read_only]") {
  temp_dir dir;
  auto j = open_rw(dir.path());
  fill(*j);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> committed{0};
  std::thread writer{[&] {
    for (uint64_t i = 0; !stop; ++i) {
      if (!j->append(one({"live", "s" + std::to_string(i % 5)}, "live body")))
        return;
      ++committed;
    }
  }};
  auto before = committed.load();
  auto stats = run_tool("stats " + dir.path());
  auto ends = run_tool("ends " + dir.path());
  auto stream = run_tool("stream " + dir.path() + " ro s1");
  auto part = run_tool("partition " + dir.path() + " "
                       + std::to_string(partition_of({"ro", "s1"}, 1024)));
  auto verify = run_tool("verify " + dir.path());
  auto after = committed.load();
  stop = true;
  writer.join();
  INFO(stats.output << ends.output << stream.output << verify.output);
  CHECK(stats.exit_code == 0);
  // 30 events of fill() plus what the writer had committed by then.
  CHECK(field(stats.output, "events") >= 30 + before);
  CHECK(ends.exit_code == 0);
  CHECK(ends.output.find("partition ") != std::string::npos);
  CHECK(stream.exit_code == 0);
  CHECK(stream.output.find("ro/s1 rev=1 ") != std::string::npos);
  CHECK(part.exit_code == 0);
  CHECK(part.output.find("ro/s1 rev=1 ") != std::string::npos);
  CHECK(verify.exit_code == 0);
  CHECK(verify.output.find("OK") != std::string::npos);
  CHECK(field(verify.output, "events") >= 30 + before);
  // The writer kept committing while the tool ran, and still can.
  CHECK(after > before);
  CHECK(j->append(one({"live", "after"}, "after the tool")));
  CHECK(j->verify()->problems.empty());
}

TEST_CASE("a read-only journal reads what the writer wrote",
          "[persistence][lmdb][read_only]") {
  temp_dir dir;
  std::vector<std::vector<recorded_event>> streams, partitions;
  std::vector<position> ends;
  std::vector<std::tuple<std::string, partition_id, position>> checkpoints;
  {
    auto j = open_rw(dir.path());
    fill(*j);
    for (int i = 0; i < 4; ++i)
      streams.push_back(
        j->read_stream({"ro", "s" + std::to_string(i)}, 1).value());
    ends = j->partition_ends().value();
    for (partition_id p = 0; p < ends.size(); ++p)
      if (ends[p] > 0)
        partitions.push_back(j->read_partition(p, 1).value());
  }
  auto ro = open_ro(dir.path());
  CHECK(ro->partition_count() == 1024);
  for (int i = 0; i < 4; ++i)
    CHECK(ro->read_stream({"ro", "s" + std::to_string(i)}, 1).value()
          == streams[i]);
  CHECK(ro->partition_ends().value() == ends);
  std::size_t k = 0;
  for (partition_id p = 0; p < ends.size(); ++p)
    if (ends[p] > 0)
      CHECK(ro->read_partition(p, 1).value() == partitions[k++]);
  CHECK(ro->last_revision({"ro", "s2"}).value() == 7);
  auto dup = ro->find_command({"ro", "s3"}, "cmd-7");
  REQUIRE(dup);
  REQUIRE(dup->has_value());
  CHECK((*dup)->first_revision == 2);
  CHECK((*dup)->duplicate);
  CHECK(ro->partition_epoch(7).value() == 42);
  auto snap = ro->load_snapshot({"ro", "s1"});
  REQUIRE(snap);
  REQUIRE(snap->has_value());
  CHECK(bytes_to_string((*snap)->payload) == "state-at-3");
  CHECK(ro->load_checkpoint("consumer-a", 5).value() == position{17});
  CHECK(ro->load_model("model-a", "k2").value() == std::string{"v2"});
  std::vector<std::string> rows;
  REQUIRE_FALSE(ro->scan_model("model-a", [&](auto key, auto value) {
    rows.push_back(std::string{key} + "=" + std::string{value});
    return true;
  }));
  CHECK(rows == std::vector<std::string>{"k1=v1", "k2=v2"});
  std::size_t cps = 0;
  REQUIRE_FALSE(ro->scan_checkpoints([&](auto consumer, auto p, auto pos) {
    cps += consumer == "consumer-a" && p == 5 && pos == 17 ? 1 : 0;
    return true;
  }));
  CHECK(cps == 1);
  auto rep = ro->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  CHECK(rep->events == 30);
  CHECK(ro->stats().value().events == 30);
}

TEST_CASE("a read-only journal refuses every write and changes nothing",
          "[persistence][lmdb][read_only]") {
  temp_dir dir;
  {
    auto j = open_rw(dir.path());
    fill(*j);
  }
  auto data = file_bytes(dir.sub("data.mdb"));
  {
    auto ro = open_ro(dir.path());
    auto expect_refused = [&](const write_batch& b) {
      auto res = ro->commit(b);
      REQUIRE_FALSE(res);
      CHECK(is(res.error(), journal_errc::read_only));
      CHECK(describe(res.error()).find("read-only") != std::string::npos);
    };
    write_batch append;
    append.appends.push_back(one({"ro", "new"}, "x", "new-cmd"));
    expect_refused(append);
    write_batch snap;
    snap.snapshots.push_back(snapshot{{"ro", "s0"}, 1, "t", 1, to_bytes("s")});
    expect_refused(snap);
    write_batch cp;
    cp.checkpoints.push_back({"consumer-b", 1, 1});
    expect_refused(cp);
    write_batch model;
    model.models.push_back({"model-a", "k1", {}, true});
    expect_refused(model);
    write_batch fence;
    fence.fences.push_back({7, 99});
    expect_refused(fence);
    auto single = ro->append(one({"ro", "s0"}, "y"));
    REQUIRE_FALSE(single);
    CHECK(is(single.error(), journal_errc::read_only));
    // Reads still work after refused writes (no failed state).
    CHECK(ro->last_revision({"ro", "s0"}).value() == 8);
    CHECK(ro->verify().value().problems.empty());
  }
  // Not a byte of the data file changed.
  CHECK(file_bytes(dir.sub("data.mdb")) == data);
  auto j = open_rw(dir.path());
  CHECK(j->last_revision({"ro", "new"}).value() == 0);
  CHECK(j->load_model("model-a", "k1").value() == std::string{"v1"});
  CHECK_FALSE(j->load_checkpoint("consumer-b", 1).value());
  CHECK(j->partition_epoch(7).value() == 42);
}

TEST_CASE("opening read-only what is not a journal fails cleanly and creates "
          "nothing",
          "[persistence][lmdb][read_only]") {
  temp_dir dir;
  SECTION("a directory that does not exist") {
    auto missing = dir.sub("missing");
    auto ro = open_lmdb_journal_read_only(missing);
    REQUIRE_FALSE(ro);
    CHECK(is(ro.error(), journal_errc::invalid_argument));
    CHECK(describe(ro.error()).find("no journal in " + missing)
          != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(missing));
    auto tool = run_tool("stats " + missing);
    CHECK(tool.exit_code == 1);
    CHECK(tool.output.find("no journal in") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(missing));
  }
  SECTION("an empty directory") {
    auto ro = open_lmdb_journal_read_only(dir.path());
    REQUIRE_FALSE(ro);
    CHECK(is(ro.error(), journal_errc::invalid_argument));
    CHECK(std::filesystem::is_empty(dir.path()));
    auto tool = run_tool("verify " + dir.path());
    CHECK(tool.exit_code == 1);
    CHECK(tool.output.find("no journal in") != std::string::npos);
    CHECK(std::filesystem::is_empty(dir.path()));
  }
  SECTION("a file") {
    std::ofstream{dir.sub("plain")} << "not a directory";
    auto ro = open_lmdb_journal_read_only(dir.sub("plain"));
    REQUIRE_FALSE(ro);
    CHECK(is(ro.error(), journal_errc::invalid_argument));
  }
  SECTION("a data.mdb that is not an LMDB file") {
    std::ofstream{dir.sub("data.mdb")} << std::string(64 * 1024, 'z');
    auto ro = open_lmdb_journal_read_only(dir.path());
    REQUIRE_FALSE(ro);
    INFO(describe(ro.error()));
    CHECK(is(ro.error(), journal_errc::corrupt_storage));
  }
  SECTION("an LMDB environment that is not an annals journal") {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 4);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, "something-else", MDB_CREATE, &dbi) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    auto ro = open_lmdb_journal_read_only(dir.path());
    REQUIRE_FALSE(ro);
    INFO(describe(ro.error()));
    CHECK(is(ro.error(), journal_errc::unsupported_format));
    CHECK(describe(ro.error()).find("no annals journal") != std::string::npos);
  }
}

TEST_CASE("one process opens a data directory once, read-only or not",
          "[persistence][lmdb][read_only][lock]") {
  temp_dir dir;
  { open_rw(dir.path()); }
  SECTION("read-only beside this process's writer") {
    auto j = open_rw(dir.path());
    auto ro = open_lmdb_journal_read_only(dir.path());
    REQUIRE_FALSE(ro);
    CHECK(is(ro.error(), journal_errc::locked));
    CHECK(describe(ro.error()).find("in this process") != std::string::npos);
  }
  SECTION("a writer beside this process's reader") {
    auto ro = open_ro(dir.path());
    auto j = open_lmdb_journal(dir.path());
    REQUIRE_FALSE(j);
    CHECK(is(j.error(), journal_errc::locked));
  }
  SECTION("two readers") {
    auto ro = open_ro(dir.path());
    auto second = open_lmdb_journal_read_only(dir.path());
    REQUIRE_FALSE(second);
    CHECK(is(second.error(), journal_errc::locked));
  }
  SECTION("again once the first is closed") {
    { open_ro(dir.path()); }
    auto j = open_rw(dir.path());
    CHECK(j->append(one({"again", "s"}, "x")));
  }
}
