// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/node_process.hpp"

#include "cluster/cleanup.hpp"
#include "cluster/workload.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

extern char** environ;

#ifndef ANNALS_CLUSTER_BENCH_NODE
#error "ANNALS_CLUSTER_BENCH_NODE must name the node executable"
#endif

namespace cluster_bench {

node_process::node_process(std::string name, std::string data_dir,
                           std::string log_path, uint16_t port,
                           std::vector<std::string> extra)
  : name_(std::move(name)), data_dir_(std::move(data_dir)),
    log_path_(std::move(log_path)), port_(port), extra_(std::move(extra)) {
}

node_process::~node_process() {
  if (running()) {
    signal(SIGCONT);
    signal(SIGKILL);
    reap();
  }
  close_pipes();
}

void node_process::start() {
  std::vector<std::string> argv{
    ANNALS_CLUSTER_BENCH_NODE, "--annals.data-dir=" + data_dir_,
    "--annals.partitions=" + std::to_string(partitions),
    "--cluster.name=" + name_, "--cluster.port=" + std::to_string(port_)};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  int out[2];
  int in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
    die("pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 2, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> args;
  for (auto& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  auto rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(in[0]);
  out_ = out[0];
  in_ = in[1];
  pending_.clear();
  if (rc != 0) {
    pid_ = 0;
    die("cannot spawn " + argv[0]);
  }
  live_children().push_back(pid_);
  if (!await_line("READY", std::chrono::seconds{60})) {
    die("node " + name_ + " did not start:\n" + log_tail());
  }
}

std::optional<std::string>
node_process::ask(const std::string& cmd, const std::string& prefix,
                  std::chrono::milliseconds timeout) {
  auto text = cmd + "\n";
  if (in_ < 0
      || ::write(in_, text.data(), text.size())
           != static_cast<ssize_t>(text.size())) {
    return std::nullopt;
  }
  return await_line(prefix, timeout);
}

std::optional<node_report> node_process::status() {
  auto line = ask("status", "STATUS ");
  if (!line || line->rfind("STATUS error", 0) == 0) {
    return std::nullopt;
  }
  std::istringstream in{line->substr(7)};
  node_report r;
  int settled = 0;
  in >> r.version >> settled >> r.members >> r.active >> r.inbound
    >> r.reachable >> r.routed >> r.forwarded >> r.unavailable;
  if (!in) {
    return std::nullopt;
  }
  r.settled = settled != 0;
  return r;
}

node_report node_process::must_status() {
  auto r = status();
  if (!r) {
    die("no status from node " + name_ + ":\n" + log_tail());
  }
  return *r;
}

std::pair<uint64_t, uint64_t> node_process::journal_stats() {
  auto line = ask("stats", "STATS ");
  if (!line) {
    die("no stats from node " + name_);
  }
  std::istringstream in{line->substr(6)};
  uint64_t commits = 0, appends = 0;
  in >> commits >> appends;
  return {commits, appends};
}

std::optional<std::vector<replica_row>> node_process::replicas() {
  const std::string cmd = "replicas\n";
  if (in_ < 0
      || ::write(in_, cmd.data(), cmd.size())
           != static_cast<ssize_t>(cmd.size())) {
    return std::nullopt;
  }
  auto deadline = clock_type::now() + std::chrono::seconds{15};
  std::vector<replica_row> out;
  bool failed = false;
  for (;;) {
    auto line = next_line(deadline);
    if (!line) {
      return std::nullopt;
    }
    if (*line == "REPLICAS END") {
      break;
    }
    if (line->rfind("REPLICA ", 0) != 0) {
      continue; // another command's output
    }
    auto text = line->substr(8);
    if (text.rfind("counters", 0) == 0) {
      continue;
    }
    if (text.rfind("error", 0) == 0) {
      failed = true;
      continue;
    }
    std::istringstream in{text};
    replica_row r;
    std::string role, k_epoch, k_hw, k_end, k_leader;
    in >> r.partition >> role >> r.phase >> k_epoch >> r.epoch >> k_hw >> r.hw
      >> k_end >> r.end >> k_leader >> r.leader;
    if (!in || k_end != "end") {
      failed = true;
      continue;
    }
    r.voter = role == "voter";
    out.push_back(std::move(r));
  }
  if (failed) {
    return std::nullopt;
  }
  return out;
}

void node_process::wipe() {
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
  std::filesystem::create_directories(data_dir_);
}

void node_process::leave() {
  auto line = ask("leave", "LEFT ", std::chrono::seconds{120});
  if (!line || *line != "LEFT ok") {
    die("node " + name_
        + " could not leave: " + (line ? *line : std::string{"no answer"}));
  }
}

void node_process::stop() {
  if (!running()) {
    return;
  }
  close_pipes();
  for (int i = 0; i < 400; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      forget();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  std::printf("  (node %s did not stop within 20 s: killed)\n", name_.c_str());
  signal(SIGKILL);
  reap();
}

void node_process::signal(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
  }
}

void node_process::kill_now() {
  signal(SIGKILL);
  reap();
  close_pipes();
}

std::string node_process::log_tail() const {
  std::ifstream in{log_path_};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  if (text.size() > 2000) {
    std::string tail = "...";
    tail += text.substr(text.size() - 2000);
    text = std::move(tail);
  }
  return text;
}

void node_process::reap() {
  if (pid_ > 0) {
    ::waitpid(pid_, nullptr, 0);
  }
  forget();
}

void node_process::forget() {
  auto& v = live_children();
  v.erase(std::remove(v.begin(), v.end(), pid_), v.end());
  pid_ = 0;
}

void node_process::close_pipes() {
  if (in_ >= 0) {
    ::close(in_);
  }
  if (out_ >= 0) {
    ::close(out_);
  }
  in_ = out_ = -1;
}

std::optional<std::string>
node_process::next_line(clock_type::time_point deadline) {
  for (;;) {
    if (auto nl = pending_.find('\n'); nl != std::string::npos) {
      auto line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock_type::now())
                  .count();
    if (left <= 0 || out_ < 0) {
      return std::nullopt;
    }
    pollfd pfd{out_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) {
      continue;
    }
    char chunk[4096];
    auto n = ::read(out_, chunk, sizeof chunk);
    if (n <= 0) {
      return std::nullopt;
    }
    pending_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::optional<std::string>
node_process::await_line(const std::string& prefix,
                         std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto line = next_line(deadline);
    if (!line) {
      return std::nullopt;
    }
    if (line->rfind(prefix, 0) == 0) {
      return line;
    }
  }
}

} // namespace cluster_bench
