// annals -- event-sourced aggregates on the C++ Actor Framework.
// cluster_bench: one node process (cluster_bench_node) driven through its
// stdin and stdout, as annals/tools/node_program.hpp describes.
#pragma once

#include "cluster/helpers.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cluster_bench {

/// What a node reports on "status".
struct node_report {
  uint64_t version = 0;
  bool settled = false;
  std::size_t members = 0;
  uint32_t active = 0;
  uint32_t inbound = 0;
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
/// file. A failure the bench cannot go on from (no READY, no answer to a
/// report it needs) ends the bench through `die`. Not thread-safe.
class node_process {
public:
  node_process(std::string name, std::string data_dir, std::string log_path,
               uint16_t port, std::vector<std::string> extra = {});

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// SIGKILLs a process still running.
  ~node_process();

  /// Starts the process and waits for "READY"; dies on failure. A node
  /// finds its peers through etcd (`extra`: `--cluster.etcd`, see
  /// `replicated_options`); without it, it is a standalone node.
  void start();

  /// Sends `cmd` and returns the first line starting with `prefix`.
  std::optional<std::string>
  ask(const std::string& cmd, const std::string& prefix,
      std::chrono::milliseconds timeout = std::chrono::seconds{15});

  std::optional<node_report> status();

  node_report must_status();

  /// (commits, appends) of the node's runtime.
  std::pair<uint64_t, uint64_t> journal_stats();

  /// Replicated mode: the node's replicas in partition order; nullopt if
  /// the node does not answer (or its replicator did not).
  std::optional<std::vector<replica_row>> replicas();

  /// Removes the data directory and creates it empty (a lost disk). Only
  /// while the process is not running.
  void wipe();

  /// A planned leave ("leave" -> "LEFT ok", waited for up to 120 s).
  void leave();

  /// Clean stop: EOF on stdin; SIGKILL after 20 s.
  void stop();

  void signal(int sig);

  /// SIGKILL (the process may be stopped) and wait for it.
  void kill_now();

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

  /// The last 2000 bytes of its stderr.
  std::string log_tail() const;

private:
  void reap();
  void forget();
  void close_pipes();
  std::optional<std::string> next_line(clock_type::time_point deadline);
  std::optional<std::string> await_line(const std::string& prefix,
                                        std::chrono::milliseconds timeout);

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

} // namespace cluster_bench
