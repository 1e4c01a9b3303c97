// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "dir_lock.hpp"

#include "annals/persistence/errc.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace annals::detail {

caf::expected<dir_lock> dir_lock::acquire(const std::string& dir) {
  auto path = dir + "/annals.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(journal_errc::io_error,
                      "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    char buf[32] = {};
    auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string owner = n > 0 ? std::string{buf, static_cast<size_t>(n)}
                                : std::string{"unknown"};
      while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' '))
        owner.pop_back();
      return make_error(journal_errc::locked,
                        "data directory " + dir + " is in use by pid " + owner);
    }
    return make_error(journal_errc::storage_error,
                      "cannot lock " + path + ": " + std::strerror(err));
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0
      || ::pwrite(fd, pid.data(), pid.size(), 0)
           != static_cast<ssize_t>(pid.size())) {
    // The lock itself is held; a missing pid only degrades the message.
  }
  return dir_lock{fd};
}

dir_lock::dir_lock(dir_lock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

dir_lock& dir_lock::operator=(dir_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

dir_lock::~dir_lock() {
  if (fd_ >= 0)
    ::close(fd_);
}

namespace {

std::mutex claims_mtx;
std::set<std::pair<dev_t, ino_t>> claims;

} // namespace

caf::expected<env_claim> env_claim::acquire(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(journal_errc::invalid_argument,
                      "no journal in " + dir + ": not a directory");
  std::lock_guard guard{claims_mtx};
  if (!claims.emplace(st.st_dev, st.st_ino).second)
    return make_error(
      journal_errc::locked,
      "data directory " + dir + " is already open in this process (pid "
        + std::to_string(::getpid()) + "); LMDB forbids a second open");
  return env_claim{st.st_dev, st.st_ino};
}

env_claim::env_claim(env_claim&& other) noexcept
  : dev_(other.dev_), ino_(other.ino_), held_(other.held_) {
  other.held_ = false;
}

env_claim& env_claim::operator=(env_claim&& other) noexcept {
  if (this != &other) {
    release();
    dev_ = other.dev_;
    ino_ = other.ino_;
    held_ = other.held_;
    other.held_ = false;
  }
  return *this;
}

env_claim::~env_claim() {
  release();
}

void env_claim::release() noexcept {
  if (!held_)
    return;
  held_ = false;
  std::lock_guard guard{claims_mtx};
  claims.erase({dev_, ino_});
}

} // namespace annals::detail
