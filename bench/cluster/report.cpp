// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the final table, each section's figure against its target.
#include "bench_support.hpp"
#include "cluster/helpers.hpp"
#include "cluster/sections.hpp"
#include "cluster/targets.hpp"

#include <algorithm>
#include <cstdio>

namespace cluster_bench {

using namespace annals::bench_support;

void print_targets(const summaries& s) {
  const auto& tp = s.tp;
  const auto& fd = s.fd;
  const auto& rs = s.rs;
  const auto& hot = s.hot;
  const auto& lag = s.lag;
  const auto& fo = s.fo;
  const auto& cu = s.cu;
  const auto& ws = s.ws;
  const auto& mv = s.mv;
  std::printf("targets\n");
  if (tp) {
    auto ratio = tp->cluster_rate / std::max(1.0, tp->local_rate);
    std::printf("  (1) cluster >= %.1fx in-process          %8.2fx   %s\n",
                target_ratio, ratio, verdict(ratio >= target_ratio));
    std::printf("  (1) cluster >= %s commands/s           %8s   %s\n",
                fmt_rate(target_rate).c_str(),
                fmt_rate(tp->cluster_rate).c_str(),
                verdict(tp->cluster_rate >= target_rate));
    if (tp->errors > 0) {
      std::printf("  (1) %llu commands failed\n",
                  static_cast<unsigned long long>(tp->errors));
    }
  }
  if (fd.ran) {
    std::printf("  (3) killed node unreachable <= %s     %8s   %s\n",
                fmt_ms(target_kill_ms).c_str(),
                fd.kill_ms < 0 ? "never" : fmt_ms(fd.kill_ms).c_str(),
                verdict(fd.kill_ms >= 0 && fd.kill_ms <= target_kill_ms));
    std::printf("  (3) stopped node unreachable <= %s    %8s   %s\n",
                fmt_ms(target_stop_ms).c_str(),
                fd.stop_ms < 0 ? "never" : fmt_ms(fd.stop_ms).c_str(),
                verdict(fd.stop_ms >= 0 && fd.stop_ms <= target_stop_ms));
    std::printf("  (3) stop -> first ack p99 <= %s       %8s   %s\n",
                fmt_ms(target_hang_failover_p99_ms).c_str(),
                fd.stop_ack_p99 < 0 ? "never" : fmt_ms(fd.stop_ack_p99).c_str(),
                verdict(fd.stop_ack_p99 >= 0
                        && fd.stop_ack_p99 <= target_hang_failover_p99_ms));
  }
  if (rs.ran) {
    auto ratio = rs.rf3_rate / std::max(1.0, rs.rf1_rate);
    std::printf("  (4) RF 3 >= %.1fx RF 1                    %8.2fx   %s\n",
                target_rf3_ratio, ratio, verdict(ratio >= target_rf3_ratio));
    std::printf("  (4) RF 3 p99 <= RF 1 p99 + %s       %8s   %s  (closed "
                "loop, 256 in flight: queueing)\n",
                fmt_ms(target_rf3_p99_extra_ms).c_str(),
                fmt_ms(rs.rf3_p99 - rs.rf1_p99).c_str(),
                verdict(rs.rf3_p99 <= rs.rf1_p99 + target_rf3_p99_extra_ms));
    std::printf(
      "  (4) RF 3 p99 <= RF 1 p99 + %s       %8s   %s  (open loop, same "
      "load)\n",
      fmt_ms(target_rf3_p99_extra_ms).c_str(),
      fmt_ms(rs.rf3_paced_p99 - rs.rf1_paced_p99).c_str(),
      verdict(rs.rf3_paced_p99 <= rs.rf1_paced_p99 + target_rf3_p99_extra_ms));
    if (rs.errors > 0) {
      std::printf("  (4) %llu commands failed\n",
                  static_cast<unsigned long long>(rs.errors));
    }
  }
  if (hot.ran) {
    auto ratio = hot.rf3_rate / std::max(1.0, hot.rf1_rate);
    std::printf("  (5) hot: RF 3 >= %.1fx RF 1               %8.2fx   %s\n",
                target_rf3_ratio, ratio, verdict(ratio >= target_rf3_ratio));
    if (hot.errors > 0) {
      std::printf("  (5) %llu commands failed\n",
                  static_cast<unsigned long long>(hot.errors));
    }
  }
  if (lag.ran) {
    std::printf(
      "  (6) replication lag p99 (upper bound)    %8s   (no target)\n",
      fmt_ms(lag.ms_p99_hi).c_str());
  }
  if (fo.ran) {
    std::printf("  (7) kill -> first ack p99 <= %s        %8s   %s\n",
                fmt_ms(target_failover_p99_ms).c_str(),
                fo.p99 < 0 ? "never" : fmt_ms(fo.p99).c_str(),
                verdict(fo.p99 >= 0 && fo.p99 <= target_failover_p99_ms));
  }
  if (cu.ran) {
    std::printf("  (8) catch-up after disk loss             %8s ev/s (no "
                "target)\n",
                fmt_rate(cu.rate).c_str());
  }
  if (ws.ran) {
    auto worst
      = ws.per_failover.empty()
          ? 0.0
          : *std::max_element(ws.per_failover.begin(), ws.per_failover.end());
    std::printf(
      "  (9) map writes per failover == %.0f          %8.0f   %s\n",
      target_failover_writes, worst,
      verdict(!ws.per_failover.empty() && worst == target_failover_writes));
  }
  if (mv.ran) {
    std::printf("  (10) replica move pause p99 <= %s       %8s   %s\n",
                fmt_ms(target_move_pause_p99_ms).c_str(),
                fmt_ms(mv.pause_p99).c_str(),
                verdict(mv.pause_p99 <= target_move_pause_p99_ms));
  }
}

} // namespace cluster_bench
