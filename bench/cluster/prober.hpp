// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: probes -- one deposit to each of a few aggregates,
// resent until acknowledged -- to time when partitions serve again.
#pragma once

#include "cluster/client.hpp"
#include "cluster/helpers.hpp"

#include <caf/actor_system.hpp>

#include <future>
#include <string>
#include <vector>

namespace cluster_bench {

/// Starts sending a deposit to each of `ids` through `h` until each is
/// acknowledged (after an error: again 5 ms later); the future gets the
/// time (ms since `t0`) of each first acknowledgement, negative if none
/// within 30 s of `t0`. Runs in `sys`.
std::future<std::vector<double>> probe(caf::actor_system& sys,
                                       const accounts_handle& h,
                                       std::vector<std::string> ids,
                                       clock_type::time_point t0);

/// The result of `f`; dies (naming `what`) if it is not there in 60 s.
std::vector<double> await_probe(std::future<std::vector<double>>& f,
                                const char* what);

} // namespace cluster_bench
