// annals -- test support: a cluster of real node processes on loopback, and
// a client that sends commands to any of them.
#pragma once

#include "annals/aggregate_handle.hpp"
#include "annals/cluster/node_config.hpp"

#include "child_process.hpp"
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
  uint32_t active = 0;
  uint32_t inbound = 0;
  uint32_t outbound = 0;
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

  /// Starts the process and waits for "READY".
  void start(const std::string& seeds = {}) {
    std::vector<std::string> argv{
      ANNALS_CLUSTER_NODE_CHILD, "--annals.data-dir=" + dir_,
      "--annals.partitions=64", "--cluster.name=" + name_,
      "--cluster.port=" + std::to_string(port_)};
    if (!seeds.empty())
      argv.push_back("--cluster.seeds=" + seeds);
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
    std::istringstream in{line->substr(7)};
    node_report r;
    int settled = 0;
    uint64_t routed = 0, forwarded = 0, unavailable = 0;
    int lease = 0;
    in >> r.version >> settled >> r.members >> r.active >> r.inbound
      >> r.outbound >> r.reachable >> routed >> forwarded >> unavailable
      >> lease;
    r.settled = settled != 0;
    r.lease_alive = lease != 0;
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

  std::vector<double> handoff_pauses() {
    REQUIRE(proc_->send_line("handoff"));
    auto line = proc_->await_line("HANDOFF", std::chrono::seconds{15});
    REQUIRE(line);
    std::istringstream in{line->substr(7)};
    std::vector<double> out;
    double x;
    while (in >> x)
      out.push_back(x);
    return out;
  }

  /// Clean stop (EOF on stdin); returns the exit status.
  int stop() {
    proc_->close_stdin();
    auto rc = proc_->wait();
    proc_.reset();
    return rc;
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

} // namespace annals::testing
