// annals -- crash test: SIGKILL a process appending to the journal at random
// moments, then check that every acknowledged event is present exactly once
// and that revisions stay gap-free.
#include "annals/persistence/journal.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <sstream>

extern char** environ;

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
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string exe = ANNALS_CRASH_CHILD;
  std::string cyc = std::to_string(cycle);
  char* argv[]
    = {exe.data(), const_cast<char*>(dir.c_str()), cyc.data(), nullptr};
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  std::vector<std::pair<std::string, ack>> acks;
  std::string buf;
  char chunk[4096];
  bool killed = false;
  for (;;) {
    auto n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0)
      break; // EOF: the child is gone and the pipe drained
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::istringstream in{buf.substr(0, nl)};
      buf.erase(0, nl + 1);
      std::string word, cmd;
      ack a;
      in >> word >> a.stream >> a.first >> a.last >> cmd;
      REQUIRE(word == "ack");
      acks.emplace_back(cmd, a);
    }
    if (!killed && acks.size() >= kill_after) {
      ::kill(pid, SIGKILL); // mid-flight: the child never stops appending
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
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
