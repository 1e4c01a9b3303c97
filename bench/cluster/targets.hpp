// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: the targets of the issues it measures, and the configured
// times some figures are compared with.
#pragma once

namespace cluster_bench {

constexpr double target_rate = 50'000; ///< cluster commands/s
constexpr double target_ratio = 0.5;   ///< cluster / in-process
constexpr double target_kill_ms = 1000;
constexpr double target_rf3_ratio = 0.5;       ///< RF 3 / RF 1 rate
constexpr double target_rf3_p99_extra_ms = 10; ///< RF 3 p99 - RF 1 p99
constexpr double target_stop_ms = 3000;
constexpr double target_hang_failover_p99_ms = 3000; ///< stop -> first ack
constexpr double target_failover_p99_ms = 1000;      ///< kill -> first ack
constexpr double target_failover_writes = 1;     ///< map writes per failover
constexpr double target_move_pause_p99_ms = 100; ///< per moved partition
constexpr double lease_ttl_ms = 2000;            ///< control_driver.hpp
constexpr double heartbeat_timeout_ms = 2000;    ///< node_config.cpp

} // namespace cluster_bench
