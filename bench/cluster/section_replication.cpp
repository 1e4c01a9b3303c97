// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (4) and (5): replication factor 3 against 1.
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

namespace {

/// (1)'s cluster run on replicated nodes with replication factor `rf`.
throughput_run run_replicated(const settings& cfg,
                              const std::vector<std::string>& ids,
                              uint64_t seed, uint32_t rf, pacing paced) {
  etcd_server etcd;
  return run_cluster(cfg, ids, seed, replicated_options(etcd, rf), paced);
}

/// Rounds of RF 1 and RF 3 (interleaved) with (1)'s drivers on `ids`, and
/// their medians.
replication_summary rf_rounds(const settings& cfg,
                              const std::vector<std::string>& ids) {
  std::vector<throughput_run> one, three;
  for (int i = 0; i < cfg.reps; ++i) {
    auto seed = static_cast<uint64_t>(i + 1);
    one.push_back(run_replicated(cfg, ids, seed, 1, pacing{0, cfg.paced}));
    three.push_back(
      run_replicated(cfg, ids, seed, 3, pacing{one.back().paced_offered, 0}));
    std::printf("  round %d\n", i + 1);
    print_run("RF 1", one.back(), true);
    print_run("RF 3", three.back(), true);
  }
  auto med = median_of;
  replication_summary out;
  out.ran = true;
  out.rf1_rate = med(one, &throughput_run::rate);
  out.rf3_rate = med(three, &throughput_run::rate);
  out.rf1_p99 = med(one, &throughput_run::p99_ms);
  out.rf3_p99 = med(three, &throughput_run::p99_ms);
  out.rf1_paced_p99 = med(one, &throughput_run::paced_p99_ms);
  out.rf3_paced_p99 = med(three, &throughput_run::paced_p99_ms);
  std::vector<double> ratios;
  for (std::size_t i = 0; i < one.size(); ++i) {
    ratios.push_back(three[i].rate / std::max(1.0, one[i].rate));
    out.errors += one[i].errors + three[i].errors;
  }
  std::printf(
    "  medians                  RF 1         RF 3         RF 3/RF 1\n");
  std::printf("    commands/s             %10s   %10s   %6.2fx  (per-round "
              "ratios: median %.2fx)\n",
              fmt_rate(out.rf1_rate).c_str(), fmt_rate(out.rf3_rate).c_str(),
              out.rf3_rate / std::max(1.0, out.rf1_rate), median(ratios));
  auto lat_row = [&](const char* name, double throughput_run::*field) {
    auto a = med(one, field);
    auto b = med(three, field);
    std::printf("    %-22s %10s   %10s   %+8.1f ms\n", name, fmt_ms(a).c_str(),
                fmt_ms(b).c_str(), b - a);
  };
  lat_row("p50 latency", &throughput_run::p50_ms);
  lat_row("p99 latency", &throughput_run::p99_ms);
  std::printf("    open loop at %s cmd/s (%.0f%% of RF 1's rate), each "
              "command timed from when it was due:\n",
              fmt_rate(med(one, &throughput_run::paced_offered)).c_str(),
              cfg.paced * 100);
  std::printf("    %-22s %10s   %10s\n", "achieved commands/s",
              fmt_rate(med(one, &throughput_run::paced_rate)).c_str(),
              fmt_rate(med(three, &throughput_run::paced_rate)).c_str());
  lat_row("p50 latency", &throughput_run::paced_p50_ms);
  lat_row("p99 latency", &throughput_run::paced_p99_ms);
  std::printf("    avg group commit       %10.1f   %10.1f   (per node, "
              "follower writes included at RF 3)\n",
              med(one, &throughput_run::batch),
              med(three, &throughput_run::batch));
  std::printf("    CPU cores used         %10.2f   %10.2f   (of %u)\n",
              med(one, &throughput_run::cpu_cores),
              med(three, &throughput_run::cpu_cores),
              std::thread::hardware_concurrency());
  std::printf("\n");
  return out;
}

} // namespace

replication_summary section_replication(const settings& cfg) {
  std::printf("(4) replication: (1)'s workload on 3 replicated nodes (etcd), "
              "replication factor 3 vs 1; %d round%s of %.1f s each, "
              "interleaved\n",
              cfg.reps, cfg.reps == 1 ? "" : "s", cfg.seconds);
  return rf_rounds(cfg, make_ids(aggregates));
}

replication_summary section_hot(const settings& cfg) {
  std::printf("(5) one hot aggregate: %zu deposits in flight (%zu drivers x "
              "%zu) to ONE aggregate, entering at n1 of 3 replicated nodes, "
              "replication factor 3 vs 1; %d round%s of %.1f s each, "
              "interleaved\n",
              drivers * window, drivers, window, cfg.reps,
              cfg.reps == 1 ? "" : "s", cfg.seconds);
  return rf_rounds(cfg, {"hot"});
}

} // namespace cluster_bench
