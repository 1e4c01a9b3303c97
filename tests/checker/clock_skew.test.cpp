// annals -- clock skew: three nodes whose wall clocks disagree (libfaketime:
// one an hour ahead, one ten minutes behind, one running at twice the
// rate, monotonic clock included) in a replicated cluster (etcd on
// loopback, unskewed; every partition on all three) under the deposit
// workload, each SIGKILLed and restarted under its skew. Leadership,
// fencing and ordering use only map versions, epochs, etcd leases and
// monotonic deadlines, never wall time, so the checker must find nothing;
// wall-clock timestamps are informational.
//
// Needs libfaketime (Debian `faketime`); without it the case WARNs and
// passes without running. The library is preloaded through env(1), which
// execs the node -- the `faketime` wrapper forks, and the test must SIGKILL
// the node itself.
#include "replicated_cluster.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>

using namespace annals;
using namespace annals::testing;

TEST_CASE("clock skew: nodes an hour ahead, ten minutes behind and at "
          "double rate agree, lose nothing, and restart under skew",
          "[checker][replicated][skew]") {
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
  struct skewed {
    const char* name;
    const char* spec;
    bool monotonic; // fake the monotonic clock too
  };
  const std::vector<skewed> skews{
    {"n1", "+1h", false}, {"n2", "-10m", false}, {"n3", "+0 x2", true}};
  replicated_cluster::options o;
  o.name = "skew";
  o.start = false;
  replicated_cluster c{o};
  for (std::size_t k = 0; k < skews.size(); ++k)
    // env(1) sets the variables for this node only.
    c[k].wrapper = {"/usr/bin/env", std::string{"LD_PRELOAD="} + faketime,
                    std::string{"FAKETIME="} + skews[k].spec,
                    std::string{"FAKETIME_DONT_FAKE_MONOTONIC="}
                      + (skews[k].monotonic ? "0" : "1")};
  auto all = c.added();
  for (auto* n : all)
    REQUIRE(c.start(*n));
  REQUIRE(await_settled(all, 3));
  auto& w = c.start_load();
  // Each node once: SIGKILL after more acks, restart under the same skew.
  for (auto* n : all) {
    REQUIRE(w.await_acks(100, std::chrono::seconds{30}));
    n->kill();
    REQUIRE(c.start(*n));
    REQUIRE(await_settled(all, 3));
  }
  REQUIRE(w.await_acks(100));
  w.stop();
  std::string why;
  auto same = await_converged(all, why);
  INFO(why);
  CHECK(same);
  c.stop_all();
  // The skew took effect: the leaders stamp the events, and every journal
  // holds them all: n1's about an hour ahead, n2's about ten minutes
  // behind (the run is shorter than nine minutes: nothing else is that
  // old).
  journal_options jo;
  jo.partitions = 0;
  auto j = open_lmdb_journal(c[2].dir(), jo);
  REQUIRE(j);
  int64_t newest = 0, oldest = INT64_MAX;
  for (uint32_t p = 0; p < (*j)->partition_count(); ++p)
    REQUIRE_FALSE((*j)->scan_partition(p, 1, [&](const event_view& ev) {
      if (ev.category == "sample.account") {
        newest = std::max(newest, ev.timestamp_ns);
        oldest = std::min(oldest, ev.timestamp_ns);
      }
      return true;
    }));
  j->reset();
  auto now = std::chrono::system_clock::now().time_since_epoch();
  CHECK(std::chrono::nanoseconds{newest} - now > std::chrono::minutes{50});
  CHECK(now - std::chrono::nanoseconds{oldest} > std::chrono::minutes{9});
  auto rep = check_cluster(c.log, all);
  std::printf("clock skew: %zu acks, %zu definite failures, %zu unknown\n%s",
              static_cast<std::size_t>(w.acks),
              static_cast<std::size_t>(w.fails),
              static_cast<std::size_t>(w.unknowns), rep.to_string().c_str());
  INFO(rep.to_string());
  CHECK(rep.seen > 0);
  REQUIRE(rep.valid());
}
