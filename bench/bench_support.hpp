// annals -- helpers shared by the benchmarks: statistics and formatting.
#pragma once

#include <lmdb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace annals::bench_support {

/// Throws on an LMDB error (benchmarks stop on the first failure).
inline void check(int rc, const char* what) {
  if (rc != 0)
    throw std::runtime_error(std::string{what} + ": " + mdb_strerror(rc));
}

inline void put_u64be(char* out, uint64_t x) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xff);
    x >>= 8;
  }
}

inline double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

inline /// Nearest-rank percentile of sorted `xs`.
  double
  percentile(const std::vector<double>& xs, double q) {
  if (xs.empty())
    return 0;
  auto n = static_cast<double>(xs.size());
  auto rank = static_cast<std::size_t>(std::ceil(q * n));
  return xs[std::clamp<std::size_t>(rank, 1, xs.size()) - 1];
}

inline std::string fmt_rate(double x) {
  char buf[32];
  if (x >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", x / 1e6);
  else if (x >= 1e5)
    std::snprintf(buf, sizeof buf, "%.0fk", x / 1e3);
  else if (x >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", x / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

inline std::string fmt_ms(double ms) {
  char buf[32];
  if (ms >= 100)
    std::snprintf(buf, sizeof buf, "%.0fms", ms);
  else if (ms >= 10)
    std::snprintf(buf, sizeof buf, "%.1fms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.2fms", ms);
  return buf;
}

} // namespace annals::bench_support
