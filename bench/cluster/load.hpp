// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: load -- event-based driver actors, each keeping a window
// of deposits outstanding (closed loop) or sending at a fixed rate (open
// loop), and what their clients saw.
//
// Threads: the drivers run in the given actor system; `load::wait` and
// `wait_each` block the calling (main) thread until every driver finished,
// and read the results only then. A driver that does not finish in time
// ends the bench (`die`).
#pragma once

#include "cluster/client.hpp"
#include "cluster/helpers.hpp"

#include <caf/actor_system.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace cluster_bench {

/// One command as a client saw it (seconds since the run's epoch).
struct sample {
  double sent = 0; ///< its first send (retries included)
  double replied = 0;
  bool ok = false;
  uint32_t retries = 0; ///< resends after a failure (`load_spec::retry`)
};

struct load_spec {
  accounts_handle accounts;
  const std::vector<std::string>* ids = nullptr;
  /// Sequential: ids[begin, end) once each. Otherwise ids drawn uniformly
  /// until `deadline` or `stop`.
  bool sequential = false;
  std::size_t begin = 0;
  std::size_t end = 0;
  clock_type::time_point deadline = clock_type::time_point::max();
  const std::atomic<bool>* stop = nullptr;
  /// Closed loop: requests outstanding. Open loop: at most this many
  /// outstanding; a command due while the window is full waits for a reply.
  std::size_t window = 64;
  /// Open loop: commands per second, each due at start + k / rate and timed
  /// from when it was due (a late send counts in its latency: no
  /// coordinated omission). 0 = closed loop.
  double rate = 0;
  uint64_t seed = 1;
  clock_type::time_point epoch;
  /// Per request.
  std::chrono::milliseconds timeout = std::chrono::seconds{60};
  /// Resend a command that failed, 5 ms later, with the same command id
  /// (the host deduplicates it), until acknowledged or 60 s after its
  /// first send; each failure counts in `errors`, its sample is the final
  /// outcome. Otherwise a failure is the command's sample.
  bool retry = false;
};

struct load_result {
  std::vector<sample> samples;
  uint64_t errors = 0;
  std::string first_error;
  std::atomic<uint64_t> outstanding{0};
};

/// Running drivers, one per spec; `wait` merges their results.
class load {
public:
  load(caf::actor_system& sys, const std::vector<load_spec>& specs);

  struct totals {
    std::vector<sample> samples; ///< sorted by reply time
    uint64_t ok = 0;
    uint64_t errors = 0;
    std::string first_error;
  };

  /// All drivers together; dies (naming `what`) after `limit`.
  totals wait(const char* what, std::chrono::seconds limit);

  /// Per driver, in the order of the specs.
  std::vector<totals> wait_each(const char* what, std::chrono::seconds limit);

private:
  void await_all(const char* what, std::chrono::seconds limit);

  std::vector<std::shared_ptr<load_result>> results_;
  std::vector<std::future<void>> futures_;
};

/// (1)'s random load: `drivers` drivers of `window` each over `ids`.
std::vector<load_spec>
random_load(const accounts_handle& h, const std::vector<std::string>& ids,
            clock_type::time_point epoch, clock_type::time_point deadline,
            const std::atomic<bool>* stop, uint64_t seed);

/// (1)'s random load at a fixed total `rate` (commands/s) over `drivers`
/// drivers, each with up to 4 x `window` outstanding.
std::vector<load_spec> paced_load(const accounts_handle& h,
                                  const std::vector<std::string>& ids,
                                  clock_type::time_point epoch,
                                  clock_type::time_point deadline, double rate,
                                  uint64_t seed);

/// One command to each of `ids` (untimed: every aggregate live, its stream
/// existing); dies if one fails.
void activate(caf::actor_system& sys, const accounts_handle& h,
              const std::vector<std::string>& ids);

} // namespace cluster_bench
