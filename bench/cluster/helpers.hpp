// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: small helpers -- time, loopback ports, CPU time, ids.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cluster_bench {

using clock_type = std::chrono::steady_clock;

double ms_between(clock_type::time_point a, clock_type::time_point b);

void sleep_s(double s);

/// A loopback port free right now (bound to 0, then released).
uint16_t free_port();

/// User + system CPU seconds of process `pid` (0 = this process).
double cpu_seconds(pid_t pid);

/// "a00000", "a00001", ...: `n` aggregate ids.
std::vector<std::string> make_ids(std::size_t n);

/// "met" or "MISSED".
const char* verdict(bool ok);

} // namespace cluster_bench
