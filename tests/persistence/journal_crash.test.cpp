// annals -- crash test: SIGKILL a process appending to the journal at random
// moments, then check that every acknowledged event is present exactly once
// and that revisions stay gap-free.
#include "annals/persistence/journal.hpp"

#include "child_process.hpp"
#include "journal_backends.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <sstream>

using namespace annals;

namespace {

struct ack {
  std::string stream;
  revision first = 0;
  revision last = 0;
};

/// Runs the child until it has acknowledged `kill_after` parts, SIGKILLs it,
/// and returns every ack line it managed to write.
std::vector<std::pair<std::string, ack>>
run_and_kill(const std::string& dir, unsigned cycle, std::size_t kill_after) {
  annals::testing::child_process child{
    {ANNALS_CRASH_CHILD, dir, std::to_string(cycle)}};
  std::vector<std::pair<std::string, ack>> acks;
  bool killed = false;
  child.read_lines([&](const std::string& line) {
    std::istringstream in{line};
    std::string word, cmd;
    ack a;
    in >> word >> a.stream >> a.first >> a.last >> cmd;
    REQUIRE(word == "ack");
    acks.emplace_back(cmd, a);
    if (!killed && acks.size() >= kill_after) {
      child.kill(); // mid-flight: the child never stops appending
      killed = true;
    }
  });
  auto status = child.wait();
  INFO("child status " << status);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  return acks;
}

} // namespace

TEST_CASE("acknowledged appends survive SIGKILL at random moments",
          "[persistence][lmdb][crash]") {
  annals::testing::temp_dir dir;
  std::mt19937 rng{Catch::rngSeed()};
  std::map<std::string, ack> acked; // command id -> where it went
  constexpr unsigned cycles = 24;
  for (unsigned cycle = 0; cycle < cycles; ++cycle) {
    auto kill_after = 1 + rng() % 120;
    for (auto& [cmd, a] : run_and_kill(dir.path(), cycle, kill_after))
      REQUIRE(acked.emplace(cmd, a).second);
  }
  INFO(acked.size() << " acknowledged appends over " << cycles << " kills");
  REQUIRE(acked.size() >= cycles);
  journal_options opts;
  opts.partitions = 64;
  auto j = open_lmdb_journal(dir.path(), opts);
  REQUIRE(j);
  auto rep = (*j)->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty()); // gap-free positions and revisions, CRCs ok
  // The child keeps at most 256 events unindexed: the last kill left some,
  // and the reopened journal found them in the log.
  auto st = (*j)->stats();
  REQUIRE(st);
  CHECK(st->unindexed_events > 0);
  CHECK(annals::testing::gap_free_partition_events(**j)
        == std::optional<uint64_t>{st->events});
  // Each stream: revisions 1..n in order; each command's events exactly once.
  std::map<std::string, std::map<std::string, std::vector<revision>>> seen;
  for (int s = 0; s < 40; ++s) {
    auto id = "s" + std::to_string(s);
    auto events = (*j)->read_stream({"crash", id}, 1);
    REQUIRE(events);
    for (std::size_t i = 0; i < events->size(); ++i) {
      const auto& ev = (*events)[i];
      REQUIRE(ev.rev == i + 1);
      seen[id][ev.meta.command_id].push_back(ev.rev);
    }
  }
  std::size_t missing = 0;
  for (const auto& [cmd, a] : acked) {
    auto& revs = seen[a.stream][cmd];
    std::vector<revision> want;
    for (auto r = a.first; r <= a.last; ++r)
      want.push_back(r);
    if (revs != want) {
      ++missing;
      UNSCOPED_INFO("command " << cmd << " on " << a.stream << ": acked "
                               << a.first << ".." << a.last << ", found "
                               << revs.size() << " events");
    }
  }
  CHECK(missing == 0);
}
