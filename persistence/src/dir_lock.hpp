// annals -- event-sourced aggregates on the C++ Actor Framework.
// Exclusive ownership of a data directory by one journal object.
#pragma once

#include <caf/expected.hpp>

#include <string>

namespace annals::detail {

/// Holds an exclusive `flock` on `<dir>/annals.lock`, which records the
/// owner's pid. LMDB allows several processes to write one environment; we
/// forbid it, and also a second open in the same process (which corrupts an
/// LMDB environment). The lock dies with the process, so a crashed owner
/// never leaves a stale lock. Not thread-safe; movable only.
class dir_lock {
public:
  /// @returns `locked` ("data directory ... is in use by pid N") or
  ///          `io_error` / `storage_error`.
  static caf::expected<dir_lock> acquire(const std::string& dir);

  dir_lock(dir_lock&& other) noexcept;
  dir_lock& operator=(dir_lock&& other) noexcept;
  dir_lock(const dir_lock&) = delete;
  dir_lock& operator=(const dir_lock&) = delete;
  ~dir_lock();

private:
  explicit dir_lock(int fd) noexcept : fd_(fd) {
  }
  int fd_ = -1;
};

} // namespace annals::detail
