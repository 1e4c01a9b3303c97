// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (1): throughput through 3 node processes (etcd, RF 1) vs
// in-process.
#include "bench_support.hpp"
#include "cluster/etcd_server.hpp"
#include "cluster/helpers.hpp"
#include "cluster/sections.hpp"
#include "cluster/throughput_runs.hpp"
#include "cluster/workload.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

namespace cluster_bench {

using namespace annals::bench_support;

throughput_summary section_throughput(const settings& cfg) {
  std::printf("(1) throughput: %zu aggregates, %zu in flight (%zu drivers x "
              "%zu), deposits entering at n1 of 3 nodes (etcd, replication "
              "factor 1); %d round%s of %.1f s each, in-process and cluster "
              "interleaved\n",
              aggregates, drivers * window, drivers, window, cfg.reps,
              cfg.reps == 1 ? "" : "s", cfg.seconds);
  auto ids = make_ids(aggregates);
  std::vector<throughput_run> local, remote;
  for (int i = 0; i < cfg.reps; ++i) {
    auto seed = static_cast<uint64_t>(i + 1);
    local.push_back(run_in_process(cfg, ids, seed));
    {
      etcd_server etcd;
      remote.push_back(
        run_cluster(cfg, ids, seed, replicated_options(etcd, 1)));
    }
    {
      std::printf("  round %d\n", i + 1);
      print_run("in-process", local.back());
      print_run("cluster", remote.back());
    }
  }
  auto med = median_of;
  throughput_summary out;
  out.local_rate = med(local, &throughput_run::rate);
  out.cluster_rate = med(remote, &throughput_run::rate);
  std::vector<double> ratios;
  for (std::size_t i = 0; i < local.size(); ++i) {
    ratios.push_back(remote[i].rate / std::max(1.0, local[i].rate));
  }
  for (const auto& r : remote) {
    out.errors += r.errors;
  }
  for (const auto& r : local) {
    out.errors += r.errors;
  }
  std::printf("  medians                  in-process      cluster   "
              "cluster/in-process\n");
  std::printf("    commands/s             %10s   %10s   %6.2fx  (per-round "
              "ratios: median %.2fx)\n",
              fmt_rate(out.local_rate).c_str(),
              fmt_rate(out.cluster_rate).c_str(),
              out.cluster_rate / std::max(1.0, out.local_rate), median(ratios));
  auto lat_row = [&](const char* name, double throughput_run::*field) {
    auto a = med(local, field);
    auto b = med(remote, field);
    std::printf("    %-22s %10s   %10s   %6.2fx\n", name, fmt_ms(a).c_str(),
                fmt_ms(b).c_str(), b / std::max(1e-9, a));
  };
  lat_row("p50 latency", &throughput_run::p50_ms);
  lat_row("p99 latency", &throughput_run::p99_ms);
  std::printf("    avg group commit       %10.1f   %10.1f   (cluster: per "
              "node)\n",
              med(local, &throughput_run::batch),
              med(remote, &throughput_run::batch));
  std::printf("    CPU cores used         %10.2f   %10.2f   (of %u)\n",
              med(local, &throughput_run::cpu_cores),
              med(remote, &throughput_run::cpu_cores),
              std::thread::hardware_concurrency());
  std::printf("    forwarded by n1                     %9.1f%%   (expected "
              "~67%%)\n",
              med(remote, &throughput_run::forwarded) * 100);
  std::printf("\n");
  return out;
}

} // namespace cluster_bench
