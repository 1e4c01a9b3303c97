// annals -- event-sourced aggregates on the C++ Actor Framework.
//
// cluster_bench: the cluster module under load, with real node processes
// (cluster_bench_node) on 127.0.0.1, fsync on, data in a temporary directory
// the bench removes. Each figure is printed beside a baseline measured in the
// same run, as a ratio; throughput figures are medians over --reps rounds
// (the machine is shared and noisy).
//
//   (1) throughput: a 3-node cluster; the bench process is a client (its own
//       actor system, the nodes' heartbeat settings) connected to ONE node
//       (n1). 4 event-based drivers each keep 64 deposits in flight (256 in
//       total) to 10^4 aggregates drawn uniformly at random, all entering at
//       n1, so about 2/3 of the commands are forwarded to another owner. All
//       aggregates are activated (one command each, untimed) first.
//       Baseline: the same workload against an in-process runtime (same
//       partitions, fsync, same disk, scheduler.max-threads=2 like the
//       nodes), interleaved with the cluster rounds.
//   (2) hand-off: load as in (1) against a 3-node cluster; then a 4th node
//       joins (through n1), the cluster settles, then n2 leaves. Per
//       hand-off pause as the new owners report it
//       (cluster_status::handoff_ms, one per partition group moved from one
//       old owner to one new owner), and what the clients saw during the
//       move: errors, the longest latency, the longest gap between two
//       replies. Baseline: the same clients in the steady phase before.
//   (4) replication: the workload of (1) against 3 nodes in replicated mode
//       (a one-member etcd the bench starts, `--cluster.etcd`) with
//       replication factor 3 (every command on a majority of 3 replicas
//       before its reply) and, interleaved, the same with factor 1 (the
//       same control plane, no followers): RF 3 / RF 1 rates and latencies.
//   (3) failure detection: an idle 3-node cluster; SIGKILL n3 and poll n1
//       and n2 (status over their stdin, every --poll-ms) until both count
//       it unreachable; restart n3 on its data and wait until it is
//       reachable again; then SIGSTOP it (a hung node, found only by
//       heartbeats: 250 ms interval, 2 s timeout) and poll again; SIGCONT
//       and SIGKILL it, restart. Baseline: the status poll round trip (the
//       resolution) and the configured heartbeat timeout.
//   (5) hot aggregate: (4) with every command to ONE aggregate (256 in
//       flight to it, pipelined), RF 3 against RF 1, interleaved.
//   (6) replication lag: (1)'s workload at RF 3 while the bench samples
//       every node's replicas (`replicas` on its stdin: per partition its
//       phase, high watermark and journal end) back to back. Lag of one
//       follower replica = how far its journal end (durable: followers
//       commit before they acknowledge) is behind its leader's journal end
//       (durable on the leader), in events, and as time: how long ago the
//       leader first held the event the follower is missing. The nodes are
//       sampled one after another, so each figure is bracketed by pairing
//       the follower's sample with the leader's sample just before and
//       just after it. Baseline: the leader's own window, end - high
//       watermark (durable there, not yet on a majority), and the clients'
//       p99 latency in the same run.
//   (7) failover: an idle 3-node RF 3 cluster; per round SIGKILL a node
//       that leads partitions (not the etcd controller, except every third
//       round when the controller leads any), and from the kill on send a
//       deposit to one aggregate of each partition it led (through a
//       survivor; retried every 5 ms after an error) until each is
//       acknowledged; restart the node and wait until every replica is back
//       in step. Per partition: kill -> first acknowledgement. Baseline:
//       the lease TTL (2 s: the failover time if only the lease's expiry
//       revealed the death) and the probe's round trip before the kill.
//   (8) catch-up after disk loss: (1)'s workload at RF 3 fills the journals
//       (activation, then --seconds of load), then a follower node (not the
//       controller) is stopped cleanly, its data directory removed, and
//       restarted; the bench polls its replicas until every partition holds
//       the leaders' end, then until every replica is a voter again.
//       Events/s = the events it copied / the time from its READY line.
//       Baseline: the rate the cluster committed the same events (the load
//       phase), and (4)'s RF 1 rate when (4) ran too.
//   (9) etcd writes per failover: the partition map key's etcd `version`
//       (JSON gateway /v3/kv/range) before a SIGKILL of a partition leader
//       and once the survivors serve every partition and 1 s passed
//       without a change; then again for the restart; once for a
//       non-controller leader, once for the controller (a new one must be
//       elected first: a survivor that lost its connection revokes its
//       lease). Goal: 1 write.
//
// Usage: cluster_bench [--quick] [--seconds=N] [--reps=N]
//                      [--only=123456789] [--kills=N] [--poll-ms=N]
//                      [--verbose]

#include "annals/aggregate_handle.hpp"
#include "annals/cluster/node_config.hpp"
#include "annals/persistence/stream.hpp"
#include "annals/render.hpp"
#include "annals/runtime.hpp"
#include "annals/runtime_config.hpp"

#include "bench_support.hpp"
#include "cluster_bench_account.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

#ifndef ANNALS_CLUSTER_BENCH_NODE
#error "ANNALS_CLUSTER_BENCH_NODE must name the node executable"
#endif

namespace {

using namespace annals::bench_support;
using clock_type = std::chrono::steady_clock;
using accounts_handle = annals::aggregate_handle<cluster_bench::account>;

constexpr std::size_t aggregates = 10'000;
constexpr std::size_t drivers = 4;
constexpr std::size_t window = 64; ///< per driver: 256 in flight
constexpr uint32_t partitions = 64;
const std::string memo = "memo-payload";

// -- targets of the issue -----------------------------------------------------

constexpr double target_rate = 50'000;      ///< cluster commands/s
constexpr double target_ratio = 0.5;        ///< cluster / in-process
constexpr double target_pause_p99_ms = 100; ///< per hand-off
constexpr double target_kill_ms = 1000;
constexpr double target_rf3_ratio = 0.5;       ///< RF 3 / RF 1 rate
constexpr double target_rf3_p99_extra_ms = 10; ///< RF 3 p99 - RF 1 p99
constexpr double target_stop_ms = 3000;
constexpr double target_failover_p99_ms = 1000; ///< kill -> first ack
constexpr double target_failover_writes = 1;    ///< map writes per failover
constexpr double lease_ttl_ms = 2000;           ///< control_driver.hpp
constexpr double heartbeat_timeout_ms = 2000;   ///< node_config.cpp

// -- settings -----------------------------------------------------------------

struct settings {
  double seconds = 3.0; ///< timed part of each throughput round
  int reps = 3;         ///< throughput rounds (each: in-process, cluster)
  int handoff_reps = 2;
  int failure_reps = 3;
  double steady_s = 1.5; ///< load before the join (hand-off rounds)
  double between_s = 1.0;
  int poll_ms = 5;
  int kills = 10;       ///< failover rounds of (7)
  int catchup_reps = 2; ///< rounds of (8) and (9)
  std::string sections = "123456789";
  bool verbose = false;
};

void usage(std::FILE* out) {
  std::fprintf(
    out,
    "usage: cluster_bench [--quick] [--seconds=N] [--reps=N]\n"
    "                     [--only=123456789] [--kills=N] [--poll-ms=N]\n"
    "                     [--verbose]\n"
    "  --quick      one short round of each section (smoke run; 1-4 in\n"
    "               < 30 s, 5-9 in < 2 min)\n"
    "  --seconds=N  timed part of each throughput round (default 3)\n"
    "  --reps=N     rounds of (1), (4), (5), (6) (default 3); (2), (3), (8)\n"
    "               and (9) scale with it\n"
    "  --only=LIST  run only these sections (default 123456789):\n"
    "               1 throughput, 2 hand-off, 3 failure detection,\n"
    "               4 RF 3 vs RF 1, 5 hot aggregate RF 3 vs RF 1,\n"
    "               6 replication lag, 7 failover time, 8 catch-up after\n"
    "               disk loss, 9 etcd writes per failover\n"
    "  --kills=N    SIGKILLs of a leader in (7) (default 10)\n"
    "  --poll-ms=N  status poll interval of (3) (default 5)\n"
    "  --verbose    print every round\n");
}

// -- cleanup on a hang --------------------------------------------------------

std::vector<pid_t>& live_children() {
  static std::vector<pid_t> pids;
  return pids;
}

std::vector<std::string>& live_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

[[noreturn]] void die(const std::string& why) {
  std::printf("\nFAILED: %s\n", why.c_str());
  std::fflush(stdout);
  for (auto pid : live_children()) {
    ::kill(pid, SIGCONT);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  for (const auto& d : live_dirs()) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
  }
  // The actor systems would wait for stuck actors forever.
  std::_Exit(3);
}

/// A temp_dir that `die` removes too.
class bench_dir {
public:
  bench_dir() {
    live_dirs().push_back(dir_.path());
  }
  ~bench_dir() {
    auto& v = live_dirs();
    v.erase(std::remove(v.begin(), v.end(), dir_.path()), v.end());
  }
  bench_dir(const bench_dir&) = delete;
  bench_dir& operator=(const bench_dir&) = delete;
  const std::string& path() const noexcept {
    return dir_.path();
  }

private:
  temp_dir dir_;
};

// -- small helpers ------------------------------------------------------------

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

/// A loopback port free right now (bound to 0, then released).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// User + system CPU seconds of process `pid` (0 = this process).
double cpu_seconds(pid_t pid) {
  if (pid == 0) {
    struct rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) {
      return static_cast<double>(t.tv_sec)
             + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
  }
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  auto rp = text.rfind(')');
  if (rp == std::string::npos) {
    return 0;
  }
  std::istringstream rest{text.substr(rp + 2)};
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields 3..13, then utime (14) and stime (15).
  for (int i = 3; i <= 13; ++i) {
    rest >> field;
  }
  rest >> utime >> stime;
  return static_cast<double>(utime + stime)
         / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<std::string> make_ids(std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "a%05zu", i);
    ids.emplace_back(buf);
  }
  return ids;
}

const char* verdict(bool ok) {
  return ok ? "met" : "MISSED";
}

// -- node processes -----------------------------------------------------------

/// What a node reports on "status".
struct node_report {
  uint64_t version = 0;
  bool settled = false;
  std::size_t members = 0;
  uint32_t active = 0;
  uint32_t inbound = 0;
  uint32_t outbound = 0;
  std::size_t reachable = 0;
  uint64_t routed = 0;
  uint64_t forwarded = 0;
  uint64_t unavailable = 0;
};

/// Replicated mode: one partition replica as a node reports it (`replicas`
/// on its stdin: `<partition> voter|learner <phase> epoch <e> hw <position>
/// end <position> leader <node>`).
struct replica_row {
  uint32_t partition = 0;
  bool voter = false;
  std::string phase; ///< leader, fencing, recovering, follower
  uint64_t epoch = 0;
  uint64_t hw = 0;
  uint64_t end = 0;   ///< the partition's end in this node's journal
  std::string leader; ///< "-" if none
};

/// One cluster_bench_node process: stdin/stdout on pipes, stderr to a log
/// file. Not thread-safe.
class node_process {
public:
  node_process(std::string name, std::string data_dir, std::string log_path,
               uint16_t port, std::vector<std::string> extra = {})
    : name_(std::move(name)), data_dir_(std::move(data_dir)),
      log_path_(std::move(log_path)), port_(port), extra_(std::move(extra)) {
  }

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  ~node_process() {
    if (running()) {
      signal(SIGCONT);
      signal(SIGKILL);
      reap();
    }
    close_pipes();
  }

  /// Starts the process and waits for "READY"; dies on failure.
  void start(const std::string& seeds) {
    std::vector<std::string> argv{
      ANNALS_CLUSTER_BENCH_NODE, "--annals.data-dir=" + data_dir_,
      "--annals.partitions=" + std::to_string(partitions),
      "--cluster.name=" + name_, "--cluster.port=" + std::to_string(port_)};
    if (!seeds.empty()) {
      argv.push_back("--cluster.seeds=" + seeds);
    }
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

  /// Sends `cmd` and returns the first line starting with `prefix`.
  std::optional<std::string>
  ask(const std::string& cmd, const std::string& prefix,
      std::chrono::milliseconds timeout = std::chrono::seconds{15}) {
    auto text = cmd + "\n";
    if (in_ < 0
        || ::write(in_, text.data(), text.size())
             != static_cast<ssize_t>(text.size())) {
      return std::nullopt;
    }
    return await_line(prefix, timeout);
  }

  std::optional<node_report> status() {
    auto line = ask("status", "STATUS ");
    if (!line || line->rfind("STATUS error", 0) == 0) {
      return std::nullopt;
    }
    std::istringstream in{line->substr(7)};
    node_report r;
    int settled = 0;
    in >> r.version >> settled >> r.members >> r.active >> r.inbound
      >> r.outbound >> r.reachable >> r.routed >> r.forwarded >> r.unavailable;
    if (!in) {
      return std::nullopt;
    }
    r.settled = settled != 0;
    return r;
  }

  node_report must_status() {
    auto r = status();
    if (!r) {
      die("no status from node " + name_ + ":\n" + log_tail());
    }
    return *r;
  }

  std::vector<double> handoff_pauses() {
    auto line = ask("handoff", "HANDOFF");
    if (!line) {
      die("no hand-off report from node " + name_);
    }
    std::istringstream in{line->substr(7)};
    std::vector<double> out;
    double x = 0;
    while (in >> x) {
      out.push_back(x);
    }
    return out;
  }

  /// (commits, appends) of the node's runtime.
  std::pair<uint64_t, uint64_t> journal_stats() {
    auto line = ask("stats", "STATS ");
    if (!line) {
      die("no stats from node " + name_);
    }
    std::istringstream in{line->substr(6)};
    uint64_t commits = 0, appends = 0;
    in >> commits >> appends;
    return {commits, appends};
  }

  /// Replicated mode: the node's replicas in partition order; nullopt if
  /// the node does not answer (or its replicator did not).
  std::optional<std::vector<replica_row>> replicas() {
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

  /// Removes the data directory and creates it empty (a lost disk). Only
  /// while the process is not running.
  void wipe() {
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
    std::filesystem::create_directories(data_dir_);
  }

  void leave() {
    auto line = ask("leave", "LEFT ", std::chrono::seconds{120});
    if (!line || *line != "LEFT ok") {
      die("node " + name_
          + " could not leave: " + (line ? *line : std::string{"no answer"}));
    }
  }

  /// Clean stop: EOF on stdin; SIGKILL after 20 s.
  void stop() {
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
    std::printf("  (node %s did not stop within 20 s: killed)\n",
                name_.c_str());
    signal(SIGKILL);
    reap();
  }

  void signal(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
    }
  }

  /// SIGKILL (the process may be stopped) and wait for it.
  void kill_now() {
    signal(SIGKILL);
    reap();
    close_pipes();
  }

  bool running() const noexcept {
    return pid_ > 0;
  }

  pid_t pid() const noexcept {
    return pid_;
  }

  const std::string& name() const noexcept {
    return name_;
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(port_);
  }

  uint16_t port() const noexcept {
    return port_;
  }

  std::string log_tail() const {
    std::ifstream in{log_path_};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    if (text.size() > 2000) {
      std::string tail = "...";
      tail += text.substr(text.size() - 2000);
      text = std::move(tail);
    }
    return text;
  }

private:
  void reap() {
    if (pid_ > 0) {
      ::waitpid(pid_, nullptr, 0);
    }
    forget();
  }

  void forget() {
    auto& v = live_children();
    v.erase(std::remove(v.begin(), v.end(), pid_), v.end());
    pid_ = 0;
  }

  void close_pipes() {
    if (in_ >= 0) {
      ::close(in_);
    }
    if (out_ >= 0) {
      ::close(out_);
    }
    in_ = out_ = -1;
  }

  std::optional<std::string> next_line(clock_type::time_point deadline) {
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

  std::optional<std::string> await_line(const std::string& prefix,
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

  std::string name_;
  std::string data_dir_;
  std::string log_path_;
  uint16_t port_;
  std::vector<std::string> extra_;
  pid_t pid_ = 0;
  int out_ = -1;
  int in_ = -1;
  std::string pending_;
};

/// Node processes n1, n2, ... on loopback, their data in a fresh directory.
class cluster {
public:
  /// Starts `n` nodes: n1 founds the cluster, the others join through it;
  /// each gets `extra` options too (replicated mode: etcd, RF).
  explicit cluster(std::size_t n, std::vector<std::string> extra = {})
    : extra_(std::move(extra)) {
    for (std::size_t i = 0; i < n; ++i) {
      add();
    }
    await_settled();
  }

  /// Starts one more node, joining through n1 (does not wait to settle).
  node_process& add() {
    auto name = "n" + std::to_string(nodes_.size() + 1);
    auto data = dir_.path() + "/" + name;
    std::filesystem::create_directories(data);
    nodes_.push_back(std::make_unique<node_process>(
      name, data, dir_.path() + "/" + name + ".log", free_port(), extra_));
    auto& n = *nodes_.back();
    n.start(nodes_.size() == 1 ? std::string{} : nodes_.front()->address());
    return n;
  }

  node_process& operator[](std::size_t i) {
    return *nodes_[i];
  }

  /// The running members.
  std::vector<node_process*> members() {
    std::vector<node_process*> out;
    for (auto& n : nodes_) {
      if (n->running() && !left_.count(n->name())) {
        out.push_back(n.get());
      }
    }
    return out;
  }

  void mark_left(const node_process& n) {
    left_.insert({n.name(), true});
  }

  /// Waits until the running members all report the same settled view of
  /// themselves, everyone reachable.
  void await_settled(std::chrono::seconds timeout = std::chrono::seconds{90}) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
      auto ms = members();
      bool ok = true;
      uint64_t version = 0;
      for (auto* n : ms) {
        auto r = n->must_status();
        if (!r.settled || r.members != ms.size() || r.reachable != ms.size()
            || (version != 0 && r.version != version)) {
          ok = false;
        }
        version = r.version;
      }
      if (ok) {
        return;
      }
      if (clock_type::now() > deadline) {
        die("the cluster did not settle:\n" + ms.front()->log_tail());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }

  void stop_all() {
    for (auto& n : nodes_) {
      n->stop();
    }
  }

  ~cluster() {
    stop_all();
  }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  const std::string& path() const noexcept {
    return dir_.path();
  }

private:
  bench_dir dir_;
  std::vector<std::string> extra_;
  std::vector<std::unique_ptr<node_process>> nodes_;
  std::map<std::string, bool> left_;
};

// -- actor systems ------------------------------------------------------------

/// The bench as a cluster client: the nodes' heartbeat settings (they must
/// match), their scheduler size, the aggregate's types.
struct client_config : annals::cluster::config {
  client_config() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::cluster_bench>();
  }
};

/// The in-process baseline: what a node process runs, minus the cluster.
struct local_config : annals::config {
  local_config() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::cluster_bench>();
  }
};

// -- load drivers -------------------------------------------------------------

/// One command as a client saw it (seconds since the run's epoch).
struct sample {
  double sent = 0;
  double replied = 0;
  bool ok = false;
};

struct load_spec {
  accounts_handle accounts;
  const std::vector<std::string>* ids = nullptr;
  /// Sequential: ids[begin, end) once each. Otherwise ids drawn uniformly
  /// until `deadline` or `stop`.
  bool sequential = false;
  std::size_t begin = 0;
  std::size_t end = 0;
  clock_type::time_point deadline = clock_type::time_point::max();
  const std::atomic<bool>* stop = nullptr;
  std::size_t window = 64;
  uint64_t seed = 1;
  clock_type::time_point epoch;
};

struct load_result {
  std::vector<sample> samples;
  uint64_t errors = 0;
  std::string first_error;
  std::atomic<uint64_t> outstanding{0};
};

/// An event-based actor keeping `window` requests outstanding.
class driver {
public:
  driver(caf::event_based_actor* self, load_spec spec,
         std::shared_ptr<load_result> out,
         std::shared_ptr<std::promise<void>> done)
    : self_(self), spec_(std::move(spec)), out_(std::move(out)),
      done_(std::move(done)), rng_(spec_.seed), pick_(0, spec_.ids->size() - 1),
      next_(spec_.begin) {
  }

  void start() {
    for (std::size_t i = 0; i < spec_.window; ++i) {
      if (!send_next()) {
        break;
      }
    }
    if (outstanding_ == 0) {
      finish();
    }
  }

private:
  double since_epoch(clock_type::time_point t) const {
    return std::chrono::duration<double>(t - spec_.epoch).count();
  }

  bool send_next() {
    const std::string* id = nullptr;
    auto now = clock_type::now();
    if (spec_.sequential) {
      if (next_ >= spec_.end) {
        return false;
      }
      id = &(*spec_.ids)[next_++];
    } else {
      if (now >= spec_.deadline
          || (spec_.stop != nullptr && spec_.stop->load())) {
        return false;
      }
      id = &(*spec_.ids)[pick_(rng_)];
    }
    ++outstanding_;
    ++out_->outstanding;
    auto sent = since_epoch(now);
    self_
      ->request(spec_.accounts.actor(), std::chrono::seconds{60},
                spec_.accounts.make(*id, cluster_bench::deposit{1, memo}))
      .then([this, sent](const annals::ack&) { on_reply(sent, nullptr); },
            [this, sent](caf::error& err) { on_reply(sent, &err); });
    return true;
  }

  void on_reply(double sent, caf::error* err) {
    --outstanding_;
    --out_->outstanding;
    auto replied = since_epoch(clock_type::now());
    out_->samples.push_back({sent, replied, err == nullptr});
    if (err != nullptr) {
      ++out_->errors;
      if (out_->first_error.empty()) {
        out_->first_error = annals::render(*err);
      }
    }
    send_next();
    if (outstanding_ == 0) {
      finish();
    }
  }

  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    self_->quit();
    done_->set_value();
  }

  caf::event_based_actor* self_;
  load_spec spec_;
  std::shared_ptr<load_result> out_;
  std::shared_ptr<std::promise<void>> done_;
  std::mt19937_64 rng_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::size_t next_;
  std::size_t outstanding_ = 0;
  bool finished_ = false;
};

caf::behavior driver_actor(caf::event_based_actor* self, load_spec spec,
                           std::shared_ptr<load_result> out,
                           std::shared_ptr<std::promise<void>> done) {
  auto d = std::make_shared<driver>(self, std::move(spec), std::move(out),
                                    std::move(done));
  d->start();
  return {[d](caf::ok_atom) {}}; // keeps `d` alive
}

/// Running drivers; `wait` merges their results.
class load {
public:
  load(caf::actor_system& sys, const std::vector<load_spec>& specs) {
    for (const auto& s : specs) {
      auto r = std::make_shared<load_result>();
      auto p = std::make_shared<std::promise<void>>();
      futures_.push_back(p->get_future());
      results_.push_back(r);
      sys.spawn(driver_actor, s, r, p);
    }
  }

  struct totals {
    std::vector<sample> samples; ///< sorted by reply time
    uint64_t ok = 0;
    uint64_t errors = 0;
    std::string first_error;
  };

  totals wait(const char* what, std::chrono::seconds limit) {
    auto deadline = clock_type::now() + limit;
    for (auto& f : futures_) {
      if (f.wait_until(deadline) != std::future_status::ready) {
        uint64_t outstanding = 0;
        for (const auto& r : results_) {
          outstanding += r->outstanding;
        }
        die(std::string{what} + ": drivers did not finish, "
            + std::to_string(outstanding) + " requests outstanding");
      }
    }
    totals t;
    for (const auto& r : results_) {
      t.errors += r->errors;
      if (t.first_error.empty()) {
        t.first_error = r->first_error;
      }
      t.samples.insert(t.samples.end(), r->samples.begin(), r->samples.end());
    }
    std::sort(
      t.samples.begin(), t.samples.end(),
      [](const sample& a, const sample& b) { return a.replied < b.replied; });
    for (const auto& s : t.samples) {
      t.ok += s.ok ? 1 : 0;
    }
    return t;
  }

private:
  std::vector<std::shared_ptr<load_result>> results_;
  std::vector<std::future<void>> futures_;
};

std::vector<load_spec>
random_load(const accounts_handle& h, const std::vector<std::string>& ids,
            clock_type::time_point epoch, clock_type::time_point deadline,
            const std::atomic<bool>* stop, uint64_t seed) {
  std::vector<load_spec> specs;
  for (std::size_t d = 0; d < drivers; ++d) {
    load_spec s;
    s.accounts = h;
    s.ids = &ids;
    s.deadline = deadline;
    s.stop = stop;
    s.window = window;
    s.seed = seed * 100 + d;
    s.epoch = epoch;
    specs.push_back(s);
  }
  return specs;
}

/// One command to each of `ids` (untimed: every aggregate live, its stream
/// existing).
void activate(caf::actor_system& sys, const accounts_handle& h,
              const std::vector<std::string>& ids) {
  std::vector<load_spec> specs;
  for (std::size_t d = 0; d < drivers; ++d) {
    load_spec s;
    s.accounts = h;
    s.ids = &ids;
    s.sequential = true;
    s.begin = ids.size() * d / drivers;
    s.end = ids.size() * (d + 1) / drivers;
    s.window = window;
    s.epoch = clock_type::now();
    specs.push_back(s);
  }
  load l{sys, specs};
  auto t = l.wait("activation", std::chrono::seconds{180});
  if (t.errors > 0) {
    die("activation: " + std::to_string(t.errors)
        + " commands failed, first: " + t.first_error);
  }
}

/// Latencies (ms, sorted) of the commands sent in [from, to) that succeeded.
std::vector<double> latencies(const std::vector<sample>& xs, double from,
                              double to) {
  std::vector<double> out;
  for (const auto& s : xs) {
    if (s.ok && s.sent >= from && s.sent < to) {
      out.push_back((s.replied - s.sent) * 1000);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The longest time (ms) in [from, to] without any successful reply.
double longest_gap(const std::vector<sample>& sorted, double from, double to) {
  double last = from;
  double gap = 0;
  for (const auto& s : sorted) {
    if (!s.ok || s.replied < from) {
      continue;
    }
    if (s.replied > to) {
      break;
    }
    gap = std::max(gap, s.replied - last);
    last = s.replied;
  }
  gap = std::max(gap, to - last);
  return gap * 1000;
}

// -- (1) throughput -----------------------------------------------------------

struct throughput_run {
  double rate = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  uint64_t errors = 0;
  std::string first_error;
  double batch = 0;      ///< appends per group commit (per node: mean)
  double forwarded = 0;  ///< share of commands entering n1 sent onwards
  double cpu_cores = 0;  ///< all processes together
  std::string cpu_split; ///< per process
  double fsync_ms = 0;   ///< probe before the run
};

void fill_latency(throughput_run& r, const load::totals& t, double seconds) {
  auto lat = latencies(t.samples, 0, seconds);
  uint64_t in_time = 0;
  for (const auto& s : t.samples) {
    in_time += s.ok && s.replied <= seconds ? 1 : 0;
  }
  r.rate = static_cast<double>(in_time) / seconds;
  r.p50_ms = percentile(lat, 0.5);
  r.p99_ms = percentile(lat, 0.99);
  r.max_ms = lat.empty() ? 0 : lat.back();
  r.errors = t.errors;
  r.first_error = t.first_error;
}

throughput_run run_in_process(const settings& cfg,
                              const std::vector<std::string>& ids,
                              uint64_t seed) {
  bench_dir dir;
  throughput_run res;
  res.fsync_ms = probe_fsync_ms(dir.path());
  local_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  annals::runtime_config rc;
  rc.data_dir = dir.path() + "/data";
  rc.journal.partitions = partitions;
  rc.journal.sync = annals::durability::fsync;
  std::filesystem::create_directories(rc.data_dir);
  auto rt = annals::runtime::start(sys, rc);
  if (!rt) {
    die("runtime: " + annals::render(rt.error()));
  }
  auto accounts = (*rt)->host<cluster_bench::account>();
  activate(sys, accounts, ids);
  auto st0 = (*rt)->stats();
  auto cpu0 = cpu_seconds(0);
  auto start = clock_type::now();
  auto deadline = start
                  + std::chrono::duration_cast<clock_type::duration>(
                    std::chrono::duration<double>(cfg.seconds));
  load l{sys, random_load(accounts, ids, start, deadline, nullptr, seed)};
  auto t = l.wait("in-process load", std::chrono::seconds{120});
  auto wall = std::chrono::duration<double>(clock_type::now() - start).count();
  auto st1 = (*rt)->stats();
  fill_latency(res, t, cfg.seconds);
  res.batch
    = static_cast<double>(st1.appends - st0.appends)
      / static_cast<double>(std::max<uint64_t>(1, st1.commits - st0.commits));
  res.cpu_cores = (cpu_seconds(0) - cpu0) / wall;
  char buf[64];
  std::snprintf(buf, sizeof buf, "process %.2f", res.cpu_cores);
  res.cpu_split = buf;
  (*rt)->shutdown();
  rt->reset();
  return res;
}

throughput_run run_cluster(const settings& cfg,
                           const std::vector<std::string>& ids, uint64_t seed,
                           std::vector<std::string> extra = {}) {
  throughput_run res;
  cluster c{3, std::move(extra)};
  res.fsync_ms = probe_fsync_ms(c.path());
  {
    client_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto root = sys.middleman().remote_actor("127.0.0.1", c[0].port());
    if (!root) {
      die("cannot connect to n1: " + annals::render(root.error()));
    }
    accounts_handle accounts{sys, *root, std::chrono::seconds{60}};
    activate(sys, accounts, ids);
    auto r0 = c[0].must_status();
    std::vector<std::pair<uint64_t, uint64_t>> js0;
    std::vector<double> cpu0;
    for (std::size_t i = 0; i < 3; ++i) {
      js0.push_back(c[i].journal_stats());
      cpu0.push_back(cpu_seconds(c[i].pid()));
    }
    cpu0.push_back(cpu_seconds(0));
    auto start = clock_type::now();
    auto deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
    load l{sys, random_load(accounts, ids, start, deadline, nullptr, seed)};
    auto t = l.wait("cluster load", std::chrono::seconds{120});
    auto wall
      = std::chrono::duration<double>(clock_type::now() - start).count();
    fill_latency(res, t, cfg.seconds);
    auto r1 = c[0].must_status();
    res.forwarded
      = static_cast<double>(r1.forwarded - r0.forwarded)
        / static_cast<double>(std::max<uint64_t>(1, r1.routed - r0.routed));
    double batches = 0;
    std::string split;
    for (std::size_t i = 0; i <= 3; ++i) {
      auto pid = i < 3 ? c[i].pid() : 0;
      auto cores = (cpu_seconds(pid) - cpu0[i]) / wall;
      res.cpu_cores += cores;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", i == 0 ? "" : ", ",
                    i < 3 ? c[i].name().c_str() : "client", cores);
      split += buf;
      if (i < 3) {
        auto js1 = c[i].journal_stats();
        batches += static_cast<double>(js1.second - js0[i].second)
                   / static_cast<double>(
                     std::max<uint64_t>(1, js1.first - js0[i].first));
      }
    }
    res.batch = batches / 3;
    res.cpu_split = split;
  } // the client's actor system, before the nodes
  c.stop_all();
  return res;
}

void print_run(const char* label, const throughput_run& r,
               bool forwarded = false) {
  char fwd[32] = "";
  if (forwarded) {
    std::snprintf(fwd, sizeof fwd, "  fwd %.0f%%", r.forwarded * 100);
  }
  std::printf("    %-10s %7s cmd/s  p50 %-7s p99 %-7s max %-7s batch %5.1f  "
              "cores %.2f (%s)  fsync %s%s%s%s\n",
              label, fmt_rate(r.rate).c_str(), fmt_ms(r.p50_ms).c_str(),
              fmt_ms(r.p99_ms).c_str(), fmt_ms(r.max_ms).c_str(), r.batch,
              r.cpu_cores, r.cpu_split.c_str(), fmt_ms(r.fsync_ms).c_str(), fwd,
              r.errors > 0 ? "  ERRORS: " : "",
              r.errors > 0 ? r.first_error.c_str() : "");
}

/// The median of `field` over `runs`.
double median_of(const std::vector<throughput_run>& runs,
                 double throughput_run::*field) {
  std::vector<double> v;
  for (const auto& x : runs) {
    v.push_back(x.*field);
  }
  return median(v);
}

struct throughput_summary {
  double local_rate = 0, cluster_rate = 0;
  uint64_t errors = 0;
};

throughput_summary section_throughput(const settings& cfg) {
  std::printf("(1) throughput: %zu aggregates, %zu in flight (%zu drivers x "
              "%zu), deposits entering at n1 of 3 nodes; %d round%s of %.1f s "
              "each, in-process and cluster interleaved\n",
              aggregates, drivers * window, drivers, window, cfg.reps,
              cfg.reps == 1 ? "" : "s", cfg.seconds);
  auto ids = make_ids(aggregates);
  std::vector<throughput_run> local, remote;
  for (int i = 0; i < cfg.reps; ++i) {
    auto seed = static_cast<uint64_t>(i + 1);
    local.push_back(run_in_process(cfg, ids, seed));
    remote.push_back(run_cluster(cfg, ids, seed));
    {
      std::printf("  round %d\n", i + 1);
      print_run("in-process", local.back());
      print_run("cluster", remote.back());
    }
  }
  auto med = median_of;
  throughput_summary out;
  out.local_rate = med(local, &throughput_run::rate);
  out.cluster_rate = med(remote, &throughput_run::rate);
  std::vector<double> ratios;
  for (std::size_t i = 0; i < local.size(); ++i) {
    ratios.push_back(remote[i].rate / std::max(1.0, local[i].rate));
  }
  for (const auto& r : remote) {
    out.errors += r.errors;
  }
  for (const auto& r : local) {
    out.errors += r.errors;
  }
  std::printf("  medians                  in-process      cluster   "
              "cluster/in-process\n");
  std::printf("    commands/s             %10s   %10s   %6.2fx  (per-round "
              "ratios: median %.2fx)\n",
              fmt_rate(out.local_rate).c_str(),
              fmt_rate(out.cluster_rate).c_str(),
              out.cluster_rate / std::max(1.0, out.local_rate), median(ratios));
  auto lat_row = [&](const char* name, double throughput_run::*field) {
    auto a = med(local, field);
    auto b = med(remote, field);
    std::printf("    %-22s %10s   %10s   %6.2fx\n", name, fmt_ms(a).c_str(),
                fmt_ms(b).c_str(), b / std::max(1e-9, a));
  };
  lat_row("p50 latency", &throughput_run::p50_ms);
  lat_row("p99 latency", &throughput_run::p99_ms);
  std::printf("    avg group commit       %10.1f   %10.1f   (cluster: per "
              "node)\n",
              med(local, &throughput_run::batch),
              med(remote, &throughput_run::batch));
  std::printf("    CPU cores used         %10.2f   %10.2f   (of %u)\n",
              med(local, &throughput_run::cpu_cores),
              med(remote, &throughput_run::cpu_cores),
              std::thread::hardware_concurrency());
  std::printf("    forwarded by n1                     %9.1f%%   (expected "
              "~67%%)\n",
              med(remote, &throughput_run::forwarded) * 100);
  std::printf("\n");
  return out;
}

// -- etcd's JSON gateway ------------------------------------------------------

std::string base64_encode(const std::string& in) {
  static constexpr char digits[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << 16)
             | (static_cast<uint32_t>(static_cast<uint8_t>(in[i + 1])) << 8)
             | static_cast<uint8_t>(in[i + 2]);
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += digits[(n >> 6) & 63];
    out += digits[n & 63];
  }
  if (auto rest = in.size() - i; rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << 16;
    if (rest == 2) {
      n |= static_cast<uint32_t>(static_cast<uint8_t>(in[i + 1])) << 8;
    }
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += rest == 2 ? digits[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '+')
      return 62;
    if (c == '/')
      return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    auto v = value(c);
    if (v < 0) {
      continue; // padding
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

/// POSTs `body` to `path` on 127.0.0.1:`port` (HTTP/1.0: no chunked
/// reply); the reply's body on status 200, else nullopt.
std::optional<std::string> http_post(uint16_t port, const std::string& path,
                                     const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  auto req = "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n"
             + "Content-Type: application/json\r\nContent-Length: "
             + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < req.size()) {
    auto n = ::write(fd, req.data() + sent, req.size() - sent);
    if (n <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char chunk[4096];
  for (;;) {
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) {
      break;
    }
    reply.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto head_end = reply.find("\r\n\r\n");
  if (head_end == std::string::npos || reply.rfind("HTTP/1.", 0) != 0
      || reply.find(" 200 ") > reply.find("\r\n")) {
    return std::nullopt;
  }
  return reply.substr(head_end + 4);
}

/// An etcd key as the range call reports it.
struct etcd_kv {
  bool exists = false;
  std::string value;
  uint64_t version = 0; ///< writes since the key was created
  uint64_t mod_revision = 0;
};

/// Reads `key` from the etcd at 127.0.0.1:`port` (linearizable range read
/// through the JSON gateway); nullopt if etcd does not answer.
std::optional<etcd_kv> etcd_get(uint16_t port, const std::string& key) {
  nlohmann::json req{{"key", base64_encode(key)}};
  auto body = http_post(port, "/v3/kv/range", req.dump());
  if (!body) {
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return std::nullopt;
  }
  etcd_kv out;
  auto kvs = j.find("kvs");
  if (kvs == j.end() || !kvs->is_array() || kvs->empty()) {
    return out;
  }
  const auto& kv = kvs->front();
  // int64 fields come as strings (protobuf's JSON mapping).
  auto number = [&](const char* name) -> uint64_t {
    auto it = kv.find(name);
    if (it == kv.end()) {
      return 0;
    }
    if (it->is_string()) {
      return std::strtoull(it->get<std::string>().c_str(), nullptr, 10);
    }
    return it->is_number() ? it->get<uint64_t>() : 0;
  };
  out.exists = true;
  out.version = number("version");
  out.mod_revision = number("mod_revision");
  if (auto v = kv.find("value"); v != kv.end() && v->is_string()) {
    out.value = base64_decode(v->get<std::string>());
  }
  return out;
}

// -- (4) replication ----------------------------------------------------------

/// A one-member etcd on loopback (the replicated mode's control plane),
/// data in its own temporary directory; SIGKILLed with the object.
class etcd_server {
public:
  etcd_server() {
    client_port_ = free_port();
    auto peer_port = free_port();
    auto client = "http://" + endpoint();
    auto peer = "http://127.0.0.1:" + std::to_string(peer_port);
    std::vector<std::string> argv{"/usr/bin/etcd",
                                  "--name=bench",
                                  "--data-dir=" + dir_.path() + "/etcd",
                                  "--listen-client-urls=" + client,
                                  "--advertise-client-urls=" + client,
                                  "--listen-peer-urls=" + peer,
                                  "--initial-advertise-peer-urls=" + peer,
                                  "--initial-cluster=bench=" + peer,
                                  "--heartbeat-interval=50",
                                  "--election-timeout=500"};
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    auto log = dir_.path() + "/etcd.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    auto rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      die("cannot start /usr/bin/etcd (Debian package etcd-server)");
    }
    live_children().push_back(pid_);
    // Ready once its client port accepts connections (the nodes retry
    // their first lease until etcd answers).
    auto deadline = clock_type::now() + std::chrono::seconds{30};
    while (!accepts(client_port_)) {
      if (clock_type::now() > deadline) {
        die("etcd did not start; see " + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }

  ~etcd_server() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  etcd_server(const etcd_server&) = delete;
  etcd_server& operator=(const etcd_server&) = delete;

  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(client_port_);
  }

  /// `key` in this etcd; dies if etcd does not answer.
  etcd_kv get(const std::string& key) const {
    auto kv = etcd_get(client_port_, key);
    if (!kv) {
      die("etcd did not answer a range read of " + key);
    }
    return *kv;
  }

private:
  static bool accepts(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  bench_dir dir_;
  uint16_t client_port_ = 0;
  pid_t pid_ = 0;
};

/// The replicated nodes' cluster name in etcd, and its keys.
const std::string etcd_cluster = "bench";
const std::string map_key = "/annals/" + etcd_cluster + "/map";
const std::string controller_key = "/annals/" + etcd_cluster + "/controller";

/// The options of a replicated node of a 3-node cluster on `etcd`.
std::vector<std::string> replicated_options(const etcd_server& etcd,
                                            uint32_t rf) {
  return {"--cluster.etcd=" + etcd.endpoint(),
          "--cluster.cluster-name=" + etcd_cluster,
          "--cluster.initial-members=3",
          "--cluster.replication-factor=" + std::to_string(rf)};
}

/// (1)'s cluster run on replicated nodes with replication factor `rf`.
throughput_run run_replicated(const settings& cfg,
                              const std::vector<std::string>& ids,
                              uint64_t seed, uint32_t rf) {
  etcd_server etcd;
  return run_cluster(cfg, ids, seed, replicated_options(etcd, rf));
}

struct replication_summary {
  bool ran = false;
  double rf1_rate = 0, rf3_rate = 0;
  double rf1_p99 = 0, rf3_p99 = 0;
  uint64_t errors = 0;
};

/// Rounds of RF 1 and RF 3 (interleaved) with (1)'s drivers on `ids`, and
/// their medians.
replication_summary rf_rounds(const settings& cfg,
                              const std::vector<std::string>& ids) {
  std::vector<throughput_run> one, three;
  for (int i = 0; i < cfg.reps; ++i) {
    auto seed = static_cast<uint64_t>(i + 1);
    one.push_back(run_replicated(cfg, ids, seed, 1));
    three.push_back(run_replicated(cfg, ids, seed, 3));
    std::printf("  round %d\n", i + 1);
    print_run("RF 1", one.back(), true);
    print_run("RF 3", three.back(), true);
  }
  auto med = median_of;
  replication_summary out;
  out.ran = true;
  out.rf1_rate = med(one, &throughput_run::rate);
  out.rf3_rate = med(three, &throughput_run::rate);
  out.rf1_p99 = med(one, &throughput_run::p99_ms);
  out.rf3_p99 = med(three, &throughput_run::p99_ms);
  std::vector<double> ratios;
  for (std::size_t i = 0; i < one.size(); ++i) {
    ratios.push_back(three[i].rate / std::max(1.0, one[i].rate));
    out.errors += one[i].errors + three[i].errors;
  }
  std::printf(
    "  medians                  RF 1         RF 3         RF 3/RF 1\n");
  std::printf("    commands/s             %10s   %10s   %6.2fx  (per-round "
              "ratios: median %.2fx)\n",
              fmt_rate(out.rf1_rate).c_str(), fmt_rate(out.rf3_rate).c_str(),
              out.rf3_rate / std::max(1.0, out.rf1_rate), median(ratios));
  auto lat_row = [&](const char* name, double throughput_run::*field) {
    auto a = med(one, field);
    auto b = med(three, field);
    std::printf("    %-22s %10s   %10s   %+8.1f ms\n", name, fmt_ms(a).c_str(),
                fmt_ms(b).c_str(), b - a);
  };
  lat_row("p50 latency", &throughput_run::p50_ms);
  lat_row("p99 latency", &throughput_run::p99_ms);
  std::printf("    avg group commit       %10.1f   %10.1f   (per node, "
              "follower writes included at RF 3)\n",
              med(one, &throughput_run::batch),
              med(three, &throughput_run::batch));
  std::printf("    CPU cores used         %10.2f   %10.2f   (of %u)\n",
              med(one, &throughput_run::cpu_cores),
              med(three, &throughput_run::cpu_cores),
              std::thread::hardware_concurrency());
  std::printf("\n");
  return out;
}

replication_summary section_replication(const settings& cfg) {
  std::printf("(4) replication: (1)'s workload on 3 replicated nodes (etcd), "
              "replication factor 3 vs 1; %d round%s of %.1f s each, "
              "interleaved\n",
              cfg.reps, cfg.reps == 1 ? "" : "s", cfg.seconds);
  return rf_rounds(cfg, make_ids(aggregates));
}

// -- (5) one hot aggregate ----------------------------------------------------

replication_summary section_hot(const settings& cfg) {
  std::printf("(5) one hot aggregate: %zu deposits in flight (%zu drivers x "
              "%zu) to ONE aggregate, entering at n1 of 3 replicated nodes, "
              "replication factor 3 vs 1; %d round%s of %.1f s each, "
              "interleaved\n",
              drivers * window, drivers, window, cfg.reps,
              cfg.reps == 1 ? "" : "s", cfg.seconds);
  return rf_rounds(cfg, {"hot"});
}

// -- replicated clusters: shared steps ----------------------------------------

/// Per node (in the order asked): its replicas.
using replica_table = std::vector<std::vector<replica_row>>;

/// The row of partition `p` in `rows`, or null.
const replica_row* row_of(const std::vector<replica_row>& rows, uint32_t p) {
  if (p < rows.size() && rows[p].partition == p) {
    return &rows[p];
  }
  for (const auto& r : rows) {
    if (r.partition == p) {
      return &r;
    }
  }
  return nullptr;
}

/// Whether `t` (one poll of `nodes`) is in step: every node holds every
/// partition as a voter; each partition has one leader among `nodes`, whose
/// high watermark is its end, and the others follow it and hold that end.
bool in_step(const std::vector<node_process*>& nodes, const replica_table& t) {
  for (const auto& rows : t) {
    if (rows.size() != partitions) {
      return false;
    }
  }
  for (uint32_t p = 0; p < partitions; ++p) {
    const replica_row* lead = nullptr;
    std::string lead_name;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto* r = row_of(t[i], p);
      if (r == nullptr || !r->voter) {
        return false;
      }
      if (r->phase == "leader") {
        if (lead != nullptr) {
          return false;
        }
        lead = r;
        lead_name = nodes[i]->name();
      }
    }
    if (lead == nullptr || lead->hw != lead->end) {
      return false;
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto* r = row_of(t[i], p);
      if (r != lead
          && (r->phase != "follower" || r->leader != lead_name
              || r->end != lead->end)) {
        return false;
      }
    }
  }
  return true;
}

/// Polls the replicas of `nodes` until they are `in_step`; the last poll.
/// Dies after `timeout`.
replica_table await_in_step(const std::vector<node_process*>& nodes,
                            std::chrono::seconds timeout
                            = std::chrono::seconds{90}) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    replica_table t;
    for (auto* n : nodes) {
      auto rows = n->replicas();
      t.push_back(rows ? std::move(*rows) : std::vector<replica_row>{});
    }
    if (in_step(nodes, t)) {
      return t;
    }
    if (clock_type::now() > deadline) {
      die("the replicas did not get in step:\n" + nodes.front()->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Per partition: the index (in `nodes`) of its leader in `t` (in step).
std::vector<std::size_t> leaders_of(const replica_table& t) {
  std::vector<std::size_t> out(partitions, 0);
  for (std::size_t i = 0; i < t.size(); ++i) {
    for (const auto& r : t[i]) {
      if (r.phase == "leader" && r.partition < partitions) {
        out[r.partition] = i;
      }
    }
  }
  return out;
}

/// Per partition: an aggregate id in it (`probe<n>`, the first n that
/// hashes there for cluster_bench::account).
std::vector<std::string> one_id_per_partition() {
  std::vector<std::string> out(partitions);
  std::size_t found = 0;
  for (std::size_t i = 0; found < partitions; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "probe%05zu", i);
    auto p = annals::partition_of(
      annals::stream_id{std::string{cluster_bench::account::category}, buf},
      partitions);
    if (out[p].empty()) {
      out[p] = buf;
      ++found;
    }
  }
  return out;
}

/// A 3-node replicated cluster (RF 3) with its etcd, and the bench as a
/// client connected to every node.
class replicated_rig {
public:
  replicated_rig() : c_(3, replicated_options(etcd_, 3)), sys_(sys_cfg_) {
    for (std::size_t i = 0; i < 3; ++i) {
      handles_.push_back(connect(i));
    }
  }

  ~replicated_rig() {
    handles_.clear();
  }

  replicated_rig(const replicated_rig&) = delete;
  replicated_rig& operator=(const replicated_rig&) = delete;

  cluster& nodes() {
    return c_;
  }

  std::vector<node_process*> all() {
    return {&c_[0], &c_[1], &c_[2]};
  }

  /// Every node but `i`.
  std::vector<node_process*> all_but(std::size_t i) {
    std::vector<node_process*> out;
    for (std::size_t j = 0; j < 3; ++j) {
      if (j != i) {
        out.push_back(&c_[j]);
      }
    }
    return out;
  }

  caf::actor_system& sys() {
    return sys_;
  }

  const etcd_server& etcd() const {
    return etcd_;
  }

  /// The handle entering the cluster at node `i`.
  const accounts_handle& handle(std::size_t i) const {
    return handles_[i];
  }

  /// After node `i` restarted: a handle to its new process.
  void reconnect(std::size_t i) {
    handles_[i] = connect(i);
  }

  /// The index of the etcd controller's node; dies if there is none.
  std::size_t controller() const {
    auto kv = etcd_.get(controller_key);
    for (std::size_t i = 0; i < 3; ++i) {
      if (kv.exists && kv.value == c_name(i)) {
        return i;
      }
    }
    die("no controller in etcd (" + kv.value + ")");
  }

  uint64_t map_version() const {
    return etcd_.get(map_key).version;
  }

  /// Waits until the map's version stayed the same for `quiet`; returns it.
  uint64_t await_map_quiet(std::chrono::milliseconds quiet
                           = std::chrono::seconds{1}) const {
    auto v = map_version();
    auto since = clock_type::now();
    auto deadline = since + std::chrono::seconds{60};
    while (clock_type::now() - since < quiet) {
      if (clock_type::now() > deadline) {
        die("the partition map kept changing");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
      auto now_v = map_version();
      if (now_v != v) {
        v = now_v;
        since = clock_type::now();
      }
    }
    return v;
  }

private:
  std::string c_name(std::size_t i) const {
    return "n" + std::to_string(i + 1);
  }

  accounts_handle connect(std::size_t i) {
    auto root = sys_.middleman().remote_actor("127.0.0.1", c_[i].port());
    if (!root) {
      die("cannot connect to " + c_[i].name() + ": "
          + annals::render(root.error()));
    }
    return accounts_handle{sys_, *root, std::chrono::seconds{60}};
  }

  etcd_server etcd_;
  cluster c_;
  client_config sys_cfg_;
  caf::actor_system sys_;
  std::vector<accounts_handle> handles_;
};

/// Sends a deposit to each of `ids` through `h` until each is acknowledged
/// (after an error: again 5 ms later); `done` gets the time (ms since
/// `t0`) of each first acknowledgement, negative if none within 30 s.
class prober {
public:
  prober(caf::event_based_actor* self, accounts_handle h,
         std::vector<std::string> ids, clock_type::time_point t0,
         std::shared_ptr<std::promise<std::vector<double>>> done)
    : self_(self), h_(std::move(h)), ids_(std::move(ids)), t0_(t0),
      done_(std::move(done)), ms_(ids_.size(), -1), left_(ids_.size()) {
  }

  void start() {
    if (ids_.empty()) {
      finish();
      return;
    }
    for (uint64_t i = 0; i < ids_.size(); ++i) {
      send(i);
    }
  }

  void send(uint64_t i) {
    self_
      ->request(h_.actor(), std::chrono::seconds{10},
                h_.make(ids_[i], cluster_bench::deposit{1, memo}))
      .then(
        [this, i](const annals::ack&) {
          settle(i, ms_between(t0_, clock_type::now()));
        },
        [this, i](caf::error&) {
          if (clock_type::now() - t0_ > std::chrono::seconds{30}) {
            settle(i, -1);
          } else {
            self_->delayed_send(self_, std::chrono::milliseconds{5},
                                caf::ok_atom::value, i);
          }
        });
  }

private:
  void settle(uint64_t i, double ms) {
    ms_[i] = ms;
    if (--left_ == 0) {
      finish();
    }
  }

  void finish() {
    done_->set_value(ms_);
    self_->quit();
  }

  caf::event_based_actor* self_;
  accounts_handle h_;
  std::vector<std::string> ids_;
  clock_type::time_point t0_;
  std::shared_ptr<std::promise<std::vector<double>>> done_;
  std::vector<double> ms_;
  std::size_t left_;
};

caf::behavior
prober_actor(caf::event_based_actor* self, accounts_handle h,
             std::vector<std::string> ids, clock_type::time_point t0,
             std::shared_ptr<std::promise<std::vector<double>>> done) {
  auto p = std::make_shared<prober>(self, std::move(h), std::move(ids), t0,
                                    std::move(done));
  p->start();
  return {[p](caf::ok_atom, uint64_t i) { p->send(i); }};
}

/// Starts probing `ids` through `h` (see `prober`); get() the future.
std::future<std::vector<double>> probe(caf::actor_system& sys,
                                       const accounts_handle& h,
                                       std::vector<std::string> ids,
                                       clock_type::time_point t0) {
  auto done = std::make_shared<std::promise<std::vector<double>>>();
  auto f = done->get_future();
  sys.spawn(prober_actor, h, std::move(ids), t0, std::move(done));
  return f;
}

std::vector<double> await_probe(std::future<std::vector<double>>& f,
                                const char* what) {
  if (f.wait_for(std::chrono::seconds{60}) != std::future_status::ready) {
    die(std::string{what} + ": probes did not finish");
  }
  return f.get();
}

// -- (6) replication lag ------------------------------------------------------

/// One node's replicas at one moment (seconds since the load started: the
/// middle of the request).
struct replica_sample {
  double t = 0;
  std::vector<replica_row> rows;
};

struct lag_run {
  /// Per follower replica sample: events behind its leader (lower and
  /// upper bound) and how long ago the leader held the first missing one.
  std::vector<double> events_lo, events_hi, ms_lo, ms_hi;
  /// Per leader replica sample: end - high watermark.
  std::vector<double> window;
  double rate = 0, client_p50 = 0, client_p99 = 0;
  double cycle_ms = 0; ///< one sample of each of the 3 nodes
  uint64_t errors = 0;
  std::string first_error;
};

/// The bounds of one follower sample `f` (partition row `r`) against its
/// leader's samples `ls` (sorted by time); false if they do not apply
/// (leadership changed, or no leader sample on both sides).
bool lag_of(const replica_sample& f, const replica_row& r,
            const std::vector<replica_sample>& ls, lag_run& out) {
  auto it = std::upper_bound(
    ls.begin(), ls.end(), f.t,
    [](double t, const replica_sample& x) { return t < x.t; });
  if (it == ls.begin() || it == ls.end()) {
    return false;
  }
  auto leading = [&](const replica_sample& x) -> const replica_row* {
    const auto* l = row_of(x.rows, r.partition);
    return l != nullptr && l->phase == "leader" && l->epoch == r.epoch
             ? l
             : nullptr;
  };
  const auto* before = leading(*(it - 1));
  const auto* after = leading(*it);
  if (before == nullptr || after == nullptr) {
    return false;
  }
  auto behind = [&](uint64_t leader_end) {
    return leader_end > r.end ? static_cast<double>(leader_end - r.end) : 0.0;
  };
  // Time: the last leader sample (before f) that the follower had fully;
  // the leader wrote the first event the follower lacks after it.
  auto k = it - 1;
  for (;;) {
    const auto* l = leading(*k);
    if (l == nullptr) {
      return false;
    }
    if (l->end <= r.end) {
      break;
    }
    if (k == ls.begin()) {
      return false; // behind every sample: the start of the run
    }
    --k;
  }
  out.events_lo.push_back(behind(before->end));
  out.events_hi.push_back(behind(after->end));
  out.ms_hi.push_back((f.t - k->t) * 1000);
  auto next = k + 1;
  out.ms_lo.push_back(next < it ? (f.t - next->t) * 1000 : 0.0);
  return true;
}

lag_run run_lag(const settings& cfg, const std::vector<std::string>& ids,
                uint64_t seed) {
  lag_run res;
  etcd_server etcd;
  cluster c{3, replicated_options(etcd, 3)};
  std::vector<std::vector<replica_sample>> series(3);
  {
    client_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto root = sys.middleman().remote_actor("127.0.0.1", c[0].port());
    if (!root) {
      die("cannot connect to n1: " + annals::render(root.error()));
    }
    accounts_handle accounts{sys, *root, std::chrono::seconds{60}};
    activate(sys, accounts, ids);
    auto start = clock_type::now();
    auto deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
    load l{sys, random_load(accounts, ids, start, deadline, nullptr, seed)};
    std::size_t cycles = 0;
    while (clock_type::now() < deadline) {
      for (std::size_t i = 0; i < 3; ++i) {
        auto a = clock_type::now();
        auto rows = c[i].replicas();
        auto b = clock_type::now();
        if (rows) {
          series[i].push_back(
            {std::chrono::duration<double>(a + (b - a) / 2 - start).count(),
             std::move(*rows)});
        }
      }
      ++cycles;
    }
    res.cycle_ms = cfg.seconds * 1000 / static_cast<double>(cycles);
    auto t = l.wait("lag load", std::chrono::seconds{120});
    throughput_run tr;
    fill_latency(tr, t, cfg.seconds);
    res.rate = tr.rate;
    res.client_p50 = tr.p50_ms;
    res.client_p99 = tr.p99_ms;
    res.errors = tr.errors;
    res.first_error = tr.first_error;
  }
  c.stop_all();
  for (std::size_t b = 0; b < 3; ++b) {
    for (const auto& f : series[b]) {
      for (const auto& r : f.rows) {
        if (r.phase == "leader") {
          res.window.push_back(
            static_cast<double>(r.end - std::min(r.end, r.hw)));
          continue;
        }
        if (r.phase != "follower") {
          continue;
        }
        for (std::size_t l = 0; l < 3; ++l) {
          if (l != b && c[l].name() == r.leader) {
            lag_of(f, r, series[l], res);
          }
        }
      }
    }
  }
  for (auto* v :
       {&res.events_lo, &res.events_hi, &res.ms_lo, &res.ms_hi, &res.window}) {
    std::sort(v->begin(), v->end());
  }
  return res;
}

struct lag_summary {
  bool ran = false;
  double ms_p99_hi = 0;
};

lag_summary section_lag(const settings& cfg) {
  std::printf("(6) replication lag: (1)'s workload on 3 replicated nodes, RF "
              "3, every node's replicas sampled back to back; %d round%s of "
              "%.1f s\n",
              cfg.reps, cfg.reps == 1 ? "" : "s", cfg.seconds);
  auto ids = make_ids(aggregates);
  std::vector<lag_run> runs;
  for (int i = 0; i < cfg.reps; ++i) {
    runs.push_back(run_lag(cfg, ids, static_cast<uint64_t>(i + 1)));
    const auto& r = runs.back();
    std::printf("  round %d: %s cmd/s, client p50 %s p99 %s; one sample of "
                "each node every %s; %zu follower samples; follower behind, "
                "p99 %.0f-%.0f events, %s-%s%s%s\n",
                i + 1, fmt_rate(r.rate).c_str(), fmt_ms(r.client_p50).c_str(),
                fmt_ms(r.client_p99).c_str(), fmt_ms(r.cycle_ms).c_str(),
                r.events_hi.size(), percentile(r.events_lo, 0.99),
                percentile(r.events_hi, 0.99),
                fmt_ms(percentile(r.ms_lo, 0.99)).c_str(),
                fmt_ms(percentile(r.ms_hi, 0.99)).c_str(),
                r.errors > 0 ? "; ERRORS: " : "",
                r.errors > 0 ? r.first_error.c_str() : "");
  }
  auto med = [&](std::vector<double> lag_run::*field, double q) {
    std::vector<double> v;
    for (const auto& r : runs) {
      v.push_back(percentile(r.*field, q));
    }
    return median(v);
  };
  auto med_of = [&](double lag_run::*field) {
    std::vector<double> v;
    for (const auto& r : runs) {
      v.push_back(r.*field);
    }
    return median(v);
  };
  lag_summary out;
  out.ran = true;
  out.ms_p99_hi = med(&lag_run::ms_hi, 0.99);
  auto window_p99 = med(&lag_run::window, 0.99);
  auto client_p99 = med_of(&lag_run::client_p99);
  std::printf("  medians (follower durable end vs leader durable end; "
              "[lower-upper] bound from the sampling)\n");
  std::printf("    follower behind, events  p50 [%.0f-%.0f]  p99 [%.0f-%.0f]  "
              "max %.0f   leader end-hw p99 %.0f   %6.2fx\n",
              med(&lag_run::events_lo, 0.5), med(&lag_run::events_hi, 0.5),
              med(&lag_run::events_lo, 0.99), med(&lag_run::events_hi, 0.99),
              med(&lag_run::events_hi, 1.0), window_p99,
              med(&lag_run::events_hi, 0.99) / std::max(1.0, window_p99));
  std::printf(
    "    follower behind, time    p50 [%s-%s]  p99 [%s-%s]  max %s   "
    "client p99 %s   %6.2fx\n",
    fmt_ms(med(&lag_run::ms_lo, 0.5)).c_str(),
    fmt_ms(med(&lag_run::ms_hi, 0.5)).c_str(),
    fmt_ms(med(&lag_run::ms_lo, 0.99)).c_str(), fmt_ms(out.ms_p99_hi).c_str(),
    fmt_ms(med(&lag_run::ms_hi, 1.0)).c_str(), fmt_ms(client_p99).c_str(),
    out.ms_p99_hi / std::max(1e-9, client_p99));
  std::printf("    (time resolution: one sample of each node every %s)\n\n",
              fmt_ms(med_of(&lag_run::cycle_ms)).c_str());
  return out;
}

// -- (7) failover time --------------------------------------------------------

struct failover_round {
  std::string victim;
  bool controller = false;
  std::vector<double> ms; ///< per partition it led: kill -> first ack
  double rtt_ms = 0;      ///< the probe's round trip before the kill
  uint64_t writes = 0;    ///< map writes until the last ack
};

struct failover_summary {
  bool ran = false;
  double p99 = -1;
};

failover_summary section_failover(const settings& cfg) {
  std::printf("(7) failover: idle 3-node RF 3 cluster; %d SIGKILLs of a "
              "partition leader (every third the etcd controller), restarted "
              "in between; per partition it led: kill -> first acknowledged "
              "deposit (retried every 5 ms through a survivor)\n",
              cfg.kills);
  replicated_rig rig;
  auto& c = rig.nodes();
  auto probe_ids = one_id_per_partition();
  {
    auto f = probe(rig.sys(), rig.handle(0), probe_ids, clock_type::now());
    for (auto ms : await_probe(f, "activation")) {
      if (ms < 0) {
        die("failover: a probe aggregate could not be activated");
      }
    }
  }
  std::vector<failover_round> rounds;
  for (int k = 0; k < cfg.kills; ++k) {
    auto table = await_in_step(rig.all());
    auto lead = leaders_of(table);
    auto ctl = rig.controller();
    std::vector<std::size_t> led(3, 0);
    for (auto i : lead) {
      ++led[i];
    }
    std::size_t victim = 3;
    if (k % 3 == 2 && led[ctl] > 0) {
      victim = ctl;
    } else {
      for (std::size_t i = 0; i < 3; ++i) {
        if (i != ctl && led[i] > 0 && (victim == 3 || led[i] > led[victim])) {
          victim = i;
        }
      }
      if (victim == 3) {
        victim = ctl;
      }
    }
    auto entry = victim == ctl ? (victim + 1) % 3 : ctl;
    std::vector<std::string> ids;
    for (uint32_t p = 0; p < partitions; ++p) {
      if (lead[p] == victim) {
        ids.push_back(probe_ids[p]);
      }
    }
    failover_round r;
    r.victim = c[victim].name();
    r.controller = victim == ctl;
    {
      auto f = probe(rig.sys(), rig.handle(entry), ids, clock_type::now());
      r.rtt_ms = median(await_probe(f, "failover round trip"));
    }
    auto v0 = rig.map_version();
    auto t0 = clock_type::now();
    c[victim].signal(SIGKILL);
    auto f = probe(rig.sys(), rig.handle(entry), ids, t0);
    r.ms = await_probe(f, "failover");
    r.writes = rig.map_version() - v0;
    c[victim].kill_now();
    c[victim].start("");
    rig.reconnect(victim);
    std::sort(r.ms.begin(), r.ms.end());
    std::printf(
      "  kill %2d: %s%s, leader of %zu partitions: first ack after "
      "p50 %s, all %s (round trip before: %s); map writes %llu\n",
      k + 1, r.victim.c_str(), r.controller ? " (controller)" : "", r.ms.size(),
      fmt_ms(percentile(r.ms, 0.5)).c_str(),
      r.ms.empty() || r.ms.front() < 0 ? "never" : fmt_ms(r.ms.back()).c_str(),
      fmt_ms(r.rtt_ms).c_str(), static_cast<unsigned long long>(r.writes));
    std::fflush(stdout);
    rounds.push_back(std::move(r));
  }
  await_in_step(rig.all());
  std::vector<double> all, plain, ctl_kills, last, rtts;
  bool missed = false;
  for (const auto& r : rounds) {
    for (auto ms : r.ms) {
      missed = missed || ms < 0;
      all.push_back(ms);
      (r.controller ? ctl_kills : plain).push_back(ms);
    }
    if (!r.ms.empty()) {
      last.push_back(r.ms.back());
    }
    rtts.push_back(r.rtt_ms);
  }
  for (auto* v : {&all, &plain, &ctl_kills, &last}) {
    std::sort(v->begin(), v->end());
  }
  failover_summary out;
  out.ran = true;
  out.p99 = missed ? -1 : percentile(all, 0.99);
  auto row = [&](const char* name, const std::vector<double>& v) {
    if (v.empty()) {
      std::printf("    %-32s none\n", name);
      return;
    }
    std::printf("    %-32s p50 %-7s p99 %-7s max %-7s  (%zu)   lease TTL %s  "
                "p99 = %.2fx\n",
                name, fmt_ms(percentile(v, 0.5)).c_str(),
                fmt_ms(percentile(v, 0.99)).c_str(), fmt_ms(v.back()).c_str(),
                v.size(), fmt_ms(lease_ttl_ms).c_str(),
                percentile(v, 0.99) / lease_ttl_ms);
  };
  std::printf("  kill -> first ack per partition          (samples)    "
              "baseline\n");
  row("all kills", all);
  row("a node not the controller", plain);
  row("the controller", ctl_kills);
  row("per kill: its last partition", last);
  std::printf("    probe round trip before the kills: median %s%s\n\n",
              fmt_ms(median(rtts)).c_str(),
              missed ? "   SOME PARTITIONS NEVER ANSWERED (30 s)" : "");
  return out;
}

// -- (8) catch-up after disk loss ---------------------------------------------

struct catchup_run {
  double events = 0;       ///< what the wiped node copied
  double written_rate = 0; ///< commands/s of the load that wrote them
  double start_ms = 0;     ///< spawn -> READY
  double first_ms = 0;     ///< READY -> the first copied event seen
  double held_ms = 0;      ///< READY -> every partition at the leaders' end
  double voter_ms = 0;     ///< READY -> every replica a voter again
  std::string victim;
  uint64_t errors = 0;
};

catchup_run run_catchup(const settings& cfg,
                        const std::vector<std::string>& ids, uint64_t seed) {
  catchup_run res;
  replicated_rig rig;
  auto& c = rig.nodes();
  {
    activate(rig.sys(), rig.handle(0), ids);
    auto start = clock_type::now();
    auto deadline = start
                    + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
    load l{rig.sys(),
           random_load(rig.handle(0), ids, start, deadline, nullptr, seed)};
    auto t = l.wait("catch-up load", std::chrono::seconds{120});
    throughput_run tr;
    fill_latency(tr, t, cfg.seconds);
    res.written_rate = tr.rate;
    res.errors = tr.errors;
  }
  auto ctl = rig.controller();
  std::size_t victim = ctl == 2 ? 1 : 2; // a follower, not the controller
  res.victim = c[victim].name();
  c[victim].stop();
  auto survivors = rig.all_but(victim);
  auto table = await_in_step(survivors);
  std::vector<uint64_t> ends(partitions, 0);
  for (uint32_t p = 0; p < partitions; ++p) {
    for (const auto& rows : table) {
      if (const auto* r = row_of(rows, p); r && r->phase == "leader") {
        ends[p] = r->end;
      }
    }
    res.events += static_cast<double>(ends[p]);
  }
  c[victim].wipe();
  auto t_spawn = clock_type::now();
  c[victim].start("");
  auto t_ready = clock_type::now();
  res.start_ms = ms_between(t_spawn, t_ready);
  auto deadline = t_ready + std::chrono::seconds{180};
  bool held = false, started = false;
  for (;;) {
    auto rows = c[victim].replicas();
    auto now = clock_type::now();
    if (rows && rows->size() == partitions) {
      bool all_held = true, all_voters = true;
      for (uint32_t p = 0; p < partitions; ++p) {
        const auto* r = row_of(*rows, p);
        if (!started && r != nullptr && r->end > 0) {
          started = true;
          res.first_ms = ms_between(t_ready, now);
        }
        all_held = all_held && r != nullptr && r->end >= ends[p];
        all_voters = all_voters && r != nullptr && r->voter;
      }
      if (all_held && !held) {
        held = true;
        res.held_ms = ms_between(t_ready, now);
      }
      if (held && all_voters) {
        res.voter_ms = ms_between(t_ready, now);
        break;
      }
    }
    if (now > deadline) {
      die("the wiped node did not catch up in 180 s:\n" + c[victim].log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  await_in_step(rig.all());
  return res;
}

struct catchup_summary {
  bool ran = false;
  double rate = 0;
};

catchup_summary section_catchup(const settings& cfg, double rf1_rate) {
  std::printf("(8) catch-up after disk loss: 3-node RF 3 cluster filled by "
              "10^4 activations and %.1f s of (1)'s load; a follower node "
              "stopped, its data directory removed, restarted; %d round%s\n",
              cfg.seconds, cfg.catchup_reps, cfg.catchup_reps == 1 ? "" : "s");
  auto ids = make_ids(aggregates);
  std::vector<double> rates, copy_rates, written, held, voter, starts, firsts;
  for (int i = 0; i < cfg.catchup_reps; ++i) {
    auto r = run_catchup(cfg, ids, static_cast<uint64_t>(200 + i));
    auto rate = r.events / std::max(1e-9, r.held_ms / 1000);
    rates.push_back(rate);
    copy_rates.push_back(r.events
                         / std::max(1e-9, (r.held_ms - r.first_ms) / 1000));
    firsts.push_back(r.first_ms);
    written.push_back(r.written_rate);
    held.push_back(r.held_ms);
    voter.push_back(r.voter_ms);
    starts.push_back(r.start_ms);
    std::printf("  round %d: %s wiped, %s events to copy; start %s, every "
                "partition at the leaders' end after %s (%s ev/s), every "
                "replica a voter after %s; load %s cmd/s%s\n",
                i + 1, r.victim.c_str(), fmt_rate(r.events).c_str(),
                fmt_ms(r.start_ms).c_str(), fmt_ms(r.held_ms).c_str(),
                fmt_rate(rate).c_str(), fmt_ms(r.voter_ms).c_str(),
                fmt_rate(r.written_rate).c_str(),
                r.errors > 0 ? "  LOAD ERRORS" : "");
  }
  catchup_summary out;
  out.ran = true;
  out.rate = median(rates);
  auto w = median(written);
  std::printf("  medians                          catch-up     baseline     "
              "ratio\n");
  std::printf("    events/s (from READY)        %10s   %10s   %6.2fx  (the "
              "RF 3 load that wrote them)\n",
              fmt_rate(out.rate).c_str(), fmt_rate(w).c_str(),
              out.rate / std::max(1.0, w));
  if (rf1_rate > 0) {
    std::printf("                                               %10s   "
                "%6.2fx  ((4)'s RF 1 rate)\n",
                fmt_rate(rf1_rate).c_str(), out.rate / rf1_rate);
  }
  std::printf("    events/s while copying       %10s   %10s   %6.2fx  (from "
              "the first copied event seen)\n",
              fmt_rate(median(copy_rates)).c_str(), fmt_rate(w).c_str(),
              median(copy_rates) / std::max(1.0, w));
  std::printf("    READY -> first event %s, every partition held %s, all "
              "voters %s; spawn -> READY %s (polled every 10 ms)\n\n",
              fmt_ms(median(firsts)).c_str(), fmt_ms(median(held)).c_str(),
              fmt_ms(median(voter)).c_str(), fmt_ms(median(starts)).c_str());
  return out;
}

// -- (9) etcd writes per failover ---------------------------------------------

struct writes_summary {
  bool ran = false;
  std::vector<double> per_failover;
};

writes_summary section_writes(const settings& cfg) {
  std::printf("(9) etcd writes per failover: idle 3-node RF 3 cluster; the map "
              "key's etcd version before a SIGKILL of a partition leader and "
              "once the survivors serve all partitions and the map stayed "
              "unchanged for 1 s; then for its restart; %d round%s (a "
              "non-controller, then the controller)\n",
              cfg.catchup_reps, cfg.catchup_reps == 1 ? "" : "s");
  writes_summary out;
  out.ran = true;
  std::vector<double> returns;
  for (int round = 0; round < cfg.catchup_reps; ++round) {
    replicated_rig rig;
    auto& c = rig.nodes();
    auto probe_ids = one_id_per_partition();
    {
      auto f = probe(rig.sys(), rig.handle(0), probe_ids, clock_type::now());
      await_probe(f, "activation");
    }
    for (int kind = 0; kind < 2; ++kind) {
      auto lead = leaders_of(await_in_step(rig.all()));
      auto ctl = rig.controller();
      std::size_t victim = 3;
      for (std::size_t i = 0; i < 3; ++i) {
        bool leads = std::count(lead.begin(), lead.end(), i) > 0;
        if (leads && (kind == 0) == (i != ctl)) {
          victim = i;
        }
      }
      if (victim == 3) {
        std::printf("  round %d: no %s leads a partition: skipped\n", round + 1,
                    kind == 0 ? "non-controller" : "controller");
        continue;
      }
      auto entry = victim == ctl ? (victim + 1) % 3 : ctl;
      std::vector<std::string> ids;
      for (uint32_t p = 0; p < partitions; ++p) {
        if (lead[p] == victim) {
          ids.push_back(probe_ids[p]);
        }
      }
      auto v0 = rig.await_map_quiet(std::chrono::milliseconds{500});
      auto t0 = clock_type::now();
      c[victim].signal(SIGKILL);
      auto f = probe(rig.sys(), rig.handle(entry), ids, t0);
      auto ms = await_probe(f, "writes");
      await_in_step(rig.all_but(victim));
      auto v1 = rig.await_map_quiet();
      c[victim].kill_now();
      c[victim].start("");
      rig.reconnect(victim);
      await_in_step(rig.all());
      auto v2 = rig.await_map_quiet();
      out.per_failover.push_back(static_cast<double>(v1 - v0));
      returns.push_back(static_cast<double>(v2 - v1));
      std::printf("  round %d: kill %s%s (leader of %zu partitions, all "
                  "serving after %s): map writes %llu (version %llu -> "
                  "%llu); its restart: %llu\n",
                  round + 1, c[victim].name().c_str(),
                  victim == ctl ? " (controller)" : "", ids.size(),
                  fmt_ms(*std::max_element(ms.begin(), ms.end())).c_str(),
                  static_cast<unsigned long long>(v1 - v0),
                  static_cast<unsigned long long>(v0),
                  static_cast<unsigned long long>(v1),
                  static_cast<unsigned long long>(v2 - v1));
      std::fflush(stdout);
    }
  }
  auto writes = median(out.per_failover);
  std::printf(
    "  median map writes per failover %.1f (max %.0f), per restart "
    "%.1f   goal %.0f   %.2fx\n\n",
    writes,
    out.per_failover.empty()
      ? 0.0
      : *std::max_element(out.per_failover.begin(), out.per_failover.end()),
    median(returns), target_failover_writes, writes / target_failover_writes);
  return out;
}

// -- (2) hand-off -------------------------------------------------------------

struct handoff_run {
  std::vector<double> pauses;
  double join_ms = 0, leave_ms = 0; ///< until the cluster settled
  double steady_rate = 0, move_rate = 0;
  double steady_p99 = 0, move_p99 = 0;
  double steady_max = 0, move_max = 0;
  double steady_gap = 0, move_gap = 0;
  uint64_t move_errors = 0, errors = 0;
  std::string first_error;
  uint64_t events_at_join = 0; ///< in the whole cluster (approximately)
};

handoff_run run_handoff(const settings& cfg,
                        const std::vector<std::string>& ids, uint64_t seed) {
  handoff_run res;
  cluster c{3};
  std::vector<std::size_t> before;
  {
    client_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto root = sys.middleman().remote_actor("127.0.0.1", c[0].port());
    if (!root) {
      die("cannot connect to n1: " + annals::render(root.error()));
    }
    accounts_handle accounts{sys, *root, std::chrono::seconds{60}};
    activate(sys, accounts, ids);
    for (std::size_t i = 0; i < 3; ++i) {
      before.push_back(c[i].handoff_pauses().size());
    }
    before.push_back(0); // n4
    std::atomic<bool> stop{false};
    auto epoch = clock_type::now();
    auto since = [&] {
      return std::chrono::duration<double>(clock_type::now() - epoch).count();
    };
    load l{sys, random_load(accounts, ids, epoch, clock_type::time_point::max(),
                            &stop, seed)};
    sleep_s(cfg.steady_s);
    auto t_join = since();
    c.add(); // n4 joins through n1
    c.await_settled();
    auto t_joined = since();
    sleep_s(cfg.between_s);
    auto t_leave = since();
    c[1].leave();
    c.mark_left(c[1]);
    c.await_settled();
    auto t_left = since();
    sleep_s(0.3);
    stop = true;
    auto t = l.wait("hand-off load", std::chrono::seconds{120});
    res.events_at_join = ids.size();
    for (const auto& s : t.samples) {
      res.events_at_join += s.ok && s.replied < t_join ? 1 : 0;
    }
    res.join_ms = (t_joined - t_join) * 1000;
    res.leave_ms = (t_left - t_leave) * 1000;
    // Steady: after a warm-up of 0.3 s until the join; move: from the join
    // until the leave settled.
    auto warm = std::min(0.3, t_join / 2);
    auto steady = latencies(t.samples, warm, t_join);
    auto move = latencies(t.samples, t_join, t_left);
    auto count_ok = [&](double from, double to) {
      uint64_t n = 0;
      for (const auto& s : t.samples) {
        n += s.ok && s.replied >= from && s.replied < to ? 1 : 0;
      }
      return static_cast<double>(n) / std::max(1e-9, to - from);
    };
    res.steady_rate = count_ok(warm, t_join);
    res.move_rate = count_ok(t_join, t_left);
    res.steady_p99 = percentile(steady, 0.99);
    res.move_p99 = percentile(move, 0.99);
    res.steady_max = steady.empty() ? 0 : steady.back();
    res.move_max = move.empty() ? 0 : move.back();
    // Commands that failed count with their time to the error.
    for (const auto& s : t.samples) {
      if (!s.ok && s.sent >= t_join && s.sent < t_left) {
        ++res.move_errors;
        res.move_max = std::max(res.move_max, (s.replied - s.sent) * 1000);
      }
    }
    res.steady_gap = longest_gap(t.samples, warm, t_join);
    res.move_gap = longest_gap(t.samples, t_join, t_left);
    res.errors = t.errors;
    res.first_error = t.first_error;
  }
  for (std::size_t i = 0; i < 4; ++i) {
    auto all = c[i].handoff_pauses();
    for (std::size_t j = before[i]; j < all.size(); ++j) {
      res.pauses.push_back(all[j]);
    }
  }
  c.stop_all();
  return res;
}

struct handoff_summary {
  double p99 = 0;
  bool ran = false;
};

handoff_summary section_handoff(const settings& cfg) {
  std::printf("(2) hand-off under load: 3 nodes, load as in (1) entering at "
              "n1; n4 joins, settles, then n2 leaves; %d round%s\n",
              cfg.handoff_reps, cfg.handoff_reps == 1 ? "" : "s");
  auto ids = make_ids(aggregates);
  std::vector<handoff_run> runs;
  std::vector<double> pauses;
  for (int i = 0; i < cfg.handoff_reps; ++i) {
    runs.push_back(run_handoff(cfg, ids, static_cast<uint64_t>(100 + i)));
    const auto& r = runs.back();
    pauses.insert(pauses.end(), r.pauses.begin(), r.pauses.end());
    std::string ps;
    for (auto p : r.pauses) {
      if (!ps.empty()) {
        ps += ' ';
      }
      ps += fmt_ms(p);
    }
    std::printf("  round %d: %s events in the cluster at the join; join "
                "settled in %s, leave in %s; pauses: %s%s%s\n",
                i + 1, fmt_rate(static_cast<double>(r.events_at_join)).c_str(),
                fmt_ms(r.join_ms).c_str(), fmt_ms(r.leave_ms).c_str(),
                ps.c_str(), r.errors > 0 ? "; first error: " : "",
                r.errors > 0 ? r.first_error.c_str() : "");
  }
  std::sort(pauses.begin(), pauses.end());
  auto med = [&](double handoff_run::*field) {
    std::vector<double> v;
    for (const auto& r : runs) {
      v.push_back(r.*field);
    }
    return median(v);
  };
  auto steady_p99 = med(&handoff_run::steady_p99);
  handoff_summary out;
  out.ran = true;
  out.p99 = percentile(pauses, 0.99);
  std::printf("  hand-off pause (%zu hand-offs, each one partition group "
              "from one old to one new owner):\n",
              pauses.size());
  std::printf("    p50 %s  p99 %s  max %s   vs steady client p99 %s: p99 "
              "pause = %.1fx\n",
              fmt_ms(percentile(pauses, 0.5)).c_str(), fmt_ms(out.p99).c_str(),
              fmt_ms(pauses.empty() ? 0 : pauses.back()).c_str(),
              fmt_ms(steady_p99).c_str(), out.p99 / std::max(1e-9, steady_p99));
  std::printf("  clients (medians over rounds)  steady before   during the "
              "move   move/steady\n");
  auto row = [&](const char* name, double a, double b, bool ms) {
    std::printf("    %-28s %10s   %12s   %6.2fx\n", name,
                ms ? fmt_ms(a).c_str() : fmt_rate(a).c_str(),
                ms ? fmt_ms(b).c_str() : fmt_rate(b).c_str(),
                b / std::max(1e-9, a));
  };
  row("commands/s", med(&handoff_run::steady_rate),
      med(&handoff_run::move_rate), false);
  row("p99 latency", steady_p99, med(&handoff_run::move_p99), true);
  row("longest command (max)", med(&handoff_run::steady_max),
      med(&handoff_run::move_max), true);
  row("longest gap between replies", med(&handoff_run::steady_gap),
      med(&handoff_run::move_gap), true);
  std::vector<double> failed;
  for (const auto& r : runs) {
    failed.push_back(static_cast<double>(r.move_errors));
  }
  std::printf(
    "    failed commands during the move: %.0f (median of rounds)\n\n",
    median(failed));
  return out;
}

// -- (3) failure detection ----------------------------------------------------

/// Polls `watchers` until each reports at most `reachable` reachable members;
/// the time (ms since `t0`) each one did, or a negative value on timeout.
std::vector<double> await_unreachable(std::vector<node_process*> watchers,
                                      std::size_t reachable,
                                      clock_type::time_point t0, int poll_ms,
                                      std::vector<double>& rtts) {
  std::vector<double> out(watchers.size(), -1);
  auto deadline = t0 + std::chrono::seconds{15};
  std::size_t left = watchers.size();
  while (left > 0 && clock_type::now() < deadline) {
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      if (out[i] >= 0) {
        continue;
      }
      auto a = clock_type::now();
      auto r = watchers[i]->status();
      auto b = clock_type::now();
      rtts.push_back(ms_between(a, b));
      if (r && r->reachable <= reachable) {
        // Seen between the previous poll and this reply: count its middle.
        out[i] = ms_between(t0, a + (b - a) / 2);
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{poll_ms});
  }
  return out;
}

void await_reachable(std::vector<node_process*> nodes, std::size_t n) {
  auto deadline = clock_type::now() + std::chrono::seconds{60};
  for (;;) {
    bool ok = true;
    for (auto* x : nodes) {
      auto r = x->status();
      ok = ok && r && r->reachable == n && r->settled;
    }
    if (ok) {
      return;
    }
    if (clock_type::now() > deadline) {
      die("the restarted node did not become reachable again:\n"
          + nodes.back()->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

struct failure_summary {
  double kill_ms = -1, stop_ms = -1;
  bool ran = false;
};

failure_summary section_failure(const settings& cfg) {
  std::printf("(3) failure detection: idle 3-node cluster; n3 SIGKILLed, "
              "then (restarted) SIGSTOPped; n1 and n2 polled every %d ms; "
              "%d round%s\n",
              cfg.poll_ms, cfg.failure_reps, cfg.failure_reps == 1 ? "" : "s");
  cluster c{3};
  std::vector<node_process*> watchers{&c[0], &c[1]};
  std::vector<double> kill_ms, stop_ms, rtts;
  bool missed_kill = false, missed_stop = false;
  auto restart = [&] {
    c[2].start(c[0].address());
    await_reachable({&c[0], &c[1], &c[2]}, 3);
  };
  for (int i = 0; i < cfg.failure_reps; ++i) {
    auto t0 = clock_type::now();
    c[2].signal(SIGKILL);
    auto k = await_unreachable(watchers, 2, t0, cfg.poll_ms, rtts);
    c[2].kill_now();
    restart();
    auto t1 = clock_type::now();
    c[2].signal(SIGSTOP);
    auto s = await_unreachable(watchers, 2, t1, cfg.poll_ms, rtts);
    c[2].signal(SIGCONT);
    c[2].kill_now();
    if (i + 1 < cfg.failure_reps) {
      restart();
    }
    // "Marked by the others" = by both survivors.
    auto worst = [](const std::vector<double>& xs, bool& missed) {
      double w = 0;
      for (auto x : xs) {
        if (x < 0) {
          missed = true;
        }
        w = std::max(w, x);
      }
      return w;
    };
    auto kw = worst(k, missed_kill);
    auto sw = worst(s, missed_stop);
    kill_ms.push_back(kw);
    stop_ms.push_back(sw);
    std::printf("  round %d: killed -> unreachable at n1 %s, n2 %s; "
                "stopped -> n1 %s, n2 %s\n",
                i + 1, k[0] < 0 ? "never" : fmt_ms(k[0]).c_str(),
                k[1] < 0 ? "never" : fmt_ms(k[1]).c_str(),
                s[0] < 0 ? "never" : fmt_ms(s[0]).c_str(),
                s[1] < 0 ? "never" : fmt_ms(s[1]).c_str());
  }
  c.stop_all();
  std::sort(rtts.begin(), rtts.end());
  failure_summary out;
  out.ran = true;
  out.kill_ms = missed_kill ? -1 : median(kill_ms);
  out.stop_ms = missed_stop ? -1 : median(stop_ms);
  auto rtt = percentile(rtts, 0.5);
  std::printf("  medians (both survivors)   detected   baseline              "
              "ratio\n");
  std::printf(
    "    SIGKILL -> unreachable   %8s   poll round trip %-6s %6.1fx  "
    "(max %s)\n",
    missed_kill ? "never" : fmt_ms(out.kill_ms).c_str(), fmt_ms(rtt).c_str(),
    out.kill_ms / std::max(1e-9, rtt),
    fmt_ms(*std::max_element(kill_ms.begin(), kill_ms.end())).c_str());
  std::printf(
    "    SIGSTOP -> unreachable   %8s   heartbeat timeout %-6s "
    "%5.2fx  (max %s)\n\n",
    missed_stop ? "never" : fmt_ms(out.stop_ms).c_str(),
    fmt_ms(heartbeat_timeout_ms).c_str(), out.stop_ms / heartbeat_timeout_ms,
    fmt_ms(*std::max_element(stop_ms.begin(), stop_ms.end())).c_str());
  return out;
}

} // namespace

int main(int argc, char** argv) {
  settings cfg;
  bool reps_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* prefix) -> const char* {
      auto n = std::strlen(prefix);
      return a.compare(0, n, prefix) == 0 ? argv[i] + n : nullptr;
    };
    if (a == "--quick") {
      cfg.seconds = 1.5;
      cfg.reps = 1;
      cfg.handoff_reps = 1;
      cfg.failure_reps = 1;
      cfg.catchup_reps = 1;
      cfg.steady_s = 1.0;
      cfg.between_s = 0.5;
    } else if (auto v = value("--seconds=")) {
      cfg.seconds = std::atof(v);
    } else if (auto v2 = value("--reps=")) {
      cfg.reps = std::max(1, std::atoi(v2));
      reps_given = true;
    } else if (auto v3 = value("--only=")) {
      cfg.sections = v3;
    } else if (auto v4 = value("--poll-ms=")) {
      cfg.poll_ms = std::max(1, std::atoi(v4));
    } else if (auto v5 = value("--kills=")) {
      cfg.kills = std::max(1, std::atoi(v5));
    } else if (a == "--verbose") {
      cfg.verbose = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (reps_given) {
    cfg.handoff_reps = std::max(1, (cfg.reps + 1) / 2);
    cfg.failure_reps = cfg.reps;
    cfg.catchup_reps = std::max(1, (cfg.reps + 1) / 2);
  }
  {
    bench_dir probe;
    std::printf("cluster_bench: node processes on 127.0.0.1, fsync on, "
                "%u partitions, %s in %s (flush probe %s), %u cores\n\n",
                partitions, filesystem_of(probe.path()).c_str(),
                std::filesystem::temp_directory_path().c_str(),
                fmt_ms(probe_fsync_ms(probe.path())).c_str(),
                std::thread::hardware_concurrency());
  }
  std::fflush(stdout);
  auto has = [&](char c) { return cfg.sections.find(c) != std::string::npos; };
  std::optional<throughput_summary> tp;
  handoff_summary ho;
  failure_summary fd;
  if (has('1')) {
    tp = section_throughput(cfg);
    std::fflush(stdout);
  }
  if (has('2')) {
    ho = section_handoff(cfg);
    std::fflush(stdout);
  }
  if (has('3')) {
    fd = section_failure(cfg);
    std::fflush(stdout);
  }
  replication_summary rs;
  if (has('4')) {
    rs = section_replication(cfg);
    std::fflush(stdout);
  }
  replication_summary hot;
  if (has('5')) {
    hot = section_hot(cfg);
    std::fflush(stdout);
  }
  lag_summary lag;
  if (has('6')) {
    lag = section_lag(cfg);
    std::fflush(stdout);
  }
  failover_summary fo;
  if (has('7')) {
    fo = section_failover(cfg);
    std::fflush(stdout);
  }
  catchup_summary cu;
  if (has('8')) {
    cu = section_catchup(cfg, rs.ran ? rs.rf1_rate : 0);
    std::fflush(stdout);
  }
  writes_summary ws;
  if (has('9')) {
    ws = section_writes(cfg);
    std::fflush(stdout);
  }
  std::printf("targets\n");
  if (tp) {
    auto ratio = tp->cluster_rate / std::max(1.0, tp->local_rate);
    std::printf("  (1) cluster >= %.1fx in-process          %8.2fx   %s\n",
                target_ratio, ratio, verdict(ratio >= target_ratio));
    std::printf("  (1) cluster >= %s commands/s           %8s   %s\n",
                fmt_rate(target_rate).c_str(),
                fmt_rate(tp->cluster_rate).c_str(),
                verdict(tp->cluster_rate >= target_rate));
    if (tp->errors > 0) {
      std::printf("  (1) %llu commands failed\n",
                  static_cast<unsigned long long>(tp->errors));
    }
  }
  if (ho.ran) {
    std::printf("  (2) hand-off pause p99 <= %s           %8s   %s\n",
                fmt_ms(target_pause_p99_ms).c_str(), fmt_ms(ho.p99).c_str(),
                verdict(ho.p99 <= target_pause_p99_ms));
  }
  if (fd.ran) {
    std::printf("  (3) killed node unreachable <= %s     %8s   %s\n",
                fmt_ms(target_kill_ms).c_str(),
                fd.kill_ms < 0 ? "never" : fmt_ms(fd.kill_ms).c_str(),
                verdict(fd.kill_ms >= 0 && fd.kill_ms <= target_kill_ms));
    std::printf("  (3) stopped node unreachable <= %s    %8s   %s\n",
                fmt_ms(target_stop_ms).c_str(),
                fd.stop_ms < 0 ? "never" : fmt_ms(fd.stop_ms).c_str(),
                verdict(fd.stop_ms >= 0 && fd.stop_ms <= target_stop_ms));
  }
  if (rs.ran) {
    auto ratio = rs.rf3_rate / std::max(1.0, rs.rf1_rate);
    std::printf("  (4) RF 3 >= %.1fx RF 1                    %8.2fx   %s\n",
                target_rf3_ratio, ratio, verdict(ratio >= target_rf3_ratio));
    std::printf("  (4) RF 3 p99 <= RF 1 p99 + %s       %8s   %s\n",
                fmt_ms(target_rf3_p99_extra_ms).c_str(),
                fmt_ms(rs.rf3_p99 - rs.rf1_p99).c_str(),
                verdict(rs.rf3_p99 <= rs.rf1_p99 + target_rf3_p99_extra_ms));
    if (rs.errors > 0) {
      std::printf("  (4) %llu commands failed\n",
                  static_cast<unsigned long long>(rs.errors));
    }
  }
  if (hot.ran) {
    auto ratio = hot.rf3_rate / std::max(1.0, hot.rf1_rate);
    std::printf("  (5) hot: RF 3 >= %.1fx RF 1               %8.2fx   %s\n",
                target_rf3_ratio, ratio, verdict(ratio >= target_rf3_ratio));
    if (hot.errors > 0) {
      std::printf("  (5) %llu commands failed\n",
                  static_cast<unsigned long long>(hot.errors));
    }
  }
  if (lag.ran) {
    std::printf(
      "  (6) replication lag p99 (upper bound)    %8s   (no target)\n",
      fmt_ms(lag.ms_p99_hi).c_str());
  }
  if (fo.ran) {
    std::printf("  (7) kill -> first ack p99 <= %s        %8s   %s\n",
                fmt_ms(target_failover_p99_ms).c_str(),
                fo.p99 < 0 ? "never" : fmt_ms(fo.p99).c_str(),
                verdict(fo.p99 >= 0 && fo.p99 <= target_failover_p99_ms));
  }
  if (cu.ran) {
    std::printf("  (8) catch-up after disk loss             %8s ev/s (no "
                "target)\n",
                fmt_rate(cu.rate).c_str());
  }
  if (ws.ran) {
    auto worst
      = ws.per_failover.empty()
          ? 0.0
          : *std::max_element(ws.per_failover.begin(), ws.per_failover.end());
    std::printf(
      "  (9) map writes per failover == %.0f          %8.0f   %s\n",
      target_failover_writes, worst,
      verdict(!ws.per_failover.empty() && worst == target_failover_writes));
  }
  return 0;
}
