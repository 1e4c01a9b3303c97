// annals -- event-sourced aggregates on the C++ Actor Framework.
// Named crash points on libfiu (see annals/failpoint.hpp).
#include "annals/failpoint.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>

#if ANNALS_FAILPOINTS
#define FIU_ENABLE 1
#include <fiu.h>

#include <fiu-control.h>
#endif

namespace annals {

namespace {

#if ANNALS_FAILPOINTS

bool enable_raw(const std::string& name, double probability) {
  if (!(probability > 0.0 && probability <= 1.0))
    return false;
  if (probability >= 1.0)
    return fiu_enable(name.c_str(), 1, nullptr, 0) == 0;
  return fiu_enable_random(name.c_str(), 1, nullptr, 0,
                           static_cast<float>(probability))
         == 0;
}

/// Applies ANNALS_FAILPOINTS ("name[=P],..."); complains on stderr about
/// entries it cannot use rather than failing start-up.
void apply_environment() {
  const char* env = std::getenv("ANNALS_FAILPOINTS");
  if (env == nullptr)
    return;
  std::string_view rest{env};
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{}
                                           : rest.substr(comma + 1);
    if (item.empty())
      continue;
    auto eq = item.find('=');
    std::string name{item.substr(0, eq)};
    double p = 1.0;
    if (eq != std::string_view::npos) {
      std::string num{item.substr(eq + 1)};
      char* end = nullptr;
      p = std::strtod(num.c_str(), &end);
      if (end == num.c_str() || *end != '\0')
        p = -1;
    }
    if (!enable_raw(name, p)) {
      std::string msg = "annals: ANNALS_FAILPOINTS: cannot enable '"
                        + std::string{item} + "'\n";
      static_cast<void>(::write(STDERR_FILENO, msg.data(), msg.size()));
    }
  }
}

/// fiu_init once per process (a second call, e.g. after fiu-run's preload
/// library, keeps what that library enabled), then the environment.
bool init_once() {
  static const bool ok = [] {
    auto rc = fiu_init(0);
    apply_environment();
    return rc == 0;
  }();
  return ok;
}

#endif

} // namespace

bool enable_failpoint(const std::string& name, double probability) {
#if ANNALS_FAILPOINTS
  init_once();
  return enable_raw(name, probability);
#else
  static_cast<void>(name);
  static_cast<void>(probability);
  return false;
#endif
}

bool disable_failpoint(const std::string& name) {
#if ANNALS_FAILPOINTS
  init_once();
  return fiu_disable(name.c_str()) == 0;
#else
  static_cast<void>(name);
  return false;
#endif
}

bool failpoints_built_in() noexcept {
#if ANNALS_FAILPOINTS
  return true;
#else
  return false;
#endif
}

const std::vector<std::string>& failpoint_names() {
  static const std::vector<std::string> names{
    "annals/journal/before_commit",      "annals/journal/after_commit",
    "annals/journal/index_flush",        "annals/journal/truncate",
    "annals/writer/after_commit",        "annals/snapshot/before_save",
    "annals/snapshot/after_save",        "annals/handoff/old_stopped",
    "annals/pubsub/before_checkpoint",   "annals/replica/before_group_commit",
    "annals/replica/after_group_commit", "annals/replica/before_fence",
    "annals/replica/after_fence",        "annals/replica/after_truncate",
    "annals/replica/after_marker",
  };
  return names;
}

namespace detail {

bool failpoint_fires(const char* name) noexcept {
#if ANNALS_FAILPOINTS
  init_once();
  return fiu_fail(name) != 0;
#else
  static_cast<void>(name);
  return false;
#endif
}

void crash_at(const char* name) noexcept {
  // write(2) only: no allocation, no stdio lock another thread may hold.
  constexpr std::string_view pre = "annals: failpoint ";
  constexpr std::string_view post = " fired: SIGKILL\n";
  static_cast<void>(::write(STDERR_FILENO, pre.data(), pre.size()));
  static_cast<void>(
    ::write(STDERR_FILENO, name, std::string_view{name}.size()));
  static_cast<void>(::write(STDERR_FILENO, post.data(), post.size()));
  std::raise(SIGKILL);
  ::_exit(128 + SIGKILL); // not reached: SIGKILL cannot be caught
}

} // namespace detail

} // namespace annals
