// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the runtime module: minimal logging (CAF 0.17 from Debian has its
// logger compiled out).
#pragma once

#include <string_view>

namespace annals {

enum class log_level : int { error = 0, warning = 1, info = 2, debug = 3 };

/// Messages above this level are dropped. Default: warning. Thread-safe.
void set_log_level(log_level lvl) noexcept;
log_level get_log_level() noexcept;

/// Writes one line "annals <level>: text" to stderr. Thread-safe.
void log(log_level lvl, std::string_view text);

} // namespace annals
