// bank -- what an operator scrapes besides the runtime's counters: HTTP
// requests by route and status with a latency histogram, and the process's
// resources; helpers for the Prometheus text format (version 0.0.4).
#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace bank {

/// `s` escaped as a Prometheus label value (backslash, double quote and
/// line feed), without the quotes.
std::string prom_label_value(std::string_view s);

/// `x` in the text format: the shortest form that reads back equal,
/// positional from 1e-4 to 1e21 ("1234567", not "1.23457e+06"; "0.0005";
/// "1e-05").
std::string prom_number(double x);

/// Upper bounds (seconds) of the request latency histogram; one more
/// bucket counts the rest (+Inf).
inline constexpr double http_latency_bounds[]
  = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
     0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/// Requests answered by the HTTP API, per route template, method and
/// status code, and their latency per route and method.
///
/// Label values are bounded: a route is a template such as
/// "/accounts/{id}/credit" (never an id), "(unmatched)" for a target no
/// route takes and "(unrouted)" for a request refused before routing (a
/// malformed or oversized one); a method outside the usual few is
/// "(other)". Thread-safe (one mutex, held for a map update).
class http_metrics {
public:
  /// The process-wide registry that `route` records into and `/metrics`
  /// renders.
  static http_metrics& global();

  /// Counts one answered request; `seconds` (handling time from routing to
  /// the response) also goes into the histogram unless negative.
  void observe(std::string_view method, std::string_view route, unsigned code,
               double seconds);

  /// `annals_http_requests_total` and `annals_http_request_duration_seconds`
  /// in the text format (HELP and TYPE even before the first request).
  std::string render() const;

private:
  struct latency {
    uint64_t buckets[std::size(http_latency_bounds) + 1] = {};
    double sum = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mtx_;
  std::map<std::tuple<std::string, std::string, unsigned>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, latency> latencies_;
};

/// The label value for HTTP method `m`.
std::string_view http_method_label(std::string_view m) noexcept;

/// The process's resources from /proc/self: `process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`
/// (the names of Prometheus' own client libraries). A value that cannot be
/// read is left out, never guessed. Thread-safe.
std::string process_metrics_text();

} // namespace bank
