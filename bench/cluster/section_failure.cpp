// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (3): failure detection of a killed and of a hung node, and
// the failover after a hang (after a kill: (7)).
#include "bench_support.hpp"
#include "cluster/helpers.hpp"
#include "cluster/prober.hpp"
#include "cluster/replicas.hpp"
#include "cluster/replicated_rig.hpp"
#include "cluster/sections.hpp"
#include "cluster/targets.hpp"
#include "cluster/workload.hpp"

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

/// Waits until every node of `nodes` reports all of them reachable and
/// itself settled, and their replicas are in step.
void await_whole(std::vector<node_process*> nodes) {
  auto deadline = clock_type::now() + std::chrono::seconds{60};
  for (;;) {
    bool ok = true;
    for (auto* x : nodes) {
      auto r = x->status();
      ok = ok && r && r->reachable == nodes.size() && r->settled;
    }
    if (ok) {
      break;
    }
    if (clock_type::now() > deadline) {
      die("the restarted node did not become reachable again:\n"
          + nodes.back()->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  await_in_step(nodes);
}

/// The node to fail: of the nodes that lead partitions in `lead`, the one
/// leading most that is not the controller `ctl` (the controller only if
/// it leads every partition).
std::size_t pick_victim(const std::vector<std::size_t>& lead, std::size_t ctl) {
  std::vector<std::size_t> led(3, 0);
  for (auto i : lead) {
    ++led[i];
  }
  std::size_t victim = ctl;
  for (std::size_t i = 0; i < 3; ++i) {
    if (i != ctl && led[i] > 0 && (victim == ctl || led[i] > led[victim])) {
      victim = i;
    }
  }
  return victim;
}

/// The worst of the survivors' detection times; sets `missed` if one
/// never detected it.
double worst(const std::vector<double>& xs, bool& missed) {
  double w = 0;
  for (auto x : xs) {
    if (x < 0) {
      missed = true;
    }
    w = std::max(w, x);
  }
  return w;
}

std::string fmt_or_never(double ms) {
  return ms < 0 ? std::string{"never"} : fmt_ms(ms);
}

} // namespace

failure_summary section_failure(const settings& cfg) {
  std::printf("(3) failure detection: idle 3-node RF 3 cluster (etcd); per "
              "round the non-controller node leading most partitions is "
              "SIGKILLed and restarted, then the same kind of node is "
              "SIGSTOPped (hung) and its partitions probed through the "
              "controller (retried every 5 ms); the survivors polled every "
              "%d ms; %d round%s (kill -> first ack: (7))\n",
              cfg.poll_ms, cfg.failure_reps, cfg.failure_reps == 1 ? "" : "s");
  replicated_rig rig;
  auto& c = rig.nodes();
  auto probe_ids = one_id_per_partition();
  {
    auto f = probe(rig.sys(), rig.handle(0), probe_ids, clock_type::now());
    for (auto ms : await_probe(f, "activation")) {
      if (ms < 0) {
        die("failure detection: a probe aggregate could not be activated");
      }
    }
  }
  auto restart = [&](std::size_t victim) {
    c[victim].kill_now();
    c[victim].start();
    rig.reconnect(victim);
    await_whole(rig.all());
  };
  std::vector<double> kill_ms, stop_ms, stop_acks, rtts;
  bool missed_kill = false, missed_stop = false, missed_ack = false;
  await_in_step(rig.all());
  for (int i = 0; i < cfg.failure_reps; ++i) {
    auto ctl = rig.controller();
    auto killed = pick_victim(leaders_of(await_in_step(rig.all())), ctl);
    auto t0 = clock_type::now();
    c[killed].signal(SIGKILL);
    auto k = await_unreachable(rig.all_but(killed), 2, t0, cfg.poll_ms, rtts);
    restart(killed);
    // A hung node: its connections stay open; only heartbeats and its
    // lease's expiry reveal it.
    ctl = rig.controller();
    auto lead = leaders_of(await_in_step(rig.all()));
    auto hung = pick_victim(lead, ctl);
    auto entry = hung == ctl ? (hung + 1) % 3 : ctl;
    std::vector<std::string> ids;
    for (uint32_t p = 0; p < partitions; ++p) {
      if (lead[p] == hung) {
        ids.push_back(probe_ids[p]);
      }
    }
    auto t1 = clock_type::now();
    c[hung].signal(SIGSTOP);
    auto f = probe(rig.sys(), rig.handle(entry), ids, t1);
    auto s = await_unreachable(rig.all_but(hung), 2, t1, cfg.poll_ms, rtts);
    auto acks = await_probe(f, "failover after a hang");
    c[hung].signal(SIGCONT);
    restart(hung);
    kill_ms.push_back(worst(k, missed_kill));
    stop_ms.push_back(worst(s, missed_stop));
    std::sort(acks.begin(), acks.end());
    for (auto ms : acks) {
      missed_ack = missed_ack || ms < 0;
      stop_acks.push_back(ms);
    }
    std::printf(
      "  round %d: %s killed -> unreachable at the survivors %s, %s; %s "
      "stopped -> %s, %s; its %zu partitions: first ack p50 %s, all %s\n",
      i + 1, c[killed].name().c_str(), fmt_or_never(k[0]).c_str(),
      fmt_or_never(k[1]).c_str(), c[hung].name().c_str(),
      fmt_or_never(s[0]).c_str(), fmt_or_never(s[1]).c_str(), acks.size(),
      acks.empty() ? "-" : fmt_ms(percentile(acks, 0.5)).c_str(),
      acks.empty() || acks.front() < 0 ? "never" : fmt_ms(acks.back()).c_str());
    std::fflush(stdout);
  }
  std::sort(rtts.begin(), rtts.end());
  std::sort(stop_acks.begin(), stop_acks.end());
  failure_summary out;
  out.ran = true;
  out.kill_ms = missed_kill ? -1 : median(kill_ms);
  out.stop_ms = missed_stop ? -1 : median(stop_ms);
  out.stop_ack_p99
    = missed_ack || stop_acks.empty() ? -1 : percentile(stop_acks, 0.99);
  auto rtt = percentile(rtts, 0.5);
  std::printf("  medians (both survivors)   detected   baseline              "
              "ratio\n");
  std::printf(
    "    SIGKILL -> unreachable   %8s   poll round trip %-6s %6.1fx  "
    "(max %s)\n",
    fmt_or_never(out.kill_ms).c_str(), fmt_ms(rtt).c_str(),
    out.kill_ms / std::max(1e-9, rtt),
    fmt_ms(*std::max_element(kill_ms.begin(), kill_ms.end())).c_str());
  std::printf(
    "    SIGSTOP -> unreachable   %8s   heartbeat timeout %-6s "
    "%5.2fx  (max %s)\n",
    fmt_or_never(out.stop_ms).c_str(), fmt_ms(heartbeat_timeout_ms).c_str(),
    out.stop_ms / heartbeat_timeout_ms,
    fmt_ms(*std::max_element(stop_ms.begin(), stop_ms.end())).c_str());
  if (stop_acks.empty()) {
    std::printf("    SIGSTOP -> first ack     none (the hung node led no "
                "partition)\n\n");
  } else {
    std::printf("    SIGSTOP -> first ack     p50 %s p99 %s (%zu partitions)   "
                "lease TTL %s  p99 = %.2fx\n\n",
                fmt_ms(percentile(stop_acks, 0.5)).c_str(),
                fmt_or_never(out.stop_ack_p99).c_str(), stop_acks.size(),
                fmt_ms(lease_ttl_ms).c_str(), out.stop_ack_p99 / lease_ttl_ms);
  }
  return out;
}

} // namespace cluster_bench
