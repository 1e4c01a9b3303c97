// annals -- the upgrade of format-1 journals (annals/persistence/upgrade.hpp,
// `annals-journal upgrade`): everything carried over identically, command
// ids kept deduplicated, refusals, damaged input, re-runs, and a kill loop
// in which the tool is SIGKILLed at varied moments -- after its progress
// lines and at the crash points of the switch -- and the directory must
// hold the intact old journal or the complete new one after every kill.
#include "annals/failpoint.hpp"
#include "annals/persistence/journal.hpp"
#include "annals/persistence/upgrade.hpp"

#include "child_process.hpp"
#include "codec.hpp"
#include "dir_lock.hpp"
#include "format1.hpp"
#include "journal_backends.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "upgrade_history.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

using namespace annals;
using annals::testing::check_same;
using annals::testing::expected_journal;
using annals::testing::history;
using annals::testing::write_format1;

namespace fs = std::filesystem;

namespace {

/// The error of `x` for humans; empty if it holds a value.
template <class T>
std::string error_text(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

std::string file_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

ino_t inode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

std::unique_ptr<journal> open_read_only(const std::string& dir) {
  auto j = open_lmdb_journal_read_only(dir);
  INFO(error_text(j));
  REQUIRE(j);
  return std::move(*j);
}

/// A format-1 journal of `h` in a new directory `dir`.
void make_format1(const history& h, const std::string& dir) {
  fs::create_directories(dir);
  write_format1(h, dir);
}

annals::testing::command_result run_tool(const std::string& args) {
  return annals::testing::run_command(std::string{ANNALS_JOURNAL_TOOL} + " "
                                      + args + " 2>&1");
}

} // namespace

TEST_CASE("upgrade converts the golden format-1 journal that the format-1 "
          "journal wrote, and command ids stay deduplicated",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  fs::create_directories(dir);
  auto golden = std::string{ANNALS_TEST_DATA} + "/journal_format1/data.mdb";
  fs::copy_file(golden, dir + "/data.mdb");
  auto h = annals::testing::golden_history();
  auto want = expected_journal(h);
  // The journal refuses it, naming the command that converts it.
  {
    auto refused = open_lmdb_journal(dir);
    REQUIRE_FALSE(refused);
    CHECK(is(refused.error(), journal_errc::unsupported_format));
    CHECK(describe(refused.error()).find("annals-journal upgrade " + dir)
          != std::string::npos);
  }
  CHECK(file_bytes(dir + "/data.mdb") == file_bytes(golden));
  auto rep = upgrade_lmdb_journal(dir);
  INFO(error_text(rep));
  REQUIRE(rep);
  CHECK(rep->upgraded);
  CHECK(rep->from_format == 1);
  CHECK(rep->to_format == detail::format_version);
  CHECK(rep->partitions == 8);
  CHECK(rep->events_total == 13);
  CHECK(rep->events_copied == 13);
  CHECK(rep->appends_copied == 9);
  CHECK(rep->snapshots == 3);
  CHECK(rep->checkpoints == 3);
  CHECK(rep->model_rows == 3);
  CHECK(rep->command_ids_dropped == 0);
  CHECK(rep->backup == dir + "/data.mdb.format1");
  CHECK(file_bytes(rep->backup) == file_bytes(golden));
  CHECK_FALSE(fs::exists(dir + "/upgrade.tmp"));
  check_same(*want, *open_read_only(dir), h);
  // A retried command is still a duplicate; a new one goes on from there.
  journal_options opts;
  opts.partitions = 0;
  auto j = open_lmdb_journal(dir, opts);
  INFO(error_text(j));
  REQUIRE(j);
  stream_id alice{"bank.account", "alice"};
  auto retry = annals::testing::one(alice, "500", "dep-1");
  auto again = (*j)->append(retry);
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->first_revision == 2);
  auto next = (*j)->append(annals::testing::one(alice, "1", "dep-2"));
  REQUIRE(next);
  CHECK_FALSE(next->duplicate);
  CHECK(next->first_revision == 5);
  auto wanted = want->append(annals::testing::one(alice, "1", "dep-2"));
  REQUIRE(wanted);
  CHECK(next->first_position == wanted->first_position);
}

TEST_CASE("upgrade carries every event, snapshot, checkpoint, read model and "
          "epoch of a format-1 journal with many partitions",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  auto h = annals::testing::random_history(11, 1500, 16);
  make_format1(h, dir);
  std::vector<upgrade_report> seen;
  auto rep = upgrade_lmdb_journal(
    dir, [&](const upgrade_report& r) { seen.push_back(r); });
  INFO(error_text(rep));
  REQUIRE(rep);
  CHECK(rep->appends_copied == 1500);
  CHECK(rep->events_copied == rep->events_total);
  CHECK(rep->epochs >= 2); // fences on two; epochs on appends elsewhere
  // The observer saw the stages in order and the copy grow.
  REQUIRE(seen.size() >= 4);
  CHECK(seen.front().at == upgrade_report::stage::copying);
  CHECK(seen.back().at == upgrade_report::stage::done);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    CHECK(seen[i].at >= seen[i - 1].at);
    CHECK(seen[i].events_copied >= seen[i - 1].events_copied);
  }
  auto j = open_read_only(dir);
  check_same(*expected_journal(h), *j, h);
  // The upgrade wrote the indexes of every event (none left to a tail that
  // each open, and each read-only read, would rescan).
  auto st = j->stats();
  REQUIRE(st);
  CHECK(st->unindexed_events <= 1);
}

TEST_CASE("upgrade of an empty format-1 journal gives an empty journal with "
          "the same partition count",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  history h;
  h.partitions = 3;
  make_format1(h, dir);
  auto rep = upgrade_lmdb_journal(dir);
  INFO(error_text(rep));
  REQUIRE(rep);
  CHECK(rep->upgraded);
  CHECK(rep->events_total == 0);
  CHECK(rep->partitions == 3);
  check_same(*expected_journal(h), *open_read_only(dir), h);
}

TEST_CASE("a command id reused on a stream after the old dedupe window stays "
          "with the append that the old window remembers",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  fs::create_directories(dir);
  stream_id s{"acct", "reused"}, t{"acct", "forgotten"};
  {
    annals::testing::format1_writer w{dir, 4};
    auto commit = [&](append_request r) {
      write_batch b;
      b.appends.push_back(std::move(r));
      auto res = w.commit(b, annals::testing::history_time(0));
      REQUIRE(res.appends.at(0));
    };
    commit(annals::testing::one(s, "first", "c"));
    commit(annals::testing::one(t, "first", "d"));
    w.forget_command(s, "c");
    w.forget_command(t, "d");
    commit(annals::testing::one(s, "second", "c")); // remembered
    commit(annals::testing::one(t, "second", "d"));
    w.forget_command(t, "d"); // neither is remembered
  }
  auto rep = upgrade_lmdb_journal(dir);
  INFO(error_text(rep));
  REQUIRE(rep);
  CHECK(rep->command_ids_dropped == 2);
  auto j = open_read_only(dir);
  auto evs = j->read_stream(s, 1);
  REQUIRE(evs);
  REQUIRE(evs->size() == 2);
  CHECK(evs->at(0).meta.command_id.empty());
  CHECK(evs->at(1).meta.command_id == "c");
  CHECK(bytes_to_string(evs->at(1).payload) == "second");
  auto found = j->find_command(s, "c");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->first_revision == 2);
  evs = j->read_stream(t, 1);
  REQUIRE(evs);
  REQUIRE(evs->size() == 2);
  CHECK(evs->at(0).meta.command_id == "d");
  CHECK(evs->at(1).meta.command_id.empty());
  found = j->find_command(t, "d");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->first_revision == 1);
  auto vrep = j->verify();
  REQUIRE(vrep);
  CHECK(vrep->problems.empty());
}

TEST_CASE("upgrade refuses a directory held by a node or an environment open "
          "in another process, and touches nothing",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  make_format1(annals::testing::golden_history(), dir);
  auto before = file_bytes(dir + "/data.mdb");
  {
    auto held = detail::dir_lock::acquire(dir);
    REQUIRE(held);
    auto rep = upgrade_lmdb_journal(dir);
    REQUIRE_FALSE(rep);
    CHECK(is(rep.error(), journal_errc::locked));
    CHECK(
      describe(rep.error()).find("in use by pid " + std::to_string(::getpid()))
      != std::string::npos);
  }
  // A reader in another process (e.g. annals-journal) has the environment
  // open: the upgrade names it and waits for nobody.
  int ready[2], quit[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(quit) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(quit[1]);
    auto r = detail::format1::reader::open(dir);
    char c = r ? 'y' : 'n';
    static_cast<void>(::write(ready[1], &c, 1));
    static_cast<void>(::read(quit[0], &c, 1));
    ::_exit(0);
  }
  ::close(quit[0]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK(c == 'y');
  auto rep = upgrade_lmdb_journal(dir);
  ::close(quit[1]);
  ::close(ready[0]);
  ::close(ready[1]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE_FALSE(rep);
  CHECK(is(rep.error(), journal_errc::locked));
  CHECK(describe(rep.error()).find("open in pid " + std::to_string(pid))
        != std::string::npos);
  CHECK(file_bytes(dir + "/data.mdb") == before);
  CHECK_FALSE(fs::exists(dir + "/upgrade.tmp"));
  CHECK_FALSE(fs::exists(dir + "/data.mdb.format1"));
  // Once the reader is gone the upgrade runs.
  CHECK(upgrade_lmdb_journal(dir));
}

TEST_CASE("upgrade of a damaged or missing journal fails and leaves it as it "
          "was",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  SECTION("a record fails its checksum") {
    auto dir = tmp.sub("data");
    auto h = annals::testing::golden_history();
    make_format1(h, dir);
    auto p = partition_of({"bank.transfer", "t1"}, h.partitions);
    annals::testing::format1_writer{dir, h.partitions}.damage_record(p, 2);
    auto before = file_bytes(dir + "/data.mdb");
    auto rep = upgrade_lmdb_journal(dir);
    REQUIRE_FALSE(rep);
    CHECK(is(rep.error(), journal_errc::corrupt_record));
    CHECK(describe(rep.error())
            .find("partition " + std::to_string(p) + " position 2")
          != std::string::npos);
    CHECK(file_bytes(dir + "/data.mdb") == before);
    CHECK_FALSE(fs::exists(dir + "/data.mdb.format1"));
    CHECK_FALSE(fs::exists(dir + "/upgrade.tmp")); // its space is freed
  }
  SECTION("streams are stored in other partitions than their hash names") {
    auto dir = tmp.sub("data");
    make_format1(annals::testing::random_history(3, 50, 4), dir);
    annals::testing::format1_writer{dir, 4}.set_partition_count(5);
    auto before = file_bytes(dir + "/data.mdb");
    auto rep = upgrade_lmdb_journal(dir);
    REQUIRE_FALSE(rep);
    CHECK(is(rep.error(), journal_errc::storage_error));
    CHECK(describe(rep.error()).find(" landed at partition ")
          != std::string::npos);
    CHECK(file_bytes(dir + "/data.mdb") == before);
    CHECK_FALSE(fs::exists(dir + "/upgrade.tmp"));
  }
  SECTION("the directory has no journal") {
    auto rep = upgrade_lmdb_journal(tmp.path());
    REQUIRE_FALSE(rep);
    CHECK(is(rep.error(), journal_errc::invalid_argument));
    CHECK_FALSE(fs::exists(tmp.sub("data.mdb")));
  }
  SECTION("data.mdb is not an LMDB file") {
    std::ofstream{tmp.sub("data.mdb")} << std::string(8192, 'x');
    auto rep = upgrade_lmdb_journal(tmp.path());
    REQUIRE_FALSE(rep);
    CHECK(is(rep.error(), journal_errc::corrupt_storage));
    CHECK(file_bytes(tmp.sub("data.mdb")) == std::string(8192, 'x'));
  }
}

TEST_CASE("upgrade of a journal in this build's format does nothing and "
          "removes a leftover upgrade.tmp",
          "[persistence][upgrade]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  make_format1(annals::testing::golden_history(), dir);
  REQUIRE(upgrade_lmdb_journal(dir));
  auto after = file_bytes(dir + "/data.mdb");
  fs::create_directories(dir + "/upgrade.tmp");
  std::ofstream{dir + "/upgrade.tmp/data.mdb"} << "half";
  auto rep = upgrade_lmdb_journal(dir);
  INFO(error_text(rep));
  REQUIRE(rep);
  CHECK_FALSE(rep->upgraded);
  CHECK(rep->to_format == detail::format_version);
  CHECK(rep->partitions == 8);
  CHECK(rep->backup == dir + "/data.mdb.format1");
  CHECK(file_bytes(dir + "/data.mdb") == after);
  CHECK_FALSE(fs::exists(dir + "/upgrade.tmp"));
}

TEST_CASE("annals-journal upgrade converts a format-1 directory, says when "
          "there is nothing to do, and refuses a held one",
          "[persistence][upgrade][tool]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  make_format1(annals::testing::golden_history(), dir);
  {
    auto held = detail::dir_lock::acquire(dir);
    REQUIRE(held);
    auto res = run_tool("upgrade " + dir);
    CHECK(res.exit_code == 1);
    CHECK(res.output.find("in use by pid") != std::string::npos);
  }
  auto res = run_tool("upgrade " + dir);
  CHECK(res.exit_code == 0);
  CHECK(res.output.find("upgrade: copying: 0 of 13 events copied")
        != std::string::npos);
  CHECK(res.output.find("upgrade: done: format 1 -> "
                        + std::to_string(detail::format_version)
                        + ", 8 partitions, 13 events in 9 appends")
        != std::string::npos);
  CHECK(res.output.find("data.mdb.format1") != std::string::npos);
  res = run_tool("upgrade " + dir);
  CHECK(res.exit_code == 0);
  CHECK(res.output.find("nothing to do") != std::string::npos);
  CHECK(run_tool("verify " + dir).exit_code == 0);
  CHECK(run_tool("upgrade " + dir + " extra").exit_code == 2);
  CHECK(run_tool("upgrade " + tmp.sub("nowhere")).exit_code == 1);
}

TEST_CASE("a kill at any moment of annals-journal upgrade leaves the intact "
          "old journal or the complete new one, and a re-run finishes",
          "[persistence][upgrade][kill]") {
  annals::testing::temp_dir tmp;
  // 1200 appends: two commits of the copy (1024 appends each at most).
  auto h = annals::testing::random_history(7, 1200, 16);
  auto want = expected_journal(h);
  auto pristine = tmp.sub("pristine");
  make_format1(h, pristine);
  auto old_bytes = file_bytes(pristine + "/data.mdb");
  auto dir = tmp.sub("data");
  ino_t old_inode = 0;
  auto reset = [&] {
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(pristine + "/data.mdb", dir + "/data.mdb");
    old_inode = inode(dir + "/data.mdb");
  };
  // The directory after a kill: the old file, never written (the upgrade
  // only renames a new file over it), or a new journal that reads exactly
  // like the history.
  enum class state { old_journal, new_journal };
  auto check_state = [&]() {
    if (inode(dir + "/data.mdb") == old_inode) {
      CHECK(file_bytes(dir + "/data.mdb") == old_bytes);
      return state::old_journal;
    }
    check_same(*want, *open_read_only(dir), h);
    CHECK(file_bytes(dir + "/data.mdb.format1") == old_bytes);
    return state::new_journal;
  };
  auto tool = std::string{ANNALS_JOURNAL_TOOL};
  int olds = 0, news = 0;
  auto count = [&](state s) {
    (s == state::old_journal ? olds : news) += 1;
    return s;
  };
  // How many lines a whole run prints.
  reset();
  auto full = run_tool("upgrade " + dir);
  REQUIRE(full.exit_code == 0);
  int lines = 0;
  for (std::size_t at = 0;
       (at = full.output.find("upgrade:", at)) != std::string::npos; ++at)
    ++lines;
  REQUIRE(lines >= 6);
  reset();
  // Kills at varied moments: SIGKILL once the k-th line is read, for each
  // k (the tool runs on meanwhile, so the kill lands somewhere after it).
  for (int k = 1; k <= lines; ++k) {
    INFO("kill after progress line " << k);
    {
      annals::testing::child_process child{{tool, "upgrade", dir}};
      for (int i = 0; i < k; ++i)
        if (!child.await_line("upgrade:", std::chrono::seconds{30}))
          break;
      child.kill();
      child.wait();
    }
    if (count(check_state()) == state::new_journal)
      reset();
  }
  // Kills at each step of the switch (and after a commit of the copy).
  if (failpoints_built_in()) {
    struct point {
      std::string name;
      state after;
    };
    std::vector<point> points{
      {"annals/upgrade/after_commit", state::old_journal},
      {"annals/upgrade/before_backup", state::old_journal},
      {"annals/upgrade/before_rename", state::old_journal},
      {"annals/upgrade/after_rename", state::new_journal},
      {"annals/upgrade/before_cleanup", state::new_journal}};
    for (const auto& pt : points) {
      INFO("crash point " << pt.name);
      auto err_file = tmp.sub("stderr");
      {
        annals::testing::child_process child{{"/usr/bin/env",
                                              "ANNALS_FAILPOINTS=" + pt.name,
                                              tool, "upgrade", dir},
                                             false,
                                             err_file};
        auto st = child.wait();
        CHECK(WIFSIGNALED(st));
        CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
      }
      auto name = pt.name.substr(0, pt.name.find('='));
      CHECK(file_bytes(err_file).find("annals: failpoint " + name
                                      + " fired: SIGKILL")
            != std::string::npos);
      CHECK(count(check_state()) == pt.after);
      if (pt.after == state::new_journal) {
        // Killed after the switch: a re-run only tidies up.
        CHECK(fs::exists(dir + "/upgrade.tmp"));
        auto res = run_tool("upgrade " + dir);
        CHECK(res.exit_code == 0);
        CHECK(res.output.find("nothing to do") != std::string::npos);
        CHECK_FALSE(fs::exists(dir + "/upgrade.tmp"));
        reset();
      }
    }
  } else {
    WARN("crash points skipped: built with ANNALS_FAILPOINTS=OFF");
  }
  // The last (half-done) state finishes.
  auto res = run_tool("upgrade " + dir);
  INFO(res.output);
  CHECK(res.exit_code == 0);
  CHECK(count(check_state()) == state::new_journal);
  CHECK_FALSE(fs::exists(dir + "/upgrade.tmp"));
  CHECK(olds > 0);
  CHECK(news > 0);
}
