// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (6): replication lag under load.
#include "annals/render.hpp"

#include "bench_support.hpp"
#include "cluster/client.hpp"
#include "cluster/etcd_server.hpp"
#include "cluster/helpers.hpp"
#include "cluster/load.hpp"
#include "cluster/node_cluster.hpp"
#include "cluster/replicas.hpp"
#include "cluster/sections.hpp"
#include "cluster/stats.hpp"
#include "cluster/workload.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <cstdio>

namespace cluster_bench {

using namespace annals::bench_support;

namespace {

/// One node's replicas at one moment (seconds since the load started: the
/// middle of the request).
struct replica_sample {
  double t = 0;
  std::vector<replica_row> rows;
};

struct lag_run {
  /// Per follower replica sample: events behind its leader (lower and
  /// upper bound) and how long ago the leader held the first missing one.
  std::vector<double> events_lo, events_hi, ms_lo, ms_hi;
  /// Per leader replica sample: end - high watermark.
  std::vector<double> window;
  double rate = 0, client_p50 = 0, client_p99 = 0;
  double cycle_ms = 0; ///< one sample of each of the 3 nodes
  uint64_t errors = 0;
  std::string first_error;
};

/// The bounds of one follower sample `f` (partition row `r`) against its
/// leader's samples `ls` (sorted by time); false if they do not apply
/// (leadership changed, or no leader sample on both sides).
bool lag_of(const replica_sample& f, const replica_row& r,
            const std::vector<replica_sample>& ls, lag_run& out) {
  auto it = std::upper_bound(
    ls.begin(), ls.end(), f.t,
    [](double t, const replica_sample& x) { return t < x.t; });
  if (it == ls.begin() || it == ls.end()) {
    return false;
  }
  auto leading = [&](const replica_sample& x) -> const replica_row* {
    const auto* l = row_of(x.rows, r.partition);
    return l != nullptr && l->phase == "leader" && l->epoch == r.epoch
             ? l
             : nullptr;
  };
  const auto* before = leading(*(it - 1));
  const auto* after = leading(*it);
  if (before == nullptr || after == nullptr) {
    return false;
  }
  auto behind = [&](uint64_t leader_end) {
    return leader_end > r.end ? static_cast<double>(leader_end - r.end) : 0.0;
  };
  // Time: the last leader sample (before f) that the follower had fully;
  // the leader wrote the first event the follower lacks after it.
  auto k = it - 1;
  for (;;) {
    const auto* l = leading(*k);
    if (l == nullptr) {
      return false;
    }
    if (l->end <= r.end) {
      break;
    }
    if (k == ls.begin()) {
      return false; // behind every sample: the start of the run
    }
    --k;
  }
  out.events_lo.push_back(behind(before->end));
  out.events_hi.push_back(behind(after->end));
  out.ms_hi.push_back((f.t - k->t) * 1000);
  auto next = k + 1;
  out.ms_lo.push_back(next < it ? (f.t - next->t) * 1000 : 0.0);
  return true;
}

lag_run run_lag(const settings& cfg, const std::vector<std::string>& ids,
                uint64_t seed) {
  lag_run res;
  etcd_server etcd;
  cluster c{3, replicated_options(etcd, 3)};
  std::vector<std::vector<replica_sample>> series(3);
  {
    client_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto root = sys.middleman().remote_actor("127.0.0.1", c[0].port());
    if (!root) {
      die("cannot connect to n1: " + annals::render(root.error()));
    }
    accounts_handle accounts{sys, *root, std::chrono::seconds{60}};
    activate(sys, accounts, ids);
    auto start = clock_type::now();
    auto deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
    load l{sys, random_load(accounts, ids, start, deadline, nullptr, seed)};
    std::size_t cycles = 0;
    while (clock_type::now() < deadline) {
      for (std::size_t i = 0; i < 3; ++i) {
        auto a = clock_type::now();
        auto rows = c[i].replicas();
        auto b = clock_type::now();
        if (rows) {
          series[i].push_back(
            {std::chrono::duration<double>(a + (b - a) / 2 - start).count(),
             std::move(*rows)});
        }
      }
      ++cycles;
    }
    res.cycle_ms = cfg.seconds * 1000 / static_cast<double>(cycles);
    auto t = l.wait("lag load", std::chrono::seconds{120});
    throughput_run tr;
    fill_latency(tr, t, cfg.seconds);
    res.rate = tr.rate;
    res.client_p50 = tr.p50_ms;
    res.client_p99 = tr.p99_ms;
    res.errors = tr.errors;
    res.first_error = tr.first_error;
  }
  c.stop_all();
  for (std::size_t b = 0; b < 3; ++b) {
    for (const auto& f : series[b]) {
      for (const auto& r : f.rows) {
        if (r.phase == "leader") {
          res.window.push_back(
            static_cast<double>(r.end - std::min(r.end, r.hw)));
          continue;
        }
        if (r.phase != "follower") {
          continue;
        }
        for (std::size_t l = 0; l < 3; ++l) {
          if (l != b && c[l].name() == r.leader) {
            lag_of(f, r, series[l], res);
          }
        }
      }
    }
  }
  for (auto* v :
       {&res.events_lo, &res.events_hi, &res.ms_lo, &res.ms_hi, &res.window}) {
    std::sort(v->begin(), v->end());
  }
  return res;
}

} // namespace

lag_summary section_lag(const settings& cfg) {
  std::printf("(6) replication lag: (1)'s workload on 3 replicated nodes, RF "
              "3, every node's replicas sampled back to back; %d round%s of "
              "%.1f s\n",
              cfg.reps, cfg.reps == 1 ? "" : "s", cfg.seconds);
  auto ids = make_ids(aggregates);
  std::vector<lag_run> runs;
  for (int i = 0; i < cfg.reps; ++i) {
    runs.push_back(run_lag(cfg, ids, static_cast<uint64_t>(i + 1)));
    const auto& r = runs.back();
    std::printf("  round %d: %s cmd/s, client p50 %s p99 %s; one sample of "
                "each node every %s; %zu follower samples; follower behind, "
                "p99 %.0f-%.0f events, %s-%s%s%s\n",
                i + 1, fmt_rate(r.rate).c_str(), fmt_ms(r.client_p50).c_str(),
                fmt_ms(r.client_p99).c_str(), fmt_ms(r.cycle_ms).c_str(),
                r.events_hi.size(), percentile(r.events_lo, 0.99),
                percentile(r.events_hi, 0.99),
                fmt_ms(percentile(r.ms_lo, 0.99)).c_str(),
                fmt_ms(percentile(r.ms_hi, 0.99)).c_str(),
                r.errors > 0 ? "; ERRORS: " : "",
                r.errors > 0 ? r.first_error.c_str() : "");
  }
  auto med = [&](std::vector<double> lag_run::*field, double q) {
    std::vector<double> v;
    for (const auto& r : runs) {
      v.push_back(percentile(r.*field, q));
    }
    return median(v);
  };
  auto med_of = [&](double lag_run::*field) {
    std::vector<double> v;
    for (const auto& r : runs) {
      v.push_back(r.*field);
    }
    return median(v);
  };
  lag_summary out;
  out.ran = true;
  out.ms_p99_hi = med(&lag_run::ms_hi, 0.99);
  auto window_p99 = med(&lag_run::window, 0.99);
  auto client_p99 = med_of(&lag_run::client_p99);
  std::printf("  medians (follower durable end vs leader durable end; "
              "[lower-upper] bound from the sampling)\n");
  std::printf("    follower behind, events  p50 [%.0f-%.0f]  p99 [%.0f-%.0f]  "
              "max %.0f   leader end-hw p99 %.0f   %6.2fx\n",
              med(&lag_run::events_lo, 0.5), med(&lag_run::events_hi, 0.5),
              med(&lag_run::events_lo, 0.99), med(&lag_run::events_hi, 0.99),
              med(&lag_run::events_hi, 1.0), window_p99,
              med(&lag_run::events_hi, 0.99) / std::max(1.0, window_p99));
  std::printf(
    "    follower behind, time    p50 [%s-%s]  p99 [%s-%s]  max %s   "
    "client p99 %s   %6.2fx\n",
    fmt_ms(med(&lag_run::ms_lo, 0.5)).c_str(),
    fmt_ms(med(&lag_run::ms_hi, 0.5)).c_str(),
    fmt_ms(med(&lag_run::ms_lo, 0.99)).c_str(), fmt_ms(out.ms_p99_hi).c_str(),
    fmt_ms(med(&lag_run::ms_hi, 1.0)).c_str(), fmt_ms(client_p99).c_str(),
    out.ms_p99_hi / std::max(1e-9, client_p99));
  std::printf("    (time resolution: one sample of each node every %s)\n\n",
              fmt_ms(med_of(&lag_run::cycle_ms)).c_str());
  return out;
}

} // namespace cluster_bench
