// annals -- test support: a child process whose stdout the test reads line
// by line, and which the test may SIGKILL at any moment.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace annals::testing {

/// Spawns `argv[0]` with `argv` and its stdout on a pipe. Not thread-safe.
class child_process {
public:
  explicit child_process(std::vector<std::string> argv)
    : argv_(std::move(argv)) {
    int fds[2];
    if (::pipe(fds) != 0)
      throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> args;
    for (auto& a : argv_)
      args.push_back(a.data());
    args.push_back(nullptr);
    auto rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::runtime_error("cannot spawn " + argv_[0]);
    }
    out_ = fds[0];
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (out_ >= 0)
      ::close(out_);
    if (pid_ > 0 && status_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  /// Calls `f` with each line (without '\n') until the child's stdout
  /// closes (it exited or was killed and the pipe is drained).
  void read_lines(const std::function<void(const std::string&)>& f) {
    std::string buf;
    char chunk[4096];
    for (;;) {
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0)
        break;
      buf.append(chunk, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        auto line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        f(line);
      }
    }
  }

  void kill(int sig = SIGKILL) {
    ::kill(pid_, sig);
  }

  /// Waits for the child; returns its wait status.
  int wait() {
    if (status_ < 0) {
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
    }
    return status_;
  }

private:
  std::vector<std::string> argv_;
  pid_t pid_ = 0;
  int out_ = -1;
  int status_ = -1;
};

} // namespace annals::testing
