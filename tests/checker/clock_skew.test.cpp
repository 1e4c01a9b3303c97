// annals -- clock skew: three nodes whose wall clocks disagree (libfaketime:
// one an hour ahead, one ten minutes behind, one running at twice the
// rate, monotonic clock included) under the deposit workload, each
// SIGKILLed and restarted under its skew. Ownership, fencing and ordering
// use only view versions, epochs and monotonic deadlines, never wall time,
// so the checker must find nothing; wall-clock timestamps are
// informational.
//
// Needs libfaketime (Debian `faketime`); without it the case WARNs and
// passes without running. The library is preloaded through env(1), which
// execs the node -- the `faketime` wrapper forks, and the test must SIGKILL
// the node itself.
#include "cluster_history.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>

using namespace annals;
using namespace annals::testing;

TEST_CASE("clock skew: nodes an hour ahead, ten minutes behind and at "
          "double rate agree, lose nothing, and restart under skew",
          "[checker][cluster][skew]") {
#ifdef ANNALS_SANITIZED
  // A library preloaded ahead of the ASan runtime stops an instrumented
  // node at start ("ASan runtime does not come first"). The plain build
  // runs this test.
  WARN("skipped in the sanitizer build (libfaketime preload vs ASan)");
  return;
#endif
  const char* faketime
    = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  if (::access(faketime, R_OK) != 0) {
    WARN("skipped: needs libfaketime (Debian package faketime)");
    return;
  }
  temp_dir tmp;
  history_log log{tmp.sub("history.txt")};
  struct skewed {
    const char* name;
    const char* spec;
    bool monotonic; // fake the monotonic clock too
  };
  const std::vector<skewed> skews{
    {"n1", "+1h", false}, {"n2", "-10m", false}, {"n3", "+0 x2", true}};
  std::vector<std::unique_ptr<node_proc>> nodes;
  for (auto& s : skews) {
    auto n = std::make_unique<node_proc>(ANNALS_CHECKER_NODE_CHILD, s.name,
                                         tmp.sub(s.name), &log);
    // env(1) sets the variable for this node only.
    n->wrapper = {"/usr/bin/env", std::string{"LD_PRELOAD="} + faketime,
                  std::string{"FAKETIME="} + s.spec,
                  std::string{"FAKETIME_DONT_FAKE_MONOTONIC="}
                    + (s.monotonic ? "0" : "1")};
    nodes.push_back(std::move(n));
  }
  std::vector<node_proc*> all;
  for (auto& n : nodes)
    all.push_back(n.get());
  REQUIRE(nodes[0]->start({}, true));
  REQUIRE(nodes[1]->start(nodes[0]->address(), true));
  REQUIRE(nodes[2]->start(nodes[0]->address(), true));
  REQUIRE(await_settled(all, 3));
  workload::settings ws;
  ws.seed = Catch::rngSeed();
  workload w{log, all, ws};
  w.start();
  // Each node once: SIGKILL after more acks, restart under the same skew.
  for (auto* n : all) {
    REQUIRE(w.await_acks(100));
    n->kill();
    REQUIRE(n->start({}, true));
    REQUIRE(await_settled(all, 3));
  }
  REQUIRE(w.await_acks(100));
  w.stop();
  for (auto* n : all) {
    auto st = n->stop();
    INFO(n->name() << " exit status " << st);
    CHECK(WIFEXITED(st));
  }
  // The skew took effect: n1 stamped its events about an hour ahead, n2
  // about ten minutes behind (each wrote only its own partitions).
  auto newest_stamp = [](const std::string& dir) {
    journal_options jo;
    jo.partitions = 0;
    auto j = open_lmdb_journal(dir, jo);
    REQUIRE(j);
    int64_t newest = 0;
    for (uint32_t p = 0; p < (*j)->partition_count(); ++p)
      REQUIRE_FALSE((*j)->scan_partition(p, 1, [&](const event_view& ev) {
        newest = std::max(newest, ev.timestamp_ns);
        return true;
      }));
    return std::chrono::nanoseconds{newest};
  };
  auto now = std::chrono::system_clock::now().time_since_epoch();
  CHECK(newest_stamp(nodes[0]->dir()) - now > std::chrono::minutes{50});
  CHECK(now - newest_stamp(nodes[1]->dir()) > std::chrono::minutes{9});
  auto rep = check_cluster(log, all);
  std::printf("clock skew: %zu acks, %zu definite failures, %zu unknown\n%s",
              static_cast<std::size_t>(w.acks),
              static_cast<std::size_t>(w.fails),
              static_cast<std::size_t>(w.unknowns), rep.to_string().c_str());
  INFO(rep.to_string());
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}
