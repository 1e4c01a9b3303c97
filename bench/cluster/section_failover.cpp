// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (7): failover time after a SIGKILL of a partition leader.
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

namespace cluster_bench {

using namespace annals::bench_support;

namespace {

struct failover_round {
  std::string victim;
  bool controller = false;
  std::vector<double> ms; ///< per partition it led: kill -> first ack
  double rtt_ms = 0;      ///< the probe's round trip before the kill
  uint64_t writes = 0;    ///< map writes until the last ack
};

} // namespace

failover_summary section_failover(const settings& cfg) {
  std::printf("(7) failover: idle 3-node RF 3 cluster; %d SIGKILLs of a "
              "partition leader (every third the etcd controller), restarted "
              "in between; per partition it led: kill -> first acknowledged "
              "deposit (retried every 5 ms through a survivor)\n",
              cfg.kills);
  replicated_rig rig;
  auto& c = rig.nodes();
  auto probe_ids = one_id_per_partition();
  {
    auto f = probe(rig.sys(), rig.handle(0), probe_ids, clock_type::now());
    for (auto ms : await_probe(f, "activation")) {
      if (ms < 0) {
        die("failover: a probe aggregate could not be activated");
      }
    }
  }
  std::vector<failover_round> rounds;
  for (int k = 0; k < cfg.kills; ++k) {
    auto table = await_in_step(rig.all());
    auto lead = leaders_of(table);
    auto ctl = rig.controller();
    std::vector<std::size_t> led(3, 0);
    for (auto i : lead) {
      ++led[i];
    }
    std::size_t victim = 3;
    if (k % 3 == 2 && led[ctl] > 0) {
      victim = ctl;
    } else {
      for (std::size_t i = 0; i < 3; ++i) {
        if (i != ctl && led[i] > 0 && (victim == 3 || led[i] > led[victim])) {
          victim = i;
        }
      }
      if (victim == 3) {
        victim = ctl;
      }
    }
    auto entry = victim == ctl ? (victim + 1) % 3 : ctl;
    std::vector<std::string> ids;
    for (uint32_t p = 0; p < partitions; ++p) {
      if (lead[p] == victim) {
        ids.push_back(probe_ids[p]);
      }
    }
    failover_round r;
    r.victim = c[victim].name();
    r.controller = victim == ctl;
    {
      auto f = probe(rig.sys(), rig.handle(entry), ids, clock_type::now());
      r.rtt_ms = median(await_probe(f, "failover round trip"));
    }
    auto v0 = rig.map_version();
    auto t0 = clock_type::now();
    c[victim].signal(SIGKILL);
    auto f = probe(rig.sys(), rig.handle(entry), ids, t0);
    r.ms = await_probe(f, "failover");
    r.writes = rig.map_version() - v0;
    c[victim].kill_now();
    c[victim].start();
    rig.reconnect(victim);
    std::sort(r.ms.begin(), r.ms.end());
    std::printf(
      "  kill %2d: %s%s, leader of %zu partitions: first ack after "
      "p50 %s, all %s (round trip before: %s); map writes %llu\n",
      k + 1, r.victim.c_str(), r.controller ? " (controller)" : "", r.ms.size(),
      fmt_ms(percentile(r.ms, 0.5)).c_str(),
      r.ms.empty() || r.ms.front() < 0 ? "never" : fmt_ms(r.ms.back()).c_str(),
      fmt_ms(r.rtt_ms).c_str(), static_cast<unsigned long long>(r.writes));
    std::fflush(stdout);
    rounds.push_back(std::move(r));
  }
  await_in_step(rig.all());
  std::vector<double> all, plain, ctl_kills, last, rtts;
  bool missed = false;
  for (const auto& r : rounds) {
    for (auto ms : r.ms) {
      missed = missed || ms < 0;
      all.push_back(ms);
      (r.controller ? ctl_kills : plain).push_back(ms);
    }
    if (!r.ms.empty()) {
      last.push_back(r.ms.back());
    }
    rtts.push_back(r.rtt_ms);
  }
  for (auto* v : {&all, &plain, &ctl_kills, &last}) {
    std::sort(v->begin(), v->end());
  }
  failover_summary out;
  out.ran = true;
  out.p99 = missed ? -1 : percentile(all, 0.99);
  auto row = [&](const char* name, const std::vector<double>& v) {
    if (v.empty()) {
      std::printf("    %-32s none\n", name);
      return;
    }
    std::printf("    %-32s p50 %-7s p99 %-7s max %-7s  (%zu)   lease TTL %s  "
                "p99 = %.2fx\n",
                name, fmt_ms(percentile(v, 0.5)).c_str(),
                fmt_ms(percentile(v, 0.99)).c_str(), fmt_ms(v.back()).c_str(),
                v.size(), fmt_ms(lease_ttl_ms).c_str(),
                percentile(v, 0.99) / lease_ttl_ms);
  };
  std::printf("  kill -> first ack per partition          (samples)    "
              "baseline\n");
  row("all kills", all);
  row("a node not the controller", plain);
  row("the controller", ctl_kills);
  row("per kill: its last partition", last);
  std::printf("    probe round trip before the kills: median %s%s\n\n",
              fmt_ms(median(rtts)).c_str(),
              missed ? "   SOME PARTITIONS NEVER ANSWERED (30 s)" : "");
  return out;
}

} // namespace cluster_bench
