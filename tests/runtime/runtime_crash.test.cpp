// annals -- crash test of the runtime: SIGKILL a process running aggregates
// under load at random moments (>= 20 cycles); retry the commands whose
// outcome was unknown; then check that every acknowledged command's event is
// present exactly once, in order, and that no command id was applied twice.
#include "annals/persistence/journal.hpp"

#include "child_process.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace {

struct sent {
  std::string agg;
  int64_t cents = 0;
};

struct acked {
  std::string agg;
  uint64_t revision = 0;
};

struct history {
  std::map<std::string, sent> sends; // command id -> what was sent
  std::map<std::string, acked> acks; // command id -> first ack seen
  std::size_t duplicate_acks = 0;
  std::size_t inconsistent_acks = 0; // a retry acked at another revision
};

void run_cycle(const std::string& dir, unsigned cycle, std::size_t kill_after,
               history& h) {
  // Commands sent but never acknowledged: outcome unknown, retry them.
  auto retry_file = dir + "-retry";
  {
    std::ofstream out{retry_file};
    for (const auto& [cmd, s] : h.sends)
      if (!h.acks.count(cmd))
        out << s.agg << ' ' << cmd << ' ' << s.cents << '\n';
  }
  annals::testing::child_process child{
    {ANNALS_RUNTIME_CRASH_CHILD, dir, std::to_string(cycle), retry_file}};
  std::size_t new_acks = 0;
  bool killed = false;
  child.read_lines([&](const std::string& line) {
    std::istringstream in{line};
    std::string word, agg, cmd;
    in >> word >> agg >> cmd;
    if (word == "send") {
      sent s{agg, 0};
      in >> s.cents;
      h.sends.emplace(cmd, s);
    } else if (word == "ack") {
      acked a{agg, 0};
      int dup = 0;
      in >> a.revision >> dup;
      auto [it, fresh] = h.acks.emplace(cmd, a);
      if (!fresh
          && (it->second.agg != agg || it->second.revision != a.revision))
        ++h.inconsistent_acks;
      if (dup)
        ++h.duplicate_acks;
      ++new_acks;
    }
    if (!killed && new_acks >= kill_after) {
      child.kill();
      killed = true;
    }
  });
  auto status = child.wait();
  INFO("cycle " << cycle << " child status " << status);
  REQUIRE(WIFSIGNALED(status));
}

} // namespace

TEST_CASE("acknowledged commands survive SIGKILL of the runtime at random "
          "moments",
          "[runtime][crash]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  std::mt19937 rng{Catch::rngSeed()};
  history h;
  constexpr unsigned cycles = 20;
  for (unsigned c = 0; c < cycles; ++c)
    run_cycle(dir, c, 5 + rng() % 60, h);
  INFO(h.acks.size() << " acks, " << h.sends.size() << " sends, "
                     << h.duplicate_acks << " duplicate acks");
  std::printf("runtime crash test: %zu acks, %zu sends, %zu duplicate acks "
              "over %u kills\n",
              h.acks.size(), h.sends.size(), h.duplicate_acks, cycles);
  CHECK(h.inconsistent_acks == 0);
  annals::journal_options opts;
  opts.partitions = 16;
  auto j = annals::open_lmdb_journal(dir, opts);
  REQUIRE(j);
  auto rep = (*j)->verify();
  REQUIRE(rep);
  CHECK(rep->problems.empty());
  // Every command id at most once in the journal; acked ones exactly where
  // their ack said.
  std::map<std::string, std::pair<std::string, uint64_t>> found;
  std::size_t twice = 0;
  for (int a = 0; a < 24; ++a) {
    auto agg = "a" + std::to_string(a);
    auto events = (*j)->read_stream({"sample.account", agg}, 1);
    REQUIRE(events);
    for (std::size_t i = 0; i < events->size(); ++i) {
      const auto& ev = (*events)[i];
      REQUIRE(ev.rev == i + 1);
      if (!found.emplace(ev.meta.command_id, std::make_pair(agg, ev.rev))
             .second)
        ++twice;
    }
  }
  CHECK(twice == 0);
  std::size_t lost = 0, misplaced = 0;
  for (const auto& [cmd, a] : h.acks) {
    auto it = found.find(cmd);
    if (it == found.end())
      ++lost;
    else if (it->second.first != a.agg || it->second.second != a.revision)
      ++misplaced;
  }
  CHECK(lost == 0);
  CHECK(misplaced == 0);
  // Nothing appears that was never sent.
  for (const auto& [cmd, where] : found)
    CHECK(h.sends.count(cmd) == 1);
  CHECK(h.acks.size() >= cycles * 5);
}
