// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace annals {

namespace {

std::atomic<int> level{static_cast<int>(log_level::warning)};
std::mutex out_mtx;

const char* name(log_level lvl) {
  switch (lvl) {
  case log_level::error:
    return "error";
  case log_level::warning:
    return "warning";
  case log_level::info:
    return "info";
  case log_level::debug:
    return "debug";
  }
  return "?";
}

} // namespace

void set_log_level(log_level lvl) noexcept {
  level = static_cast<int>(lvl);
}

log_level get_log_level() noexcept {
  return static_cast<log_level>(level.load());
}

void log(log_level lvl, std::string_view text) {
  if (static_cast<int>(lvl) > level.load())
    return;
  std::lock_guard guard{out_mtx};
  std::fprintf(stderr, "annals %s: %.*s\n", name(lvl),
               static_cast<int>(text.size()), text.data());
}

} // namespace annals
