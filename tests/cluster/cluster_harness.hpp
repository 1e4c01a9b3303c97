// annals -- test support: a cluster of real node processes on loopback over
// etcd (etcd_cluster_fixture.hpp), and a client that sends commands to any
// of them.
#pragma once

#include "annals/aggregate_handle.hpp"
#include "annals/cluster/node_config.hpp"
#include "annals/errc.hpp"
#include "annals/render.hpp"

#include "child_process.hpp"
#include "etcd_cluster_fixture.hpp"
#include "ports.hpp"
#include "sample_account.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace annals::testing {

/// What a node process reports on "status".
struct node_report {
  uint64_t version = 0;
  bool settled = false;
  std::size_t members = 0;
  /// Partitions this node serves (leads) now.
  uint32_t active = 0;
  std::size_t reachable = 0;
  /// Replicated mode: the node's etcd lease is confirmed.
  bool lease_alive = false;
};

/// One node process (tests/cluster/cluster_node_child.cpp).
class node_process {
public:
  node_process(std::string name, std::string dir, uint16_t port,
               std::vector<std::string> extra = {})
    : name_(std::move(name)), dir_(std::move(dir)), port_(port),
      extra_(std::move(extra)) {
  }

  /// Starts the process and waits for "READY". Without etcd options in
  /// `extra` the node is a standalone node.
  void start() {
    std::vector<std::string> argv{
      ANNALS_CLUSTER_NODE_CHILD, "--annals.data-dir=" + dir_,
      "--annals.partitions=64", "--cluster.name=" + name_,
      "--cluster.port=" + std::to_string(port_)};
    for (auto& x : extra_)
      argv.push_back(x);
    proc_ = std::make_unique<child_process>(argv, true);
    auto ready = proc_->await_line("READY", std::chrono::seconds{40});
    INFO("node " << name_ << " did not start");
    REQUIRE(ready);
  }

  node_report status() {
    REQUIRE(proc_->send_line("status"));
    auto line = proc_->await_line("STATUS", std::chrono::seconds{15});
    REQUIRE(line);
    // "<version> <settled> <members> <active> ... <reachable> <routed>
    // <forwarded> <unavailable> <lease alive>": read from both ends, so
    // that counters between the two groups may come and go.
    std::istringstream in{line->substr(7)};
    std::vector<uint64_t> f;
    for (uint64_t x; in >> x;)
      f.push_back(x);
    INFO("status line: " << *line);
    REQUIRE(f.size() >= 9);
    node_report r;
    r.version = f[0];
    r.settled = f[1] != 0;
    r.members = f[2];
    r.active = static_cast<uint32_t>(f[3]);
    r.reachable = f[f.size() - 5];
    r.lease_alive = f[f.size() - 1] != 0;
    return r;
  }

  /// Graceful leave; true once the cluster took over its partitions.
  std::string leave() {
    REQUIRE(proc_->send_line("leave"));
    auto line = proc_->await_line("LEFT", std::chrono::seconds{60});
    REQUIRE(line);
    return line->substr(5);
  }

  /// Replicated mode: the node's replica lines (`replicas` command).
  std::vector<std::string> replicas() {
    REQUIRE(proc_->send_line("replicas"));
    std::vector<std::string> out;
    for (;;) {
      auto line = proc_->await_line("REPLICA", std::chrono::seconds{15});
      REQUIRE(line);
      if (*line == "REPLICAS END")
        return out;
      out.push_back(line->substr(8));
    }
  }

  /// Clean stop (EOF on stdin); returns the wait status (0: exit code 0).
  /// A node that has not exited after `timeout` is SIGKILLed and -1
  /// returned, so that a hung shutdown fails the test instead of hanging it.
  int stop(std::chrono::seconds timeout = std::chrono::seconds{20}) {
    proc_->close_stdin();
    auto st = proc_->wait_for(timeout);
    if (!st) {
      WARN("node " << name_ << " did not stop within " << timeout.count()
                   << " s; SIGKILLed");
      proc_->kill(SIGKILL);
      proc_->wait();
    }
    proc_.reset();
    return st ? *st : -1;
  }

  void kill(int sig = SIGKILL) {
    proc_->kill(sig);
    if (sig == SIGKILL) {
      proc_->wait();
      proc_.reset();
    }
  }

  const std::string& name() const {
    return name_;
  }

  /// The process id (0 when not running).
  pid_t pid() const {
    return proc_ ? proc_->pid() : 0;
  }

  uint16_t port() const {
    return port_;
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(port_);
  }

private:
  std::string name_;
  std::string dir_;
  uint16_t port_;
  std::vector<std::string> extra_;
  std::unique_ptr<child_process> proc_;
};

/// Waits until `nodes` all report the same settled view of `members`.
inline void await_settled(std::vector<node_process*> nodes, std::size_t members,
                          std::chrono::seconds timeout
                          = std::chrono::seconds{60}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool ok = true;
    uint64_t version = 0;
    for (auto* n : nodes) {
      auto r = n->status();
      if (!r.settled || r.members != members || r.reachable != members
          || (version != 0 && r.version != version))
        ok = false;
      version = r.version;
    }
    if (ok)
      return;
    INFO("the cluster did not settle");
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

/// A cluster of node processes over one etcd member: `control.cfg.
/// initial_members` nodes n1, n2, ... (data under `root`), started and
/// settled by the constructor; `add` makes more (not started: a join).
/// `node_extra(name)` gives a node's own options (e.g. its certificate).
/// The nodes are SIGKILLed before etcd when the object goes.
struct etcd_nodes {
  using extra_fn = std::function<std::vector<std::string>(const std::string&)>;

  temp_dir root;
  etcd_cluster_fixture control;
  extra_fn node_extra;
  std::vector<std::unique_ptr<node_process>> nodes;

  explicit etcd_nodes(etcd_cluster_fixture::settings s, extra_fn extra = {})
    : control(std::move(s)), node_extra(std::move(extra)) {
    for (uint32_t i = 1; i <= control.cfg.initial_members; ++i)
      add("n" + std::to_string(i));
    for (auto& n : nodes)
      n->start();
    await_settled(all(), nodes.size());
  }

  /// A new node `name` of this cluster (not started).
  node_process& add(const std::string& name) {
    auto args = control.node_args();
    if (node_extra)
      for (auto& a : node_extra(name))
        args.push_back(std::move(a));
    nodes.push_back(
      std::make_unique<node_process>(name, root.sub(name), free_port(), args));
    return *nodes.back();
  }

  /// Node `i` (0-based, in the order made).
  node_process& operator[](std::size_t i) {
    return *nodes.at(i);
  }

  std::vector<node_process*> all() {
    std::vector<node_process*> out;
    for (auto& n : nodes)
      out.push_back(n.get());
    return out;
  }

  /// The node called `name`, or nullptr.
  node_process* find(const std::string& name) {
    for (auto& n : nodes)
      if (n->name() == name)
        return n.get();
    return nullptr;
  }
};

/// The test's own actor system: a client of the cluster (not a member).
struct client_config : cluster::config {
  client_config() {
    set("scheduler.max-threads", 2);
    add_message_types<caf::id_block::sample>();
  }

  /// A TLS client presenting `id` (empty fields stay unset: an identity
  /// with no field set makes CAF's openssl module speak anonymous TLS).
  explicit client_config(const tls_identity& id) : client_config() {
    if (!id.certificate.empty())
      set("openssl.certificate", id.certificate);
    if (!id.key.empty())
      set("openssl.key", id.key);
    if (!id.cafile.empty())
      set("openssl.cafile", id.cafile);
  }
};

class cluster_client {
public:
  /// A plain BASP client.
  cluster_client() : sys_(cfg_) {
  }

  /// A client connecting through CAF's openssl module with identity `id`.
  explicit cluster_client(const tls_identity& id)
    : cfg_(id), tls_(true), sys_(cfg_) {
  }

  /// Connects to the node actor at `port` (plain or TLS, as constructed)
  /// through the middleman actor, so that a refused or stalled handshake
  /// fails after `timeout` instead of blocking forever (`remote_actor`
  /// waits without a timeout).
  caf::expected<caf::actor> connect(uint16_t port, caf::timespan timeout
                                                   = std::chrono::seconds{10}) {
    auto mm
      = tls_
          ? caf::actor_cast<caf::actor>(sys_.openssl_manager().actor_handle())
          : caf::actor_cast<caf::actor>(sys_.middleman().actor_handle());
    caf::scoped_actor self{sys_};
    caf::expected<caf::actor> out{caf::error{}};
    self
      ->request(mm, timeout, caf::connect_atom::value, std::string{"127.0.0.1"},
                port)
      .receive(
        [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
            const std::set<std::string>&) {
          if (ptr)
            out = caf::actor_cast<caf::actor>(ptr);
          else
            out = caf::make_error(caf::sec::no_actor_published_at_port);
        },
        [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// A handle to `sample::account` through the node at `port`.
  aggregate_handle<sample::account> accounts(uint16_t port) {
    auto it = roots_.find(port);
    if (it == roots_.end()) {
      auto root = tls_ ? caf::openssl::remote_actor(sys_, "127.0.0.1", port)
                       : sys_.middleman().remote_actor("127.0.0.1", port);
      INFO("cannot connect to port " << port);
      REQUIRE(root);
      it = roots_.emplace(port, *root).first;
    }
    return aggregate_handle<sample::account>{sys_, it->second,
                                             std::chrono::seconds{10}};
  }

  /// Forgets the connection to `port` (after its node died).
  void forget(uint16_t port) {
    roots_.erase(port);
  }

  caf::actor_system& system() {
    return sys_;
  }

private:
  client_config cfg_;
  bool tls_ = false;
  caf::actor_system sys_;
  std::map<uint16_t, caf::actor> roots_;
};

/// The account the tests call number `i`.
inline std::string id_of(int i) {
  return "acct-" + std::to_string(i);
}

/// Sends `cmd` with command id `id` until it is acknowledged: a retry
/// after `unavailable` or `outcome_unknown` is safe with the same id.
template <class Cmd>
caf::expected<ack>
deposit_until(aggregate_handle<sample::account> h, const std::string& account,
              Cmd cmd, const std::string& id,
              std::chrono::seconds limit = std::chrono::seconds{20}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto res = h.ask(account, cmd, command_options{id, {}, {}, {}});
    if (res || std::chrono::steady_clock::now() > deadline
        || !(is(res.error(), errc::unavailable)
             || is(res.error(), errc::outcome_unknown)))
      return res;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Deposits `amount(i)` into accounts 0..count-1 through `h` (command ids
/// `<tag>-<i>`, retried as `deposit_until` does) and adds them to `expected`.
template <class Amount>
void deposit_all(aggregate_handle<sample::account> h, int count, Amount amount,
                 const std::string& tag,
                 std::map<std::string, int64_t>& expected,
                 std::chrono::seconds limit = std::chrono::seconds{20}) {
  for (int i = 0; i < count; ++i) {
    auto ack = deposit_until(h, id_of(i), sample::deposit{amount(i), ""},
                             tag + "-" + std::to_string(i), limit);
    INFO(id_of(i) << ": " << (ack ? "" : render(ack.error())));
    REQUIRE(ack);
    expected[id_of(i)] += amount(i);
  }
}

/// Every account's balance, read through each of `entries`, is its
/// expected one. A read refused as unavailable (or of unknown outcome) is
/// repeated for up to `patience`.
inline void check_balances(cluster_client& client,
                           const std::vector<node_process*>& entries,
                           const std::map<std::string, int64_t>& expected,
                           std::chrono::seconds patience) {
  for (auto* entry : entries) {
    auto h = client.accounts(entry->port());
    for (const auto& [id, want] : expected) {
      auto deadline = std::chrono::steady_clock::now() + patience;
      caf::expected<int64_t> bal = h.ask(id, sample::get_balance{});
      while (!bal
             && (is(bal.error(), errc::unavailable)
                 || is(bal.error(), errc::outcome_unknown))
             && std::chrono::steady_clock::now() < deadline)
        bal = h.ask(id, sample::get_balance{});
      INFO(entry->name() << " " << id << ": "
                         << (bal ? "" : render(bal.error())));
      REQUIRE(bal);
      CHECK(*bal == want);
    }
  }
}

} // namespace annals::testing
