// annals -- event-sourced aggregates on the C++ Actor Framework.
// Part of the persistence module (the lowest layer, so the runtime and the
// cluster use it too): named crash points for fault tests, on libfiu.
//
// # What
// `ANNALS_CRASH_POINT("annals/writer/after_commit")` marks a place where a
// test may make the process die. When the libfiu failpoint of that name is
// enabled and fires, the process writes one line to stderr
// ("annals: failpoint NAME fired: SIGKILL") and kills itself with SIGKILL on
// the spot: no destructor, no flush, no reply -- what a power cut or the
// OOM killer would leave, at a moment chosen by name instead of by chance
// (etcd's gofail `BeforeCommitPanic`, FoundationDB's BUGGIFY kills).
// `ANNALS_CRASH_POINT_IF(cond, name)` checks `cond` first and consults
// libfiu only when it holds. The named points are listed in README.md
// (fault testing) and at `failpoint_names()`.
//
// # Cost
// Disabled at build time (CMake option ANNALS_FAILPOINTS=OFF) a site
// compiles to nothing and `cond` is not evaluated. Built in (the default)
// and not enabled, a site costs one libfiu lookup (`fiu_fail`: a read lock
// and a hash probe: 40-50 ns measured on the 2-core VM).
// Sites are placed once per commit batch, hand-off step or checkpoint,
// never per event, so this is far below one fsync.
//
// # How to enable one
// - `ANNALS_FAILPOINTS` in the environment at start-up: comma-separated
//   `name` (fires the first time it is reached) or `name=P` (fires each
//   time with probability P, 0 < P <= 1); libfiu's trailing `*` wildcard
//   works (`annals/handoff/*=0.5`). Example:
//   `ANNALS_FAILPOINTS=annals/writer/after_commit=0.01 bank-node ...`
// - libfiu's own tools: `fiu-run -c 'enable name=annals/journal/before_commit'
//   prog ...` (its preload library shares the process's libfiu), and
//   `fiu-ctrl` for a process started under fiu-run. Not under ASan: the
//   preload library must not come before the ASan runtime.
// - In-process: `annals::enable_failpoint(name, p)` (the test node does this
//   on a command from its test, so a running node can be made to crash).
//
// # Concurrency
// Thread-safe (libfiu takes its own lock); sites may run on any thread.
#pragma once

#include <string>
#include <vector>

namespace annals {

/// Enables failpoint `name` (libfiu name, `*` wildcard at the end allowed):
/// it fires with `probability` each time a site of that name is reached
/// (1 = the first time). Thread-safe.
/// @returns false if libfiu refused (out of memory) or failpoints are
///          compiled out (ANNALS_FAILPOINTS=OFF), or if `probability` is not
///          in (0, 1].
bool enable_failpoint(const std::string& name, double probability = 1.0);

/// Disables failpoint `name` again. Thread-safe.
/// @returns false if it was not enabled or failpoints are compiled out.
bool disable_failpoint(const std::string& name);

/// True unless failpoints are compiled out (ANNALS_FAILPOINTS=OFF).
bool failpoints_built_in() noexcept;

/// The names of all crash points in annals, for tests and documentation.
const std::vector<std::string>& failpoint_names();

namespace detail {

/// True if failpoint `name` is enabled and fires now. The first call
/// initialises libfiu and applies `ANNALS_FAILPOINTS`. Thread-safe.
bool failpoint_fires(const char* name) noexcept;

/// Reports `name` on stderr and kills the process with SIGKILL.
[[noreturn]] void crash_at(const char* name) noexcept;

} // namespace detail

} // namespace annals

#if ANNALS_FAILPOINTS

/// Kills the process with SIGKILL here if failpoint `name` fires.
#define ANNALS_CRASH_POINT(name)                                               \
  do {                                                                         \
    if (::annals::detail::failpoint_fires(name))                               \
      ::annals::detail::crash_at(name);                                        \
  } while (false)

/// As ANNALS_CRASH_POINT, but only where `cond` holds (checked first).
#define ANNALS_CRASH_POINT_IF(cond, name)                                      \
  do {                                                                         \
    if ((cond) && ::annals::detail::failpoint_fires(name))                     \
      ::annals::detail::crash_at(name);                                        \
  } while (false)

#else

#define ANNALS_CRASH_POINT(name)                                               \
  do {                                                                         \
  } while (false)

#define ANNALS_CRASH_POINT_IF(cond, name)                                      \
  do {                                                                         \
    static_cast<void>(sizeof(cond));                                           \
  } while (false)

#endif
