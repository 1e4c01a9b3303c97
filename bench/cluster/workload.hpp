// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the workload's fixed shape, shared by every section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cluster_bench {

constexpr std::size_t aggregates = 10'000;
constexpr std::size_t drivers = 4;
constexpr std::size_t window = 64; ///< per driver: 256 in flight
constexpr uint32_t partitions = 64;
inline const std::string memo = "memo-payload";

} // namespace cluster_bench
