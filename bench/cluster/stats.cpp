// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/stats.hpp"

#include "bench_support.hpp"

#include <algorithm>
#include <cstdio>

namespace cluster_bench {

using namespace annals::bench_support;

std::vector<double> latencies(const std::vector<sample>& xs, double from,
                              double to) {
  std::vector<double> out;
  for (const auto& s : xs) {
    if (s.ok && s.sent >= from && s.sent < to) {
      out.push_back((s.replied - s.sent) * 1000);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void fill_latency(throughput_run& r, const load::totals& t, double seconds) {
  auto lat = latencies(t.samples, 0, seconds);
  uint64_t in_time = 0;
  for (const auto& s : t.samples) {
    in_time += s.ok && s.replied <= seconds ? 1 : 0;
  }
  r.rate = static_cast<double>(in_time) / seconds;
  r.p50_ms = percentile(lat, 0.5);
  r.p99_ms = percentile(lat, 0.99);
  r.max_ms = lat.empty() ? 0 : lat.back();
  r.errors = t.errors;
  r.first_error = t.first_error;
}

void print_run(const char* label, const throughput_run& r, bool forwarded) {
  char fwd[32] = "";
  if (forwarded) {
    std::snprintf(fwd, sizeof fwd, "  fwd %.0f%%", r.forwarded * 100);
  }
  std::printf("    %-10s %7s cmd/s  p50 %-7s p99 %-7s max %-7s batch %5.1f  "
              "cores %.2f (%s)  fsync %s%s%s%s\n",
              label, fmt_rate(r.rate).c_str(), fmt_ms(r.p50_ms).c_str(),
              fmt_ms(r.p99_ms).c_str(), fmt_ms(r.max_ms).c_str(), r.batch,
              r.cpu_cores, r.cpu_split.c_str(), fmt_ms(r.fsync_ms).c_str(), fwd,
              r.errors > 0 ? "  ERRORS: " : "",
              r.errors > 0 ? r.first_error.c_str() : "");
}

double median_of(const std::vector<throughput_run>& runs,
                 double throughput_run::*field) {
  std::vector<double> v;
  for (const auto& x : runs) {
    v.push_back(x.*field);
  }
  return median(v);
}

} // namespace cluster_bench
