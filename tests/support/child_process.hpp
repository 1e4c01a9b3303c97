// annals -- test support: a child process whose stdout the test reads line
// by line, and which the test may SIGKILL at any moment.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace annals::testing {

/// Spawns `argv[0]` with `argv` and its stdout on a pipe. Not thread-safe.
class child_process {
public:
  /// With `with_stdin`, the child's stdin is a pipe fed by `send_line`
  /// (closing it -- `close_stdin` or the destructor -- is the child's EOF).
  /// A non-empty `stderr_file` receives the child's stderr (else inherited).
  explicit child_process(std::vector<std::string> argv, bool with_stdin = false,
                         const std::string& stderr_file = {})
    : argv_(std::move(argv)) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    int in[2] = {-1, -1};
    if (with_stdin && ::pipe2(in, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (with_stdin) {
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
      posix_spawn_file_actions_addclose(&fa, in[1]);
    }
    if (!stderr_file.empty())
      posix_spawn_file_actions_addopen(&fa, 2, stderr_file.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args;
    for (auto& a : argv_)
      args.push_back(a.data());
    args.push_back(nullptr);
    auto rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (with_stdin) {
      ::close(in[0]);
      in_ = in[1];
    }
    if (rc != 0) {
      ::close(fds[0]);
      throw std::runtime_error("cannot spawn " + argv_[0]);
    }
    out_ = fds[0];
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    close_stdin();
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

  /// Writes `line` and a newline to the child's stdin.
  bool send_line(const std::string& line) {
    auto text = line + "\n";
    return in_ >= 0
           && ::write(in_, text.data(), text.size())
                == static_cast<ssize_t>(text.size());
  }

  void close_stdin() {
    if (in_ >= 0)
      ::close(in_);
    in_ = -1;
  }

  /// The next line of the child's stdout, or nullopt on EOF or when none
  /// arrives within `timeout`.
  std::optional<std::string> next_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = pending_.find('\n'); nl != std::string::npos) {
        auto line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return std::nullopt;
      pollfd pfd{out_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char chunk[4096];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0)
        return std::nullopt;
      pending_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Skips lines until one starts with `prefix`; returns it (nullopt on
  /// EOF or timeout).
  std::optional<std::string> await_line(const std::string& prefix,
                                        std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return std::nullopt;
      auto line = next_line(left);
      if (!line)
        return std::nullopt;
      if (line->rfind(prefix, 0) == 0)
        return line;
    }
  }

  void kill(int sig = SIGKILL) {
    ::kill(pid_, sig);
  }

  pid_t pid() const noexcept {
    return pid_;
  }

  /// Waits up to `timeout` for the child to exit; its wait status, or
  /// nullopt if it still runs.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (status_ < 0) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return std::nullopt;
      ::usleep(5000);
    }
    return status_;
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
  int in_ = -1;
  int status_ = -1;
  std::string pending_;
};

} // namespace annals::testing
