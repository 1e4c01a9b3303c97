// annals -- event-sourced aggregates on the C++ Actor Framework.
// Exclusive ownership of a data directory by one journal object.
#pragma once

#include <caf/expected.hpp>

#include <sys/types.h>

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

/// This process's claim on the LMDB environment in a directory. LMDB breaks
/// (its POSIX record locks are per process, and closing any descriptor of
/// the lock file drops them) when one process opens an environment twice --
/// also once read-only and once read-write, which `dir_lock` cannot see
/// since a read-only journal takes no `flock`. Every journal object claims
/// its directory (by device and inode) for its lifetime. Thread-safe;
/// movable only.
class env_claim {
public:
  /// @returns `locked` ("... is already open in this process") or
  ///          `invalid_argument` if `dir` is not a directory.
  static caf::expected<env_claim> acquire(const std::string& dir);

  env_claim(env_claim&& other) noexcept;
  env_claim& operator=(env_claim&& other) noexcept;
  env_claim(const env_claim&) = delete;
  env_claim& operator=(const env_claim&) = delete;
  ~env_claim();

private:
  env_claim(dev_t dev, ino_t ino) noexcept : dev_(dev), ino_(ino), held_(true) {
  }
  void release() noexcept;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool held_ = false;
};

} // namespace annals::detail
