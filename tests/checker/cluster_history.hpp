// annals -- test support for the history-checker tests: node processes that
// report subscriber deliveries, a history log in the checker's format, and
// client threads that drive deposits through random nodes.
#pragma once

#include "annals/aggregate_handle.hpp"
#include "annals/checker/checker.hpp"
#include "annals/cluster/node_config.hpp"
#include "annals/errc.hpp"

#include "child_process.hpp"
#include "ports.hpp"
#include "sample_account.hpp"
#include "temp_dir.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace annals::testing {

using std::chrono::steady_clock;

/// The history file, written by many threads; file order is real-time
/// order (each line is written under one lock).
class history_log {
public:
  explicit history_log(const std::string& path) : path_(path), out_(path) {
  }

  void write(checker::op_type t, const std::string& client,
             const std::string& id, const std::string& cmd, revision first = 0,
             revision last = 0) {
    checker::op x;
    x.type = t;
    x.client = client;
    x.stream = "sample.account/" + id;
    x.command_id = cmd;
    x.first = first;
    x.last = last;
    raw(checker::to_line(x));
  }

  void raw(const std::string& line) {
    std::lock_guard guard{mtx_};
    out_ << line << '\n';
    ++lines_;
  }

  std::size_t lines() {
    std::lock_guard guard{mtx_};
    return lines_;
  }

  /// Flushes and parses what was written.
  checker::history read() {
    {
      std::lock_guard guard{mtx_};
      out_.flush();
    }
    std::ifstream in{path_};
    std::string err;
    auto h = checker::parse_history(in, err);
    if (!h)
      throw std::runtime_error("history: " + err);
    return *h;
  }

  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
  std::mutex mtx_;
  std::ofstream out_;
  std::size_t lines_ = 0;
};

/// One node process (tests/checker/checker_node_child.cpp). A reader thread
/// drains its stdout: "SEEN" lines go to the history, the rest to `await`.
class node_proc {
public:
  node_proc(std::string binary, std::string name, std::string dir,
            history_log* log, std::vector<std::string> extra = {})
    : binary_(std::move(binary)), name_(std::move(name)), dir_(std::move(dir)),
      port_(free_port()), log_(log), extra_(std::move(extra)) {
  }

  ~node_proc() {
    if (proc_) {
      proc_->kill(SIGKILL);
      finish();
    }
  }

  /// Starts the process; false if it did not print READY within 40 s.
  /// With `subscribe`, it subscribes as `<name>#<start>` (from 0).
  bool start(bool subscribe = false) {
    std::vector<std::string> argv = wrapper;
    for (auto x :
         {binary_, "--annals.data-dir=" + dir_,
          std::string{"--annals.partitions=64"}, "--cluster.name=" + name_,
          "--cluster.host=" + host_, "--cluster.port=" + std::to_string(port_)})
      argv.push_back(std::move(x));
    if (subscribe)
      argv.push_back("--sub=" + name_ + "#" + std::to_string(incarnation_));
    ++incarnation_;
    for (auto& x : extra_)
      argv.push_back(x);
    {
      std::lock_guard guard{mtx_};
      lines_.clear();
    }
    proc_ = std::make_unique<child_process>(argv, true, stderr_file);
    reader_ = std::thread{[this] {
      proc_->read_lines([this](const std::string& line) {
        if (line.rfind("SEEN ", 0) == 0) {
          if (log_)
            log_->raw("seen " + line.substr(5));
          return;
        }
        std::lock_guard guard{mtx_};
        lines_.push_back(line);
        cv_.notify_all();
      });
      std::lock_guard guard{mtx_};
      eof_ = true;
      cv_.notify_all();
    }};
    up_ = static_cast<bool>(await("READY", std::chrono::seconds{40}));
    return up_;
  }

  /// Sends `cmd` and waits for the reply line starting with `prefix`.
  std::optional<std::string>
  ask(const std::string& cmd, const std::string& prefix,
      std::chrono::seconds timeout = std::chrono::seconds{15}) {
    if (!proc_ || !proc_->send_line(cmd))
      return std::nullopt;
    return await(prefix, timeout);
  }

  std::optional<std::string> await(const std::string& prefix,
                                   std::chrono::milliseconds timeout) {
    std::unique_lock guard{mtx_};
    auto deadline = steady_clock::now() + timeout;
    for (;;) {
      while (!lines_.empty()) {
        auto l = std::move(lines_.front());
        lines_.pop_front();
        if (l.rfind(prefix, 0) == 0)
          return l;
      }
      if (eof_)
        return std::nullopt;
      if (cv_.wait_until(guard, deadline) == std::cv_status::timeout
          && lines_.empty())
        return std::nullopt;
    }
  }

  /// Sends `sig` (e.g. SIGSTOP, SIGCONT) to the running process.
  void signal(int sig) {
    if (proc_)
      proc_->kill(sig);
  }

  /// SIGKILL; returns once the process is gone.
  void kill() {
    up_ = false;
    proc_->kill(SIGKILL);
    finish();
  }

  /// Waits up to `timeout` for the process to end by itself (no signal
  /// from us: a crash point); its wait status, or nullopt if still running.
  std::optional<int> await_exit(std::chrono::milliseconds timeout) {
    {
      std::unique_lock guard{mtx_};
      if (!cv_.wait_for(guard, timeout, [this] { return eof_; }))
        return std::nullopt;
    }
    up_ = false;
    return finish();
  }

  /// Clean stop (EOF on stdin); returns the wait status.
  int stop() {
    up_ = false;
    proc_->close_stdin();
    return finish();
  }

  bool up() const {
    return up_;
  }
  /// Started at least once (it has a journal).
  bool started() const {
    return incarnation_ > 0;
  }
  const std::string& name() const {
    return name_;
  }
  /// The subscriber name of the current (or last) start: `<name>#<start>`.
  std::string subscriber() const {
    return name_ + "#" + std::to_string(incarnation_ - 1);
  }
  const std::string& dir() const {
    return dir_;
  }
  uint16_t port() const {
    return port_;
  }
  const std::string& host() const {
    return host_;
  }
  std::string address() const {
    return host_ + ":" + std::to_string(port_);
  }

  /// Runs the node at `host` (its bind and advertised address).
  void set_host(std::string host) {
    host_ = std::move(host);
  }

  /// Words put before the binary on every start (a wrapper such as
  /// `ip netns exec NS` or `fiu-run -c ...`); may change between starts.
  std::vector<std::string> wrapper;

  /// If set, the file that receives stderr on the next start (else
  /// inherited).
  std::string stderr_file;

private:
  int finish() {
    if (reader_.joinable())
      reader_.join();
    auto st = proc_->wait();
    proc_.reset();
    std::lock_guard guard{mtx_};
    eof_ = false;
    return st;
  }

  std::string binary_;
  std::string name_;
  std::string dir_;
  uint16_t port_;
  std::string host_ = "127.0.0.1";
  history_log* log_;
  std::vector<std::string> extra_;
  std::unique_ptr<child_process> proc_;
  std::thread reader_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool eof_ = false;
  std::atomic<bool> up_{false};
  int incarnation_ = 0;
};

/// Parses a STATUS line: the partition map's version, settled (the node
/// has a map and serves every partition it leads), the map's members, and
/// how many of them it reaches (itself included).
struct node_status {
  uint64_t version = 0;
  bool settled = false;
  std::size_t members = 0;
  std::size_t reachable = 0;
};

inline std::optional<node_status> status_of(node_proc& n) {
  auto line = n.ask("status", "STATUS");
  if (!line)
    return std::nullopt;
  std::istringstream in{line->substr(7)};
  node_status s;
  int settled = 0;
  uint32_t active = 0, inbound = 0;
  if (!(in >> s.version >> settled >> s.members >> active >> inbound
        >> s.reachable))
    return std::nullopt;
  s.settled = settled != 0;
  return s;
}

/// Waits until `nodes` report the same map version with `members`
/// members, all reachable, each settled; false after `timeout`.
inline bool
await_settled(const std::vector<node_proc*>& nodes, std::size_t members,
              std::chrono::seconds timeout = std::chrono::seconds{60}) {
  auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    bool ok = true;
    uint64_t version = 0;
    for (auto* n : nodes) {
      auto s = status_of(*n);
      if (!s || !s->settled || s->members != members || s->reachable != members
          || (version != 0 && s->version != version))
        ok = false;
      if (s)
        version = s->version;
    }
    if (ok)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return false;
}

struct client_config : cluster::config {
  client_config() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::sample>();
  }
};

/// Outcome classes of a reply: `fail` only for definite errors.
inline checker::op_type classify(const caf::error& err) {
  if (err.category() == caf::atom("sample"))
    return checker::op_type::fail; // the aggregate's rejection
  if (err.category() == errc_category) {
    switch (static_cast<errc>(err.code())) {
    case errc::outcome_unknown:
      return checker::op_type::unknown;
    default:
      return checker::op_type::fail;
    }
  }
  return checker::op_type::unknown; // timeouts, lost connections
}

/// Client threads sending `sample::deposit` through random nodes.
struct workload {
  struct settings {
    int clients = 4;
    int aggregates = 24;
    /// Percent of acknowledged commands sent once more (same command id)
    /// through a random node.
    int resend_percent = 10;
    /// Percent of new commands replaced by a retry of an unknown one.
    int retry_percent = 50;
    std::chrono::milliseconds timeout{1500};
    unsigned seed = 1;
  };

  /// One reply as its client saw it (kept if `keep_replies` was set
  /// before `start`): the node it went through, the outcome, whether the
  /// ack was a duplicate, and when the command was sent and answered.
  struct reply_record {
    std::string via;
    checker::op_type outcome = checker::op_type::unknown;
    bool duplicate = false;
    steady_clock::time_point sent;
    steady_clock::time_point answered;
  };

  workload(history_log& log, std::vector<node_proc*> nodes, settings s)
    : log_(log), nodes_(std::move(nodes)), s_(s), sys_(cfg_) {
  }

  ~workload() {
    stop();
  }

  void start() {
    running_ = true;
    for (int k = 0; k < s_.clients; ++k)
      threads_.emplace_back([this, k] { run(k); });
  }

  void stop() {
    running_ = false;
    for (auto& t : threads_)
      t.join();
    threads_.clear();
  }

  /// Waits until `n` more commands were acknowledged; false on timeout.
  bool await_acks(std::size_t n,
                  std::chrono::seconds timeout = std::chrono::seconds{20}) {
    auto target = acks + n;
    auto deadline = steady_clock::now() + timeout;
    while (acks < target) {
      if (steady_clock::now() >= deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    return true;
  }

  /// Sends one command through node `via` and logs it; returns the
  /// outcome class.
  checker::op_type send(caf::scoped_actor& self,
                        std::map<std::string, caf::actor>& roots,
                        const std::string& client, const node_proc& via,
                        const std::string& id, const std::string& cmd) {
    auto it = roots.find(via.address());
    if (it == roots.end()) {
      auto root = sys_.middleman().remote_actor(via.host(), via.port());
      if (!root) {
        ++unreachable;
        return checker::op_type::invoke; // nothing sent
      }
      it = roots.emplace(via.address(), *root).first;
    }
    aggregate_handle<sample::account> h{sys_, it->second, s_.timeout};
    command_options opts;
    opts.command_id = cmd;
    log_.write(checker::op_type::invoke, client, id, cmd);
    auto sent = steady_clock::now();
    auto outcome = checker::op_type::unknown;
    bool duplicate = false;
    self
      ->request(it->second, s_.timeout,
                h.make(id, sample::deposit{1, client}, opts))
      .receive(
        [&](const ack& a) {
          outcome = checker::op_type::ok;
          log_.write(outcome, client, id, cmd, a.first_revision, a.revision);
          ++acks;
          if (a.duplicate)
            ++duplicate_acks;
          duplicate = a.duplicate;
        },
        [&](caf::error& err) {
          outcome = classify(err);
          log_.write(outcome, client, id, cmd);
          if (outcome == checker::op_type::fail)
            ++fails;
          else
            ++unknowns;
          if (err.category() != errc_category
              && err.category() != caf::atom("sample"))
            roots.erase(via.address()); // maybe a dead connection
        });
    if (keep_replies) {
      std::lock_guard guard{replies_mtx_};
      replies_.push_back(
        {via.name(), outcome, duplicate, sent, steady_clock::now()});
    }
    return outcome;
  }

  /// Every reply so far (see `reply_record`).
  std::vector<reply_record> replies() {
    std::lock_guard guard{replies_mtx_};
    return replies_;
  }

  /// Keep a `reply_record` of every reply (set before `start`).
  bool keep_replies = false;

  caf::actor_system& sys() {
    return sys_;
  }

  std::atomic<std::size_t> acks{0};
  std::atomic<std::size_t> duplicate_acks{0};
  std::atomic<std::size_t> fails{0};
  std::atomic<std::size_t> unknowns{0};
  std::atomic<std::size_t> unreachable{0};

private:
  void run(int k) {
    std::mt19937 rng{s_.seed * 7919 + static_cast<unsigned>(k)};
    caf::scoped_actor self{sys_};
    std::map<std::string, caf::actor> roots;
    std::deque<std::pair<std::string, std::string>> unsure; // id, cmd
    auto client = "k" + std::to_string(k);
    uint64_t n = 0;
    auto any_node
      = [&]() -> const node_proc& { return *nodes_[rng() % nodes_.size()]; };
    while (running_) {
      std::string id, cmd;
      bool retry
        = !unsure.empty() && static_cast<int>(rng() % 100) < s_.retry_percent;
      if (retry) {
        std::tie(id, cmd) = unsure.front();
        unsure.pop_front();
      } else {
        id = "acct-" + std::to_string(rng() % s_.aggregates);
        cmd = client + "-" + std::to_string(n++);
      }
      auto out = send(self, roots, client, any_node(), id, cmd);
      if (out == checker::op_type::invoke) {
        // Not sent (node down): pace the loop, keep the command.
        if (!retry)
          --n;
        else
          unsure.emplace_front(id, cmd);
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        continue;
      }
      if (out == checker::op_type::unknown && unsure.size() < 64)
        unsure.emplace_back(id, cmd);
      if (out == checker::op_type::ok
          && static_cast<int>(rng() % 100) < s_.resend_percent)
        send(self, roots, client, any_node(), id, cmd);
    }
  }

  history_log& log_;
  std::vector<node_proc*> nodes_;
  settings s_;
  client_config cfg_;
  caf::actor_system sys_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;
  std::mutex replies_mtx_;
  std::vector<reply_record> replies_;
};

/// Waits until every subscriber in `subs` has seen revision `want` of each
/// stream (per-stream order makes that "everything before it, too"; the
/// checker looks for gaps). Returns "" or what is missing after `timeout`.
inline std::string await_caught_up(history_log& log,
                                   const std::set<std::string>& subs,
                                   const std::map<std::string, revision>& want,
                                   std::chrono::seconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  std::string missing;
  while (steady_clock::now() < deadline) {
    std::map<std::string, std::map<std::string, revision>> got;
    for (auto& x : log.read().ops)
      if (x.type == checker::op_type::seen && subs.count(x.client))
        got[x.client][x.stream] = std::max(got[x.client][x.stream], x.last);
    missing.clear();
    for (auto& s : subs)
      for (auto& [stream, rev] : want)
        if (got[s][stream] < rev)
          missing += s + " saw " + stream + " up to "
                     + std::to_string(got[s][stream]) + " of "
                     + std::to_string(rev) + "\n";
    if (missing.empty())
      return missing;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return missing;
}

/// Copies the run in `tmp` (history, data directories, node stderr) to
/// `$TMPDIR/annals-<what>-kept-<pid>` for a post-mortem, and says where.
inline void keep_run(const temp_dir& tmp, const std::string& what) {
  auto dest = std::filesystem::temp_directory_path()
              / ("annals-" + what + "-kept-" + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::copy(tmp.path(), dest,
                        std::filesystem::copy_options::recursive, ec);
  std::printf("kept the run in %s\n", dest.c_str());
}

/// Opens the journals in `dirs` (the nodes stopped) and checks `log`.
inline checker::report check_cluster(history_log& log,
                                     const std::vector<node_proc*>& nodes) {
  std::vector<std::unique_ptr<journal>> stores;
  std::vector<checker::journal_source> sources;
  for (auto* n : nodes) {
    journal_options jo;
    jo.partitions = 0;
    auto j = open_lmdb_journal(n->dir(), jo);
    if (!j)
      throw std::runtime_error(n->dir() + ": " + describe(j.error()));
    stores.push_back(std::move(*j));
    sources.push_back({n->name(), stores.back().get()});
  }
  checker::options opts;
  opts.max_events_per_command = 1; // a deposit emits one event
  return checker::check(log.read(), sources, opts);
}

} // namespace annals::testing
