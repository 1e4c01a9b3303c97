// annals -- crash test of subscriptions: SIGKILL a process that writes and
// consumes (durable consumer) at random moments; every acknowledged event
// must still be delivered, per stream in order, and a restarted consumer
// resumes at or before where it stopped (never after: no gap).
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <set>
#include <sstream>

extern char** environ;

namespace {

struct run_output {
  std::vector<std::pair<std::string, uint64_t>> got;
  std::vector<std::pair<std::string, uint64_t>> acks;
  bool done = false;
  int status = 0;
};

run_output run_child(const std::string& dir, unsigned cycle, bool drain,
                     std::size_t kill_after) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string exe = ANNALS_PUBSUB_CRASH_CHILD;
  std::string cyc = std::to_string(cycle);
  std::string mode = drain ? "drain" : "load";
  char* argv[] = {exe.data(), const_cast<char*>(dir.c_str()), cyc.data(),
                  mode.data(), nullptr};
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  run_output out;
  std::string buf;
  char chunk[4096];
  bool killed = false;
  for (;;) {
    auto n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0)
      break;
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::istringstream in{buf.substr(0, nl)};
      buf.erase(0, nl + 1);
      std::string word, id;
      uint64_t rev = 0;
      in >> word >> id >> rev;
      if (word == "got")
        out.got.emplace_back(id, rev);
      else if (word == "ack")
        out.acks.emplace_back(id, rev);
      else if (word == "done")
        out.done = true;
    }
    if (!drain && !killed && out.got.size() + out.acks.size() >= kill_after) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &out.status, 0) == pid);
  return out;
}

} // namespace

TEST_CASE("a durable consumer loses nothing when its process is killed "
          "mid-stream",
          "[pubsub][crash]") {
  annals::testing::temp_dir tmp;
  auto dir = tmp.sub("data");
  std::mt19937 rng{Catch::rngSeed()};
  std::set<std::pair<std::string, uint64_t>> acked, delivered;
  std::map<std::string, uint64_t> max_delivered;
  std::size_t gaps = 0, disorder = 0;
  auto check_run = [&](const run_output& out) {
    std::map<std::string, uint64_t> last; // within this run
    for (const auto& [id, rev] : out.got) {
      auto it = last.find(id);
      if (it == last.end()) {
        // Resume point: at or before the next undelivered revision.
        if (rev > max_delivered[id] + 1)
          ++gaps;
      } else if (rev != it->second + 1) {
        ++disorder;
      }
      last[id] = rev;
      max_delivered[id] = std::max(max_delivered[id], rev);
      delivered.emplace(id, rev);
    }
    for (const auto& a : out.acks)
      acked.insert(a);
  };
  constexpr unsigned cycles = 12;
  for (unsigned c = 0; c < cycles; ++c) {
    auto out = run_child(dir, c, false, 10 + rng() % 80);
    INFO("cycle " << c << " status " << out.status);
    REQUIRE(WIFSIGNALED(out.status));
    check_run(out);
  }
  auto last = run_child(dir, cycles, true, 0);
  REQUIRE(WIFEXITED(last.status));
  REQUIRE(last.done);
  check_run(last);
  CHECK(gaps == 0);
  CHECK(disorder == 0);
  std::size_t undelivered = 0;
  for (const auto& a : acked)
    if (!delivered.count(a))
      ++undelivered;
  CHECK(undelivered == 0);
  CHECK(acked.size() >= cycles);
}
