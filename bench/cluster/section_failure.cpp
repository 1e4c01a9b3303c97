// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (3): failure detection of a killed and of a hung node.
#include "bench_support.hpp"
#include "cluster/helpers.hpp"
#include "cluster/node_cluster.hpp"
#include "cluster/sections.hpp"
#include "cluster/targets.hpp"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <thread>

namespace cluster_bench {

using namespace annals::bench_support;

namespace {

/// Polls `watchers` until each reports at most `reachable` reachable members;
/// the time (ms since `t0`) each one did, or a negative value on timeout.
std::vector<double> await_unreachable(std::vector<node_process*> watchers,
                                      std::size_t reachable,
                                      clock_type::time_point t0, int poll_ms,
                                      std::vector<double>& rtts) {
  std::vector<double> out(watchers.size(), -1);
  auto deadline = t0 + std::chrono::seconds{15};
  std::size_t left = watchers.size();
  while (left > 0 && clock_type::now() < deadline) {
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      if (out[i] >= 0) {
        continue;
      }
      auto a = clock_type::now();
      auto r = watchers[i]->status();
      auto b = clock_type::now();
      rtts.push_back(ms_between(a, b));
      if (r && r->reachable <= reachable) {
        // Seen between the previous poll and this reply: count its middle.
        out[i] = ms_between(t0, a + (b - a) / 2);
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{poll_ms});
  }
  return out;
}

void await_reachable(std::vector<node_process*> nodes, std::size_t n) {
  auto deadline = clock_type::now() + std::chrono::seconds{60};
  for (;;) {
    bool ok = true;
    for (auto* x : nodes) {
      auto r = x->status();
      ok = ok && r && r->reachable == n && r->settled;
    }
    if (ok) {
      return;
    }
    if (clock_type::now() > deadline) {
      die("the restarted node did not become reachable again:\n"
          + nodes.back()->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

} // namespace

failure_summary section_failure(const settings& cfg) {
  std::printf("(3) failure detection: idle 3-node cluster; n3 SIGKILLed, "
              "then (restarted) SIGSTOPped; n1 and n2 polled every %d ms; "
              "%d round%s\n",
              cfg.poll_ms, cfg.failure_reps, cfg.failure_reps == 1 ? "" : "s");
  cluster c{3};
  std::vector<node_process*> watchers{&c[0], &c[1]};
  std::vector<double> kill_ms, stop_ms, rtts;
  bool missed_kill = false, missed_stop = false;
  auto restart = [&] {
    c[2].start(c[0].address());
    await_reachable({&c[0], &c[1], &c[2]}, 3);
  };
  for (int i = 0; i < cfg.failure_reps; ++i) {
    auto t0 = clock_type::now();
    c[2].signal(SIGKILL);
    auto k = await_unreachable(watchers, 2, t0, cfg.poll_ms, rtts);
    c[2].kill_now();
    restart();
    auto t1 = clock_type::now();
    c[2].signal(SIGSTOP);
    auto s = await_unreachable(watchers, 2, t1, cfg.poll_ms, rtts);
    c[2].signal(SIGCONT);
    c[2].kill_now();
    if (i + 1 < cfg.failure_reps) {
      restart();
    }
    // "Marked by the others" = by both survivors.
    auto worst = [](const std::vector<double>& xs, bool& missed) {
      double w = 0;
      for (auto x : xs) {
        if (x < 0) {
          missed = true;
        }
        w = std::max(w, x);
      }
      return w;
    };
    auto kw = worst(k, missed_kill);
    auto sw = worst(s, missed_stop);
    kill_ms.push_back(kw);
    stop_ms.push_back(sw);
    std::printf("  round %d: killed -> unreachable at n1 %s, n2 %s; "
                "stopped -> n1 %s, n2 %s\n",
                i + 1, k[0] < 0 ? "never" : fmt_ms(k[0]).c_str(),
                k[1] < 0 ? "never" : fmt_ms(k[1]).c_str(),
                s[0] < 0 ? "never" : fmt_ms(s[0]).c_str(),
                s[1] < 0 ? "never" : fmt_ms(s[1]).c_str());
  }
  c.stop_all();
  std::sort(rtts.begin(), rtts.end());
  failure_summary out;
  out.ran = true;
  out.kill_ms = missed_kill ? -1 : median(kill_ms);
  out.stop_ms = missed_stop ? -1 : median(stop_ms);
  auto rtt = percentile(rtts, 0.5);
  std::printf("  medians (both survivors)   detected   baseline              "
              "ratio\n");
  std::printf(
    "    SIGKILL -> unreachable   %8s   poll round trip %-6s %6.1fx  "
    "(max %s)\n",
    missed_kill ? "never" : fmt_ms(out.kill_ms).c_str(), fmt_ms(rtt).c_str(),
    out.kill_ms / std::max(1e-9, rtt),
    fmt_ms(*std::max_element(kill_ms.begin(), kill_ms.end())).c_str());
  std::printf(
    "    SIGSTOP -> unreachable   %8s   heartbeat timeout %-6s "
    "%5.2fx  (max %s)\n\n",
    missed_stop ? "never" : fmt_ms(out.stop_ms).c_str(),
    fmt_ms(heartbeat_timeout_ms).c_str(), out.stop_ms / heartbeat_timeout_ms,
    fmt_ms(*std::max_element(stop_ms.begin(), stop_ms.end())).c_str());
  return out;
}

} // namespace cluster_bench
