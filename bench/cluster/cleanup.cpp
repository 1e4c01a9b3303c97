// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/cleanup.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace cluster_bench {

std::vector<pid_t>& live_children() {
  static std::vector<pid_t> pids;
  return pids;
}

std::vector<std::string>& live_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

void die(const std::string& why) {
  std::printf("\nFAILED: %s\n", why.c_str());
  std::fflush(stdout);
  for (auto pid : live_children()) {
    ::kill(pid, SIGCONT);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  for (const auto& d : live_dirs()) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
  }
  std::_Exit(3);
}

bench_dir::bench_dir() {
  live_dirs().push_back(dir_.path());
}

bench_dir::~bench_dir() {
  auto& v = live_dirs();
  v.erase(std::remove(v.begin(), v.end(), dir_.path()), v.end());
}

} // namespace cluster_bench
