// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (10): the pause a replica move causes in replicated mode.
#include "annals/persistence/stream.hpp"

#include "bench_support.hpp"
#include "cluster/helpers.hpp"
#include "cluster/load.hpp"
#include "cluster/map_view.hpp"
#include "cluster/replicas.hpp"
#include "cluster/replicated_rig.hpp"
#include "cluster/sections.hpp"
#include "cluster/stats.hpp"
#include "cluster/workload.hpp"
#include "cluster_bench_account.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

namespace cluster_bench {

using namespace annals::bench_support;

namespace {

/// Deposits in flight per partition: 256 in all, as in (1) and (4).
constexpr std::size_t partition_window = drivers * window / partitions;

/// One map version seen while polling (for --verbose).
struct map_event {
  double t = 0; ///< s since the load's epoch
  uint64_t version = 0;
  std::size_t learners = 0, unsettled = 0, extra_voters = 0;
};

/// One membership change under load (a join or a leave).
struct move_phase {
  std::string what;             ///< "n4 joins", "n2 leaves"
  double ready_ms = 0;          ///< a join: spawn -> READY
  double converge_ms = 0;       ///< READY (a join) or `leave` sent -> converged
  double left_ms = 0;           ///< a leave: `leave` sent -> "LEFT ok"
  uint64_t writes = 0;          ///< map writes until converged
  std::size_t leaders = 0;      ///< moved partitions with another leader
  double from = 0, to = 0;      ///< the window, s since the load's epoch
  std::vector<bool> moved;      ///< per partition: its voters changed
  std::vector<double> gaps[2];  ///< ms, sorted: [0] not moved, [1] moved
  uint64_t retries[2] = {0, 0}; ///< resent deposits acked in the window
  struct gap {
    double ms = 0, at = 0;
    uint32_t partition = 0;
    bool moved = false;
  };
  std::vector<gap> worst;       ///< per partition, longest first
  std::vector<map_event> trace; ///< the map versions polled

  std::size_t moved_count() const {
    return static_cast<std::size_t>(
      std::count(moved.begin(), moved.end(), true));
  }
};

struct moves_run {
  move_phase join, leave;
  /// After the leave: no move, as long as the longer of the two windows.
  move_phase steady;
  double rate = 0; ///< acks/s over the whole load
  uint64_t errors = 0;
  std::string first_error;
};

/// Per partition: the ids of `ids` in it.
std::vector<std::vector<std::string>>
by_partition(const std::vector<std::string>& ids) {
  std::vector<std::vector<std::string>> out(partitions);
  for (const auto& id : ids) {
    auto p = annals::partition_of(
      annals::stream_id{std::string{cluster_bench::account::category}, id},
      partitions);
    out[p].push_back(id);
  }
  return out;
}

/// Polls the map (every 10 ms) until it is `converged` with `members`;
/// dies after 120 s. Appends each new version to `trace`.
map_view await_converged(const etcd_server& etcd,
                         const std::set<std::string>& members,
                         const std::string& what, clock_type::time_point epoch,
                         std::vector<map_event>& trace) {
  auto deadline = clock_type::now() + std::chrono::seconds{120};
  for (;;) {
    auto m = read_map(etcd);
    if (m && (trace.empty() || trace.back().version != m->etcd_version)) {
      map_event e;
      e.t = std::chrono::duration<double>(clock_type::now() - epoch).count();
      e.version = m->etcd_version;
      for (const auto& x : m->partitions) {
        e.learners += x.learners.size();
        e.unsettled += x.settled ? 0 : 1;
        e.extra_voters += x.voters.size() > m->rf ? 1 : 0;
      }
      trace.push_back(e);
    }
    if (m && converged(*m, members)) {
      return *m;
    }
    if (clock_type::now() > deadline) {
      die("the partition map did not converge: " + what);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

void mark_moved(move_phase& ph, const map_view& before, const map_view& after) {
  auto moved = moved_partitions(before, after);
  ph.moved.assign(partitions, false);
  for (auto p : moved) {
    ph.moved[p] = true;
  }
  ph.leaders = leaders_moved(before, after, moved);
  ph.writes = after.etcd_version - before.etcd_version;
}

/// The longest time (ms) in [from, to] without an ack in `sorted`, and
/// when it began (s since the epoch).
std::pair<double, double> longest_gap_at(const std::vector<sample>& sorted,
                                         double from, double to) {
  double last = from, gap = 0, at = from;
  for (const auto& s : sorted) {
    if (!s.ok || s.replied < from) {
      continue;
    }
    if (s.replied > to) {
      break;
    }
    if (s.replied - last > gap) {
      gap = s.replied - last;
      at = last;
    }
    last = s.replied;
  }
  if (to - last > gap) {
    gap = to - last;
    at = last;
  }
  return {gap * 1000, at};
}

/// Per partition: the longest gap between acks in the phase's window.
void fill_gaps(move_phase& ph, const std::vector<load::totals>& per) {
  for (std::size_t p = 0; p < per.size(); ++p) {
    auto k = ph.moved[p] ? 1 : 0;
    const auto& xs = per[p].samples;
    auto [gap, at] = longest_gap_at(xs, ph.from, ph.to);
    ph.gaps[k].push_back(gap);
    ph.worst.push_back({gap, at, static_cast<uint32_t>(p), ph.moved[p]});
    for (const auto& x : xs) {
      if (x.ok && x.replied >= ph.from && x.replied <= ph.to) {
        ph.retries[k] += x.retries;
      }
    }
  }
  for (auto& g : ph.gaps) {
    std::sort(g.begin(), g.end());
  }
  std::sort(ph.worst.begin(), ph.worst.end(),
            [](const auto& a, const auto& b) { return a.ms > b.ms; });
}

/// --verbose: the map versions and the longest gaps of a phase.
void print_trace(const move_phase& ph) {
  std::printf("    %s at %.3f s; map versions (t, version, learners, "
              "unsettled, partitions with an extra voter):",
              ph.what.c_str(), ph.from);
  for (const auto& e : ph.trace) {
    std::printf(" [%.3f v%llu %zu %zu %zu]", e.t,
                static_cast<unsigned long long>(e.version), e.learners,
                e.unsettled, e.extra_voters);
  }
  std::printf("\n    longest gaps (ms from s, partition, moved):");
  for (std::size_t i = 0; i < std::min<std::size_t>(10, ph.worst.size()); ++i) {
    const auto& w = ph.worst[i];
    std::printf(" [%.0f from %.3f p%u %s]", w.ms, w.at, w.partition,
                w.moved ? "moved" : "-");
  }
  std::printf("\n");
}

moves_run run_moves(const settings& cfg, const std::vector<std::string>& ids,
                    uint64_t seed) {
  moves_run res;
  replicated_rig rig;
  auto& c = rig.nodes();
  activate(rig.sys(), rig.handle(0), ids);
  await_in_step(rig.all());
  auto parts = by_partition(ids);
  std::atomic<bool> stop{false};
  auto epoch = clock_type::now();
  auto since = [&] {
    return std::chrono::duration<double>(clock_type::now() - epoch).count();
  };
  std::vector<load_spec> specs;
  for (uint32_t p = 0; p < partitions; ++p) {
    load_spec s;
    s.accounts = rig.handle(0);
    s.ids = &parts[p];
    s.stop = &stop;
    s.window = partition_window;
    s.seed = seed * 1000 + p;
    s.epoch = epoch;
    s.timeout = std::chrono::seconds{10};
    s.retry = true;
    specs.push_back(s);
  }
  load l{rig.sys(), specs};
  sleep_s(cfg.steady_s);
  // n4 joins: learner of the partitions the ring moves to it, then a 4th
  // voter, then the voter the ring dropped leaves.
  std::set<std::string> members{"n1", "n2", "n3"};
  std::vector<map_event> start_trace;
  auto before = await_converged(rig.etcd(), members, "before the join", epoch,
                                start_trace);
  res.join.from = since();
  auto t_spawn = clock_type::now();
  auto& joiner = c.add();
  auto t_ready = clock_type::now();
  res.join.what = joiner.name() + " joins";
  members.insert(joiner.name());
  auto joined = await_converged(rig.etcd(), members, res.join.what, epoch,
                                res.join.trace);
  res.join.ready_ms = ms_between(t_spawn, t_ready);
  res.join.converge_ms = ms_between(t_ready, clock_type::now());
  mark_moved(res.join, before, joined);
  // Ends well after the last change: a pause that began before the map
  // converged is measured to its end.
  sleep_s(std::max(cfg.between_s, 0.5));
  res.join.to = since();
  // A node leaves that neither takes the load (n1) nor controls.
  auto leaver = rig.controller() == 1 ? 2 : 1;
  auto& gone = c[static_cast<std::size_t>(leaver)];
  res.leave.what = gone.name() + " leaves";
  members.erase(gone.name());
  res.leave.from = since();
  auto t_leave = clock_type::now();
  auto left = std::async(std::launch::async, [&gone] {
    gone.leave();
    return clock_type::now();
  });
  auto after = await_converged(rig.etcd(), members, res.leave.what, epoch,
                               res.leave.trace);
  res.leave.converge_ms = ms_between(t_leave, clock_type::now());
  res.leave.left_ms = ms_between(t_leave, left.get());
  c.mark_left(gone);
  mark_moved(res.leave, joined, after);
  sleep_s(std::max(cfg.between_s, 0.5));
  res.leave.to = since();
  // The baseline: as long again without a move (3 members, settled).
  res.steady.what = "steady";
  res.steady.moved.assign(partitions, false);
  res.steady.from = since();
  sleep_s(std::min(10.0, std::max(res.join.to - res.join.from,
                                  res.leave.to - res.leave.from)));
  res.steady.to = since();
  stop = true;
  auto per = l.wait_each("move load", std::chrono::seconds{120});
  auto wall = since();
  fill_gaps(res.join, per);
  fill_gaps(res.leave, per);
  fill_gaps(res.steady, per);
  uint64_t acks = 0;
  for (const auto& t : per) {
    acks += t.ok;
    res.errors += t.errors;
    if (res.first_error.empty()) {
      res.first_error = t.first_error;
    }
  }
  res.rate = static_cast<double>(acks) / std::max(1e-9, wall);
  return res;
}

std::string stats_of(std::vector<double> v) {
  if (v.empty()) {
    return "none";
  }
  std::sort(v.begin(), v.end());
  char buf[96];
  std::snprintf(buf, sizeof buf, "p50 %-7s p99 %-7s max %-7s (%zu)",
                fmt_ms(percentile(v, 0.5)).c_str(),
                fmt_ms(percentile(v, 0.99)).c_str(), fmt_ms(v.back()).c_str(),
                v.size());
  return buf;
}

} // namespace

moves_summary section_moves(const settings& cfg) {
  std::printf("(10) replica moves under load: 3 replicated nodes (RF 3), one "
              "closed loop per partition (%zu deposits in flight each, %zu in "
              "all; a failed deposit is resent with its command id) entering "
              "at n1; n4 joins, the map converges, then n2 or n3 leaves, the "
              "map converges, then as long again without a move; %d "
              "round%s\n",
              partition_window, partition_window * partitions, cfg.move_reps,
              cfg.move_reps == 1 ? "" : "s");
  auto ids = make_ids(aggregates);
  // [0] join, [1] leave; [k][0] not moved, [k][1] moved.
  std::vector<double> gaps[2][2], steady;
  std::vector<double> ready, join_conv, leave_conv, left;
  uint64_t retries[2] = {0, 0};
  for (int i = 0; i < cfg.move_reps; ++i) {
    auto r = run_moves(cfg, ids, static_cast<uint64_t>(300 + i));
    for (int k = 0; k < 2; ++k) {
      const auto& ph = k == 0 ? r.join : r.leave;
      std::printf(
        "  round %d: %s: %zu partitions moved (%zu changed leader); longest "
        "gap p99 %s, not moved %s; %llu map writes; %llu + %llu deposits "
        "resent (moved + not)\n",
        i + 1, ph.what.c_str(), ph.moved_count(), ph.leaders,
        fmt_ms(percentile(ph.gaps[1], 0.99)).c_str(),
        fmt_ms(percentile(ph.gaps[0], 0.99)).c_str(),
        static_cast<unsigned long long>(ph.writes),
        static_cast<unsigned long long>(ph.retries[1]),
        static_cast<unsigned long long>(ph.retries[0]));
      for (int m = 0; m < 2; ++m) {
        gaps[k][m].insert(gaps[k][m].end(), ph.gaps[m].begin(),
                          ph.gaps[m].end());
        retries[m] += ph.retries[m];
      }
    }
    steady.insert(steady.end(), r.steady.gaps[0].begin(),
                  r.steady.gaps[0].end());
    ready.push_back(r.join.ready_ms);
    join_conv.push_back(r.join.converge_ms);
    leave_conv.push_back(r.leave.converge_ms);
    left.push_back(r.leave.left_ms);
    if (cfg.verbose) {
      print_trace(r.join);
      print_trace(r.leave);
    }
    std::printf(
      "  round %d: joiner READY after %s, map converged %s later; "
      "`leave` -> LEFT ok %s, map converged %s; steady window %.1f "
      "s; load %s acks/s%s%s\n",
      i + 1, fmt_ms(r.join.ready_ms).c_str(),
      fmt_ms(r.join.converge_ms).c_str(), fmt_ms(r.leave.left_ms).c_str(),
      fmt_ms(r.leave.converge_ms).c_str(), r.steady.to - r.steady.from,
      fmt_rate(r.rate).c_str(), r.errors > 0 ? "; first error: " : "",
      r.errors > 0 ? r.first_error.c_str() : "");
    std::fflush(stdout);
  }
  std::sort(steady.begin(), steady.end());
  auto base = percentile(steady, 0.99);
  std::vector<double> all_moved = gaps[0][1];
  all_moved.insert(all_moved.end(), gaps[1][1].begin(), gaps[1][1].end());
  std::sort(all_moved.begin(), all_moved.end());
  std::printf("  longest gap between acks, per partition (window: the change "
              "until 0.5 s after the map converged)     p99 / steady p99\n");
  auto row = [&](const char* name, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::printf("    %-28s %-42s %6.2fx\n", name, stats_of(v).c_str(),
                percentile(v, 0.99) / std::max(1e-9, base));
  };
  row("join: moved partitions", gaps[0][1]);
  row("join: not moved", gaps[0][0]);
  row("leave: moved partitions", gaps[1][1]);
  row("leave: not moved", gaps[1][0]);
  row("join and leave: moved", all_moved);
  row("steady, no move (baseline)", steady);
  std::printf("  medians: joiner spawn -> READY %s, READY -> map converged "
              "%s; `leave` -> LEFT ok %s, -> map converged %s; deposits "
              "resent: %llu to moved partitions, %llu to others\n\n",
              fmt_ms(median(ready)).c_str(), fmt_ms(median(join_conv)).c_str(),
              fmt_ms(median(left)).c_str(), fmt_ms(median(leave_conv)).c_str(),
              static_cast<unsigned long long>(retries[1]),
              static_cast<unsigned long long>(retries[0]));
  moves_summary out;
  out.ran = true;
  out.pause_p99 = percentile(all_moved, 0.99);
  out.baseline_p99 = base;
  return out;
}

} // namespace cluster_bench
