// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (9): etcd writes per failover.
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

writes_summary section_writes(const settings& cfg) {
  std::printf("(9) etcd writes per failover: idle 3-node RF 3 cluster; the map "
              "key's etcd version before a SIGKILL of a partition leader and "
              "once the survivors serve all partitions and the map stayed "
              "unchanged for 1 s; then for its restart; %d round%s (a "
              "non-controller, then the controller)\n",
              cfg.catchup_reps, cfg.catchup_reps == 1 ? "" : "s");
  writes_summary out;
  out.ran = true;
  std::vector<double> returns;
  for (int round = 0; round < cfg.catchup_reps; ++round) {
    replicated_rig rig;
    auto& c = rig.nodes();
    auto probe_ids = one_id_per_partition();
    {
      auto f = probe(rig.sys(), rig.handle(0), probe_ids, clock_type::now());
      await_probe(f, "activation");
    }
    for (int kind = 0; kind < 2; ++kind) {
      auto lead = leaders_of(await_in_step(rig.all()));
      auto ctl = rig.controller();
      std::size_t victim = 3;
      for (std::size_t i = 0; i < 3; ++i) {
        bool leads = std::count(lead.begin(), lead.end(), i) > 0;
        if (leads && (kind == 0) == (i != ctl)) {
          victim = i;
        }
      }
      if (victim == 3) {
        std::printf("  round %d: no %s leads a partition: skipped\n", round + 1,
                    kind == 0 ? "non-controller" : "controller");
        continue;
      }
      auto entry = victim == ctl ? (victim + 1) % 3 : ctl;
      std::vector<std::string> ids;
      for (uint32_t p = 0; p < partitions; ++p) {
        if (lead[p] == victim) {
          ids.push_back(probe_ids[p]);
        }
      }
      auto v0 = rig.await_map_quiet(std::chrono::milliseconds{500});
      auto t0 = clock_type::now();
      c[victim].signal(SIGKILL);
      auto f = probe(rig.sys(), rig.handle(entry), ids, t0);
      auto ms = await_probe(f, "writes");
      await_in_step(rig.all_but(victim));
      auto v1 = rig.await_map_quiet();
      c[victim].kill_now();
      c[victim].start();
      rig.reconnect(victim);
      await_in_step(rig.all());
      auto v2 = rig.await_map_quiet();
      out.per_failover.push_back(static_cast<double>(v1 - v0));
      returns.push_back(static_cast<double>(v2 - v1));
      std::printf("  round %d: kill %s%s (leader of %zu partitions, all "
                  "serving after %s): map writes %llu (version %llu -> "
                  "%llu); its restart: %llu\n",
                  round + 1, c[victim].name().c_str(),
                  victim == ctl ? " (controller)" : "", ids.size(),
                  fmt_ms(*std::max_element(ms.begin(), ms.end())).c_str(),
                  static_cast<unsigned long long>(v1 - v0),
                  static_cast<unsigned long long>(v0),
                  static_cast<unsigned long long>(v1),
                  static_cast<unsigned long long>(v2 - v1));
      std::fflush(stdout);
    }
  }
  auto writes = median(out.per_failover);
  std::printf(
    "  median map writes per failover %.1f (max %.0f), per restart "
    "%.1f   goal %.0f   %.2fx\n\n",
    writes,
    out.per_failover.empty()
      ? 0.0
      : *std::max_element(out.per_failover.begin(), out.per_failover.end()),
    median(returns), target_failover_writes, writes / target_failover_writes);
  return out;
}

} // namespace cluster_bench
