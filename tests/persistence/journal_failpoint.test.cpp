// annals -- the journal's crash points (annals/failpoint.hpp), enabled the
// two ways a user would: ANNALS_FAILPOINTS in the environment, and libfiu's
// fiu-run. The journal child appends until a point kills it; it must die
// by SIGKILL with the point's line on stderr, every acknowledged append
// must survive, and the commit that was in flight must be absent (crash
// before mdb_txn_commit) or present although never acknowledged (after).
#include "annals/failpoint.hpp"
#include "annals/persistence/journal.hpp"

#include "child_process.hpp"
#include "journal_backends.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

using namespace annals;

namespace {

struct crash_run {
  std::set<std::string> acked; ///< command ids acknowledged
  int status = 0;
  std::string stderr_text;
};

/// Runs `argv` (ending in the journal child) until it ends by itself.
crash_run run_child(const std::vector<std::string>& argv,
                    const std::string& err_file) {
  crash_run out;
  annals::testing::child_process child{argv, false, err_file};
  child.read_lines([&](const std::string& line) {
    std::istringstream in{line};
    std::string word, stream, cmd;
    revision first = 0, last = 0;
    in >> word >> stream >> first >> last >> cmd;
    if (word == "ack")
      out.acked.insert(cmd);
  });
  out.status = child.wait();
  std::ifstream in{err_file};
  out.stderr_text.assign(std::istreambuf_iterator<char>{in},
                         std::istreambuf_iterator<char>{});
  return out;
}

/// The command ids in the child's journal in `dir`, after checking that
/// the journal is sound and that partition and stream reads agree.
std::set<std::string> commands_in(const std::string& dir) {
  journal_options opts;
  opts.partitions = 64;
  auto j = open_lmdb_journal(dir, opts);
  REQUIRE(j);
  auto rep = (*j)->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  auto st = (*j)->stats();
  REQUIRE(st);
  CHECK(annals::testing::gap_free_partition_events(**j)
        == std::optional<uint64_t>{st->events});
  std::set<std::string> out;
  for (int s = 0; s < 40; ++s) {
    auto events = (*j)->read_stream({"crash", "s" + std::to_string(s)}, 1);
    REQUIRE(events);
    for (const auto& ev : *events)
      out.insert(ev.meta.command_id);
  }
  return out;
}

/// Kills the child `cycles` times at `point`, each run started by
/// `wrap(point, cycle)`; checks every death and returns {acknowledged
/// commands, commands found in the journal afterwards}.
template <class Wrap>
std::pair<std::set<std::string>, std::set<std::string>>
crash_cycles(const std::string& point, int cycles, Wrap wrap) {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  std::set<std::string> acked;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    INFO(point << ", cycle " << cycle);
    auto argv = wrap(point);
    for (auto x : {std::string{ANNALS_CRASH_CHILD}, dir, std::to_string(cycle)})
      argv.push_back(std::move(x));
    auto run = run_child(argv, tmp.sub("stderr." + std::to_string(cycle)));
    INFO("status " << run.status << ", stderr: " << run.stderr_text);
    REQUIRE(WIFSIGNALED(run.status));
    CHECK(WTERMSIG(run.status) == SIGKILL);
    CHECK(run.stderr_text.find("annals: failpoint " + point + " fired: SIGKILL")
          != std::string::npos);
    acked.insert(run.acked.begin(), run.acked.end());
  }
  return {acked, commands_in(dir)};
}

/// Checks the outcome of crash_cycles at `point`.
void check_outcome(const std::string& point, int cycles,
                   const std::set<std::string>& acked,
                   const std::set<std::string>& stored) {
  std::size_t lost = 0, unacked = 0;
  for (const auto& cmd : acked)
    lost += stored.count(cmd) == 0 ? 1 : 0;
  for (const auto& cmd : stored)
    unacked += acked.count(cmd) == 0 ? 1 : 0;
  INFO(acked.size() << " acknowledged, " << stored.size() << " stored");
  CHECK(lost == 0);
  if (point == "annals/journal/before_commit"
      || point == "annals/journal/index_flush")
    CHECK(unacked == 0); // the batch in flight never committed
  else
    CHECK(unacked >= static_cast<std::size_t>(cycles)); // committed, no ack
}

} // namespace

TEST_CASE("journal crash points set in ANNALS_FAILPOINTS kill the process "
          "there and lose nothing acknowledged",
          "[persistence][lmdb][failpoint]") {
  if (!failpoints_built_in()) {
    WARN("skipped: built with ANNALS_FAILPOINTS=OFF");
    return;
  }
  constexpr int cycles = 4;
  // index_flush: inside a commit that writes index entries; after_commit
  // leaves the batch's index entries only in the lost memory (the child
  // keeps at most 256 unindexed events, so every kill loses some).
  for (std::string point :
       {"annals/journal/before_commit", "annals/journal/index_flush",
        "annals/journal/after_commit"}) {
    auto [acked, stored]
      = crash_cycles(point, cycles, [](const std::string& name) {
          return std::vector<std::string>{
            "/usr/bin/env", "ANNALS_FAILPOINTS=" + name + "=0.05"};
        });
    check_outcome(point, cycles, acked, stored);
  }
}

TEST_CASE("fiu-run enables a crash point in a program linked with libfiu",
          "[persistence][lmdb][failpoint]") {
#ifdef ANNALS_SANITIZED
  WARN("skipped in the sanitizer build (fiu-run preload vs ASan)");
  return;
#endif
  if (!failpoints_built_in()) {
    WARN("skipped: built with ANNALS_FAILPOINTS=OFF");
    return;
  }
  REQUIRE(std::filesystem::exists("/usr/bin/fiu-run")); // fiu-utils
  std::string point = "annals/journal/after_commit";
  auto [acked, stored] = crash_cycles(point, 2, [](const std::string& name) {
    // -f "": no remote-control fifo in $TMPDIR.
    return std::vector<std::string>{"/usr/bin/fiu-run", "-f", "", "-c",
                                    "enable_random name=" + name
                                      + ",probability=0.05"};
  });
  check_outcome(point, 2, acked, stored);
}

TEST_CASE("a kill during a truncation leaves the partition as it was, and "
          "completed truncations hold after restarts",
          "[persistence][lmdb][failpoint][truncate]") {
  if (!failpoints_built_in()) {
    WARN("skipped: built with ANNALS_FAILPOINTS=OFF");
    return;
  }
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  struct placed {
    partition_id p;
    position first, last;
  };
  std::map<std::string, placed> kept;    // acknowledged, not truncated
  std::set<std::string> removed, partly; // truncated whole / in part
  int truncations = 0;
  // At least 4 kills, and on until a completed truncation removed a whole
  // acknowledged command (each truncation dies with probability 0.25).
  int cycle = 0;
  for (; cycle < 4 || (removed.empty() && cycle < 40); ++cycle) {
    INFO("cycle " << cycle);
    annals::testing::child_process child{
      {"/usr/bin/env", "ANNALS_FAILPOINTS=annals/journal/truncate=0.25",
       ANNALS_CRASH_CHILD, dir, std::to_string(cycle), "truncate"},
      false,
      tmp.sub("stderr." + std::to_string(cycle))};
    child.read_lines([&](const std::string& line) {
      std::istringstream in{line};
      std::string word;
      in >> word;
      if (word == "ack") {
        std::string stream, cmd;
        revision first = 0, last = 0;
        placed at{};
        in >> stream >> first >> last >> cmd >> at.p >> at.first >> at.last;
        kept[cmd] = at;
      } else if (word == "truncated") {
        partition_id p = 0;
        position after = 0;
        in >> p >> after;
        ++truncations;
        for (auto it = kept.begin(); it != kept.end();) {
          if (it->second.p == p && it->second.last > after) {
            (it->second.first > after ? removed : partly).insert(it->first);
            it = kept.erase(it);
          } else {
            ++it;
          }
        }
      }
    });
    auto status = child.wait();
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
  }
  INFO(kept.size() << " kept, " << removed.size() << " truncated, "
                   << truncations << " truncations");
  CHECK(truncations > 0);
  CHECK_FALSE(removed.empty());
  auto stored = commands_in(dir);
  std::size_t lost = 0, resurrected = 0;
  for (const auto& [cmd, at] : kept)
    lost += stored.count(cmd) == 0 ? 1 : 0;
  for (const auto& cmd : removed)
    resurrected += stored.count(cmd);
  CHECK(lost == 0);        // the truncation in flight never happened
  CHECK(resurrected == 0); // completed truncations survive restarts
}
