// annals -- helpers shared by the benchmarks that start an actor system.
#pragma once

#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <string>
#include <typeinfo>

namespace annals::bench_support {

/// What `sys`'s scheduler really is, e.g. "sharing/4 workers" (not what a
/// config asked for).
inline std::string scheduler_of(caf::actor_system& sys) {
  std::string type = typeid(sys.scheduler()).name();
  std::string policy
    = type.find("work_sharing") != std::string::npos    ? "sharing"
      : type.find("work_stealing") != std::string::npos ? "stealing"
                                                        : "other";
  return policy + "/" + std::to_string(sys.scheduler().num_workers())
         + " workers";
}

} // namespace annals::bench_support
