// annals -- crash test of subscriptions: SIGKILL a process that writes and
// consumes (durable consumer) at random moments; every acknowledged event
// must still be delivered, per stream in order, and a restarted consumer
// resumes at or before where it stopped (never after: no gap).
#include "child_process.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <sstream>

namespace {

struct run_output {
  std::vector<std::pair<std::string, uint64_t>> got;
  std::vector<std::pair<std::string, uint64_t>> acks;
  bool done = false;
  int status = 0;
};

run_output run_child(const std::string& dir, unsigned cycle, bool drain,
                     std::size_t kill_after) {
  annals::testing::child_process child{{ANNALS_PUBSUB_CRASH_CHILD, dir,
                                        std::to_string(cycle),
                                        drain ? "drain" : "load"}};
  run_output out;
  bool killed = false;
  child.read_lines([&](const std::string& line) {
    std::istringstream in{line};
    std::string word, id;
    uint64_t rev = 0;
    in >> word >> id >> rev;
    if (word == "got")
      out.got.emplace_back(id, rev);
    else if (word == "ack")
      out.acks.emplace_back(id, rev);
    else if (word == "done")
      out.done = true;
    if (!drain && !killed && out.got.size() + out.acks.size() >= kill_after) {
      child.kill();
      killed = true;
    }
  });
  out.status = child.wait();
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
