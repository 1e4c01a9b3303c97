// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench (8): catch-up of a follower after disk loss.
#include "bench_support.hpp"
#include "cluster/helpers.hpp"
#include "cluster/load.hpp"
#include "cluster/replicas.hpp"
#include "cluster/replicated_rig.hpp"
#include "cluster/sections.hpp"
#include "cluster/stats.hpp"
#include "cluster/workload.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

namespace cluster_bench {

using namespace annals::bench_support;

namespace {

struct catchup_run {
  double events = 0;       ///< what the wiped node copied
  double written_rate = 0; ///< commands/s of the load that wrote them
  double start_ms = 0;     ///< spawn -> READY
  double first_ms = 0;     ///< READY -> the first copied event seen
  double held_ms = 0;      ///< READY -> every partition at the leaders' end
  double voter_ms = 0;     ///< READY -> every replica a voter again
  std::string victim;
  uint64_t errors = 0;
};

catchup_run run_catchup(const settings& cfg,
                        const std::vector<std::string>& ids, uint64_t seed) {
  catchup_run res;
  replicated_rig rig;
  auto& c = rig.nodes();
  {
    activate(rig.sys(), rig.handle(0), ids);
    auto start = clock_type::now();
    auto deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
    load l{rig.sys(),
           random_load(rig.handle(0), ids, start, deadline, nullptr, seed)};
    auto t = l.wait("catch-up load", std::chrono::seconds{120});
    throughput_run tr;
    fill_latency(tr, t, cfg.seconds);
    res.written_rate = tr.rate;
    res.errors = tr.errors;
  }
  auto ctl = rig.controller();
  std::size_t victim = ctl == 2 ? 1 : 2; // a follower, not the controller
  res.victim = c[victim].name();
  c[victim].stop();
  auto survivors = rig.all_but(victim);
  auto table = await_in_step(survivors);
  std::vector<uint64_t> ends(partitions, 0);
  for (uint32_t p = 0; p < partitions; ++p) {
    for (const auto& rows : table) {
      if (const auto* r = row_of(rows, p); r && r->phase == "leader") {
        ends[p] = r->end;
      }
    }
    res.events += static_cast<double>(ends[p]);
  }
  c[victim].wipe();
  auto t_spawn = clock_type::now();
  c[victim].start();
  auto t_ready = clock_type::now();
  res.start_ms = ms_between(t_spawn, t_ready);
  auto deadline = t_ready + std::chrono::seconds{180};
  bool held = false, started = false;
  for (;;) {
    auto rows = c[victim].replicas();
    auto now = clock_type::now();
    if (rows && rows->size() == partitions) {
      bool all_held = true, all_voters = true;
      for (uint32_t p = 0; p < partitions; ++p) {
        const auto* r = row_of(*rows, p);
        if (!started && r != nullptr && r->end > 0) {
          started = true;
          res.first_ms = ms_between(t_ready, now);
        }
        all_held = all_held && r != nullptr && r->end >= ends[p];
        all_voters = all_voters && r != nullptr && r->voter;
      }
      if (all_held && !held) {
        held = true;
        res.held_ms = ms_between(t_ready, now);
      }
      if (held && all_voters) {
        res.voter_ms = ms_between(t_ready, now);
        break;
      }
    }
    if (now > deadline) {
      die("the wiped node did not catch up in 180 s:\n" + c[victim].log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  await_in_step(rig.all());
  return res;
}

} // namespace

catchup_summary section_catchup(const settings& cfg, double rf1_rate) {
  std::printf("(8) catch-up after disk loss: 3-node RF 3 cluster filled by "
              "10^4 activations and %.1f s of (1)'s load; a follower node "
              "stopped, its data directory removed, restarted; %d round%s\n",
              cfg.seconds, cfg.catchup_reps, cfg.catchup_reps == 1 ? "" : "s");
  auto ids = make_ids(aggregates);
  std::vector<double> rates, copy_rates, written, held, voter, starts, firsts;
  for (int i = 0; i < cfg.catchup_reps; ++i) {
    auto r = run_catchup(cfg, ids, static_cast<uint64_t>(200 + i));
    auto rate = r.events / std::max(1e-9, r.held_ms / 1000);
    rates.push_back(rate);
    copy_rates.push_back(r.events
                         / std::max(1e-9, (r.held_ms - r.first_ms) / 1000));
    firsts.push_back(r.first_ms);
    written.push_back(r.written_rate);
    held.push_back(r.held_ms);
    voter.push_back(r.voter_ms);
    starts.push_back(r.start_ms);
    std::printf("  round %d: %s wiped, %s events to copy; start %s, every "
                "partition at the leaders' end after %s (%s ev/s), every "
                "replica a voter after %s; load %s cmd/s%s\n",
                i + 1, r.victim.c_str(), fmt_rate(r.events).c_str(),
                fmt_ms(r.start_ms).c_str(), fmt_ms(r.held_ms).c_str(),
                fmt_rate(rate).c_str(), fmt_ms(r.voter_ms).c_str(),
                fmt_rate(r.written_rate).c_str(),
                r.errors > 0 ? "  LOAD ERRORS" : "");
  }
  catchup_summary out;
  out.ran = true;
  out.rate = median(rates);
  auto w = median(written);
  std::printf("  medians                          catch-up     baseline     "
              "ratio\n");
  std::printf("    events/s (from READY)        %10s   %10s   %6.2fx  (the "
              "RF 3 load that wrote them)\n",
              fmt_rate(out.rate).c_str(), fmt_rate(w).c_str(),
              out.rate / std::max(1.0, w));
  if (rf1_rate > 0) {
    std::printf("                                               %10s   "
                "%6.2fx  ((4)'s RF 1 rate)\n",
                fmt_rate(rf1_rate).c_str(), out.rate / rf1_rate);
  }
  std::printf("    events/s while copying       %10s   %10s   %6.2fx  (from "
              "the first copied event seen)\n",
              fmt_rate(median(copy_rates)).c_str(), fmt_rate(w).c_str(),
              median(copy_rates) / std::max(1.0, w));
  std::printf("    READY -> first event %s, every partition held %s, all "
              "voters %s; spawn -> READY %s (polled every 10 ms)\n\n",
              fmt_ms(median(firsts)).c_str(), fmt_ms(median(held)).c_str(),
              fmt_ms(median(voter)).c_str(), fmt_ms(median(starts)).c_str());
  return out;
}

} // namespace cluster_bench
