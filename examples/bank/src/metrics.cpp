// bank -- HTTP and process metrics in the Prometheus text format.
#include "bank/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace bank {

std::string prom_label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string prom_number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Shortest round trip, positional between 1e-4 and 1e21 (as Prometheus'
  // own clients write it): "1234567", "0.0005", "1e-05".
  auto mag = std::fabs(x);
  auto fmt = mag == 0 || (mag >= 1e-4 && mag < 1e21)
               ? std::chars_format::fixed
               : std::chars_format::scientific;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x, fmt);
  if (ec != std::errc{})
    return "NaN";
  return std::string{buf, end};
}

std::string_view http_method_label(std::string_view m) noexcept {
  for (std::string_view known :
       {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"})
    if (m == known)
      return known;
  return "(other)";
}

http_metrics& http_metrics::global() {
  static http_metrics instance;
  return instance;
}

void http_metrics::observe(std::string_view method, std::string_view route,
                           unsigned code, double seconds) {
  auto m = std::string{http_method_label(method)};
  std::lock_guard guard{mtx_};
  ++requests_[{m, std::string{route}, code}];
  if (seconds < 0)
    return;
  auto& l = latencies_[{std::string{route}, m}];
  std::size_t i = 0;
  while (i < std::size(http_latency_bounds) && seconds > http_latency_bounds[i])
    ++i;
  ++l.buckets[i];
  l.sum += seconds;
  ++l.count;
}

std::string http_metrics::render() const {
  std::ostringstream out;
  std::lock_guard guard{mtx_};
  out << "# HELP annals_http_requests_total HTTP requests answered, by route "
         "template, method and status code.\n"
         "# TYPE annals_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, code] = key;
    out << "annals_http_requests_total{route=\"" << prom_label_value(route)
        << "\",method=\"" << prom_label_value(method) << "\",code=\"" << code
        << "\"} " << n << '\n';
  }
  out << "# HELP annals_http_request_duration_seconds Time from routing a "
         "request to its response (backend work included, network I/O "
         "not), by route template and method.\n"
         "# TYPE annals_http_request_duration_seconds histogram\n";
  for (const auto& [key, l] : latencies_) {
    auto labels = "route=\"" + prom_label_value(key.first) + "\",method=\""
                  + prom_label_value(key.second) + "\"";
    uint64_t acc = 0;
    for (std::size_t i = 0; i < std::size(l.buckets); ++i) {
      acc += l.buckets[i];
      out << "annals_http_request_duration_seconds_bucket{" << labels
          << ",le=\""
          << (i < std::size(http_latency_bounds)
                ? prom_number(http_latency_bounds[i])
                : std::string{"+Inf"})
          << "\"} " << acc << '\n';
    }
    out << "annals_http_request_duration_seconds_sum{" << labels << "} "
        << prom_number(l.sum) << '\n'
        << "annals_http_request_duration_seconds_count{" << labels << "} "
        << l.count << '\n';
  }
  return out.str();
}

namespace {

std::string read_file(const char* path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void gauge(std::ostringstream& out, const char* name, const char* help,
           const char* type, double value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type
      << '\n'
      << name << ' ' << prom_number(value) << '\n';
}

} // namespace

std::string process_metrics_text() {
  std::ostringstream out;
  auto ticks = ::sysconf(_SC_CLK_TCK);
  auto page = ::sysconf(_SC_PAGESIZE);
  // /proc/self/stat: "pid (comm) state ..."; comm may hold spaces and
  // parentheses, so fields are counted from the last ')'.
  auto stat = read_file("/proc/self/stat");
  auto close = stat.rfind(')');
  if (close != std::string::npos && ticks > 0 && page > 0) {
    std::istringstream fields{stat.substr(close + 1)};
    std::vector<std::string> f{std::istream_iterator<std::string>{fields}, {}};
    // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23,
    // rss 24 (proc(5)).
    if (f.size() > 21) {
      auto num = [&](std::size_t field) {
        return std::strtod(f[field - 3].c_str(), nullptr);
      };
      gauge(out, "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.", "counter",
            (num(14) + num(15)) / static_cast<double>(ticks));
      gauge(out, "process_virtual_memory_bytes",
            "Virtual memory size in bytes.", "gauge", num(23));
      gauge(out, "process_resident_memory_bytes",
            "Resident memory size in bytes.", "gauge",
            num(24) * static_cast<double>(page));
      // Start time: boot time (/proc/stat "btime") + ticks since boot.
      std::istringstream st{read_file("/proc/stat")};
      std::string key;
      double btime = -1;
      while (st >> key)
        if (key == "btime") {
          st >> btime;
          break;
        }
      if (btime >= 0)
        gauge(out, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", "gauge",
              btime + num(22) / static_cast<double>(ticks));
    }
  }
  std::error_code ec;
  std::filesystem::directory_iterator it{"/proc/self/fd", ec};
  if (!ec) {
    double fds = 0;
    for (; it != std::filesystem::directory_iterator{}; it.increment(ec)) {
      if (ec)
        break;
      ++fds;
    }
    // The listing's own descriptor is one of them.
    if (!ec && fds > 0)
      gauge(out, "process_open_fds", "Number of open file descriptors.",
            "gauge", fds - 1);
  }
  rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    gauge(out, "process_max_fds", "Maximum number of open file descriptors.",
          "gauge", static_cast<double>(lim.rlim_cur));
  return out.str();
}

} // namespace bank
