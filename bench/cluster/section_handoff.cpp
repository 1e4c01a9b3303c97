// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (2): hand-off pauses while a node joins and another leaves.
#include "annals/render.hpp"

#include "bench_support.hpp"
#include "cluster/client.hpp"
#include "cluster/helpers.hpp"
#include "cluster/load.hpp"
#include "cluster/node_cluster.hpp"
#include "cluster/sections.hpp"
#include "cluster/stats.hpp"
#include "cluster/workload.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace cluster_bench {

using namespace annals::bench_support;

namespace {

struct handoff_run {
  std::vector<double> pauses;
  double join_ms = 0, leave_ms = 0; ///< until the cluster settled
  double steady_rate = 0, move_rate = 0;
  double steady_p99 = 0, move_p99 = 0;
  double steady_max = 0, move_max = 0;
  double steady_gap = 0, move_gap = 0;
  uint64_t move_errors = 0, errors = 0;
  std::string first_error;
  uint64_t events_at_join = 0; ///< in the whole cluster (approximately)
};

handoff_run run_handoff(const settings& cfg,
                        const std::vector<std::string>& ids, uint64_t seed) {
  handoff_run res;
  cluster c{3};
  std::vector<std::size_t> before;
  {
    client_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto root = sys.middleman().remote_actor("127.0.0.1", c[0].port());
    if (!root) {
      die("cannot connect to n1: " + annals::render(root.error()));
    }
    accounts_handle accounts{sys, *root, std::chrono::seconds{60}};
    activate(sys, accounts, ids);
    for (std::size_t i = 0; i < 3; ++i) {
      before.push_back(c[i].handoff_pauses().size());
    }
    before.push_back(0); // n4
    std::atomic<bool> stop{false};
    auto epoch = clock_type::now();
    auto since = [&] {
      return std::chrono::duration<double>(clock_type::now() - epoch).count();
    };
    load l{sys, random_load(accounts, ids, epoch, clock_type::time_point::max(),
                            &stop, seed)};
    sleep_s(cfg.steady_s);
    auto t_join = since();
    c.add(); // n4 joins through n1
    c.await_settled();
    auto t_joined = since();
    sleep_s(cfg.between_s);
    auto t_leave = since();
    c[1].leave();
    c.mark_left(c[1]);
    c.await_settled();
    auto t_left = since();
    sleep_s(0.3);
    stop = true;
    auto t = l.wait("hand-off load", std::chrono::seconds{120});
    res.events_at_join = ids.size();
    for (const auto& s : t.samples) {
      res.events_at_join += s.ok && s.replied < t_join ? 1 : 0;
    }
    res.join_ms = (t_joined - t_join) * 1000;
    res.leave_ms = (t_left - t_leave) * 1000;
    // Steady: after a warm-up of 0.3 s until the join; move: from the join
    // until the leave settled.
    auto warm = std::min(0.3, t_join / 2);
    auto steady = latencies(t.samples, warm, t_join);
    auto move = latencies(t.samples, t_join, t_left);
    auto count_ok = [&](double from, double to) {
      uint64_t n = 0;
      for (const auto& s : t.samples) {
        n += s.ok && s.replied >= from && s.replied < to ? 1 : 0;
      }
      return static_cast<double>(n) / std::max(1e-9, to - from);
    };
    res.steady_rate = count_ok(warm, t_join);
    res.move_rate = count_ok(t_join, t_left);
    res.steady_p99 = percentile(steady, 0.99);
    res.move_p99 = percentile(move, 0.99);
    res.steady_max = steady.empty() ? 0 : steady.back();
    res.move_max = move.empty() ? 0 : move.back();
    // Commands that failed count with their time to the error.
    for (const auto& s : t.samples) {
      if (!s.ok && s.sent >= t_join && s.sent < t_left) {
        ++res.move_errors;
        res.move_max = std::max(res.move_max, (s.replied - s.sent) * 1000);
      }
    }
    res.steady_gap = longest_gap(t.samples, warm, t_join);
    res.move_gap = longest_gap(t.samples, t_join, t_left);
    res.errors = t.errors;
    res.first_error = t.first_error;
  }
  for (std::size_t i = 0; i < 4; ++i) {
    auto all = c[i].handoff_pauses();
    for (std::size_t j = before[i]; j < all.size(); ++j) {
      res.pauses.push_back(all[j]);
    }
  }
  c.stop_all();
  return res;
}

} // namespace

handoff_summary section_handoff(const settings& cfg) {
  std::printf("(2) hand-off under load: 3 nodes, load as in (1) entering at "
              "n1; n4 joins, settles, then n2 leaves; %d round%s\n",
              cfg.handoff_reps, cfg.handoff_reps == 1 ? "" : "s");
  auto ids = make_ids(aggregates);
  std::vector<handoff_run> runs;
  std::vector<double> pauses;
  for (int i = 0; i < cfg.handoff_reps; ++i) {
    runs.push_back(run_handoff(cfg, ids, static_cast<uint64_t>(100 + i)));
    const auto& r = runs.back();
    pauses.insert(pauses.end(), r.pauses.begin(), r.pauses.end());
    std::string ps;
    for (auto p : r.pauses) {
      if (!ps.empty()) {
        ps += ' ';
      }
      ps += fmt_ms(p);
    }
    std::printf("  round %d: %s events in the cluster at the join; join "
                "settled in %s, leave in %s; pauses: %s%s%s\n",
                i + 1, fmt_rate(static_cast<double>(r.events_at_join)).c_str(),
                fmt_ms(r.join_ms).c_str(), fmt_ms(r.leave_ms).c_str(),
                ps.c_str(), r.errors > 0 ? "; first error: " : "",
                r.errors > 0 ? r.first_error.c_str() : "");
  }
  std::sort(pauses.begin(), pauses.end());
  auto med = [&](double handoff_run::*field) {
    std::vector<double> v;
    for (const auto& r : runs) {
      v.push_back(r.*field);
    }
    return median(v);
  };
  auto steady_p99 = med(&handoff_run::steady_p99);
  handoff_summary out;
  out.ran = true;
  out.p99 = percentile(pauses, 0.99);
  std::printf("  hand-off pause (%zu hand-offs, each one partition group "
              "from one old to one new owner):\n",
              pauses.size());
  std::printf("    p50 %s  p99 %s  max %s   vs steady client p99 %s: p99 "
              "pause = %.1fx\n",
              fmt_ms(percentile(pauses, 0.5)).c_str(), fmt_ms(out.p99).c_str(),
              fmt_ms(pauses.empty() ? 0 : pauses.back()).c_str(),
              fmt_ms(steady_p99).c_str(), out.p99 / std::max(1e-9, steady_p99));
  std::printf("  clients (medians over rounds)  steady before   during the "
              "move   move/steady\n");
  auto row = [&](const char* name, double a, double b, bool ms) {
    std::printf("    %-28s %10s   %12s   %6.2fx\n", name,
                ms ? fmt_ms(a).c_str() : fmt_rate(a).c_str(),
                ms ? fmt_ms(b).c_str() : fmt_rate(b).c_str(),
                b / std::max(1e-9, a));
  };
  row("commands/s", med(&handoff_run::steady_rate),
      med(&handoff_run::move_rate), false);
  row("p99 latency", steady_p99, med(&handoff_run::move_p99), true);
  row("longest command (max)", med(&handoff_run::steady_max),
      med(&handoff_run::move_max), true);
  row("longest gap between replies", med(&handoff_run::steady_gap),
      med(&handoff_run::move_gap), true);
  std::vector<double> failed;
  for (const auto& r : runs) {
    failed.push_back(static_cast<double>(r.move_errors));
  }
  std::printf(
    "    failed commands during the move: %.0f (median of rounds)\n\n",
    median(failed));
  return out;
}

} // namespace cluster_bench
