// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/options.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace cluster_bench {

void usage(std::FILE* out) {
  std::fprintf(
    out,
    "usage: cluster_bench [--quick] [--seconds=N] [--reps=N]\n"
    "                     [--only=123456789,10] [--kills=N] [--poll-ms=N]\n"
    "                     [--paced=F] [--verbose]\n"
    "  --quick      one short round of each section (smoke run; 1-4 in\n"
    "               < 30 s, 5-10 in < 3 min)\n"
    "  --seconds=N  timed part of each throughput round (default 3)\n"
    "  --reps=N     rounds of (1), (4), (5), (6) (default 3); (3), (8), (9)\n"
    "               and (10) scale with it\n"
    "  --only=LIST  run only these sections (default all): digits, and 10\n"
    "               as its own comma-separated item (--only=4,10):\n"
    "               1 throughput, 3 failure detection (2, the view mode's\n"
    "               hand-off, is gone: see 10),\n"
    "               4 RF 3 vs RF 1, 5 hot aggregate RF 3 vs RF 1,\n"
    "               6 replication lag, 7 failover time, 8 catch-up after\n"
    "               disk loss, 9 etcd writes per failover, 10 pause of a\n"
    "               replica move (join, leave)\n"
    "  --kills=N    SIGKILLs of a leader in (7) (default 10)\n"
    "  --poll-ms=N  status poll interval of (3) (default 5)\n"
    "  --paced=F    (4)'s open-loop load as a fraction of RF 1's rate\n"
    "               (default 0.3)\n"
    "  --verbose    print every round\n");
}

namespace {

/// "123,10" -> {1, 2, 3, 10}; nullopt if an item is neither "10" nor digits
/// 1-9.
std::optional<std::set<int>> parse_sections(const std::string& text) {
  std::set<int> out;
  std::istringstream in{text};
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "10") {
      out.insert(10);
      continue;
    }
    if (item.empty()) {
      return std::nullopt;
    }
    for (char c : item) {
      if (c < '1' || c > '9') {
        return std::nullopt;
      }
      out.insert(c - '0');
    }
  }
  if (out.empty()) {
    return std::nullopt;
  }
  return out;
}

} // namespace

parsed_options parse_options(int argc, char** argv) {
  settings cfg;
  bool reps_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* prefix) -> const char* {
      auto n = std::strlen(prefix);
      return a.compare(0, n, prefix) == 0 ? argv[i] + n : nullptr;
    };
    if (a == "--quick") {
      cfg.seconds = 1.5;
      cfg.reps = 1;
      cfg.move_reps = 1;
      cfg.failure_reps = 1;
      cfg.catchup_reps = 1;
      cfg.steady_s = 1.0;
      cfg.between_s = 0.5;
    } else if (auto v = value("--seconds=")) {
      cfg.seconds = std::atof(v);
    } else if (auto vp = value("--paced=")) {
      cfg.paced = std::atof(vp);
      if (!(cfg.paced > 0 && cfg.paced <= 1)) {
        usage(stderr);
        std::exit(2);
      }
    } else if (auto v2 = value("--reps=")) {
      cfg.reps = std::max(1, std::atoi(v2));
      reps_given = true;
    } else if (auto v3 = value("--only=")) {
      auto s = parse_sections(v3);
      if (!s) {
        usage(stderr);
        return {std::nullopt, 2};
      }
      cfg.sections = std::move(*s);
    } else if (auto v4 = value("--poll-ms=")) {
      cfg.poll_ms = std::max(1, std::atoi(v4));
    } else if (auto v5 = value("--kills=")) {
      cfg.kills = std::max(1, std::atoi(v5));
    } else if (a == "--verbose") {
      cfg.verbose = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return {std::nullopt, 0};
    } else {
      usage(stderr);
      return {std::nullopt, 2};
    }
  }
  if (reps_given) {
    cfg.move_reps = std::max(1, (cfg.reps + 1) / 2);
    cfg.failure_reps = cfg.reps;
    cfg.catchup_reps = std::max(1, (cfg.reps + 1) / 2);
  }
  return {cfg, 0};
}

} // namespace cluster_bench
