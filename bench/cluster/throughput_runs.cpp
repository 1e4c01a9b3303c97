// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/throughput_runs.hpp"

#include "annals/render.hpp"
#include "annals/runtime.hpp"
#include "annals/runtime_config.hpp"

#include "bench_support.hpp"
#include "cluster/cleanup.hpp"
#include "cluster/client.hpp"
#include "cluster/helpers.hpp"
#include "cluster/node_cluster.hpp"
#include "cluster/workload.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace cluster_bench {

using namespace annals::bench_support;

throughput_run run_in_process(const settings& cfg,
                              const std::vector<std::string>& ids,
                              uint64_t seed) {
  bench_dir dir;
  throughput_run res;
  res.fsync_ms = probe_fsync_ms(dir.path());
  local_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  annals::runtime_config rc;
  rc.data_dir = dir.path() + "/data";
  rc.journal.partitions = partitions;
  rc.journal.sync = annals::durability::fsync;
  std::filesystem::create_directories(rc.data_dir);
  auto rt = annals::runtime::start(sys, rc);
  if (!rt) {
    die("runtime: " + annals::render(rt.error()));
  }
  auto accounts = (*rt)->host<cluster_bench::account>();
  activate(sys, accounts, ids);
  auto st0 = (*rt)->stats();
  auto cpu0 = cpu_seconds(0);
  auto start = clock_type::now();
  auto deadline = start
                  + std::chrono::duration_cast<clock_type::duration>(
                    std::chrono::duration<double>(cfg.seconds));
  load l{sys, random_load(accounts, ids, start, deadline, nullptr, seed)};
  auto t = l.wait("in-process load", std::chrono::seconds{120});
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  auto st1 = (*rt)->stats();
  fill_latency(res, t, cfg.seconds);
  res.batch
    = static_cast<double>(st1.appends - st0.appends)
      / static_cast<double>(std::max<uint64_t>(1, st1.commits - st0.commits));
  res.cpu_cores = (cpu_seconds(0) - cpu0) / wall;
  char buf[64];
  std::snprintf(buf, sizeof buf, "process %.2f", res.cpu_cores);
  res.cpu_split = buf;
  (*rt)->shutdown();
  rt->reset();
  return res;
}

throughput_run run_cluster(const settings& cfg,
                           const std::vector<std::string>& ids, uint64_t seed,
                           std::vector<std::string> extra, pacing paced) {
  throughput_run res;
  cluster c{3, std::move(extra)};
  res.fsync_ms = probe_fsync_ms(c.path());
  {
    client_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto root = sys.middleman().remote_actor("127.0.0.1", c[0].port());
    if (!root) {
      die("cannot connect to n1: " + annals::render(root.error()));
    }
    accounts_handle accounts{sys, *root, std::chrono::seconds{60}};
    activate(sys, accounts, ids);
    auto r0 = c[0].must_status();
    std::vector<std::pair<uint64_t, uint64_t>> js0;
    std::vector<double> cpu0;
    for (std::size_t i = 0; i < 3; ++i) {
      js0.push_back(c[i].journal_stats());
      cpu0.push_back(cpu_seconds(c[i].pid()));
    }
    cpu0.push_back(cpu_seconds(0));
    auto start = clock_type::now();
    auto deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
    load l{sys, random_load(accounts, ids, start, deadline, nullptr, seed)};
    auto t = l.wait("cluster load", std::chrono::seconds{120});
    auto wall
      = std::chrono::duration<double>(clock_type::now() - start).count();
    fill_latency(res, t, cfg.seconds);
    auto r1 = c[0].must_status();
    res.forwarded
      = static_cast<double>(r1.forwarded - r0.forwarded)
        / static_cast<double>(std::max<uint64_t>(1, r1.routed - r0.routed));
    double batches = 0;
    std::string split;
    for (std::size_t i = 0; i <= 3; ++i) {
      auto pid = i < 3 ? c[i].pid() : 0;
      auto cores = (cpu_seconds(pid) - cpu0[i]) / wall;
      res.cpu_cores += cores;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", i == 0 ? "" : ", ",
                    i < 3 ? c[i].name().c_str() : "client", cores);
      split += buf;
      if (i < 3) {
        auto js1 = c[i].journal_stats();
        batches += static_cast<double>(js1.second - js0[i].second)
                   / static_cast<double>(
                     std::max<uint64_t>(1, js1.first - js0[i].first));
      }
    }
    res.batch = batches / 3;
    res.cpu_split = split;
    auto offered = paced.rate > 0 ? paced.rate : paced.fraction * res.rate;
    if (offered > 0) {
      auto from = clock_type::now();
      auto until = from
                   + std::chrono::duration_cast<clock_type::duration>(
                     std::chrono::duration<double>(cfg.seconds));
      load open{sys,
                paced_load(accounts, ids, from, until, offered, seed + 1000)};
      auto po = open.wait("paced cluster load", std::chrono::seconds{120});
      throughput_run p;
      fill_latency(p, po, cfg.seconds);
      res.paced_offered = offered;
      res.paced_rate = p.rate;
      res.paced_p50_ms = p.p50_ms;
      res.paced_p99_ms = p.p99_ms;
      res.errors += p.errors;
    }
  } // the client's actor system, before the nodes
  c.stop_all();
  return res;
}

} // namespace cluster_bench
