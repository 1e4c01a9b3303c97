// bank -- test support: real `bank-node` processes on loopback over a real
// etcd (etcd_cluster_fixture.hpp), called over HTTP like any outside client
// would.
#pragma once

#include "await.hpp"
#include "bank/http_client.hpp"
#include "child_process.hpp"
#include "etcd_cluster_fixture.hpp"
#include "ports.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace bank::testing {

using json = nlohmann::json;

/// `j[key]` as an integer, or `otherwise` if absent or not a number (an
/// account the projection has not seen yet has `"balance": null`).
inline int64_t num(const json& j, const char* key, int64_t otherwise) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>()
                                                  : otherwise;
}

/// An HTTP answer; status 0 when the connection failed.
struct node_reply {
  int status = 0;
  json body;
};

/// One `bank-node` process; `extra` arguments are appended to its command
/// line at every start.
struct bank_node {
  std::string name;
  std::string dir;
  uint16_t cluster_port = annals::testing::free_port();
  uint16_t http_port = annals::testing::free_port();
  std::vector<std::string> extra;
  std::unique_ptr<annals::testing::child_process> proc;

  void start() {
    std::vector<std::string> argv{
      BANK_NODE_PATH,
      "--cluster.name=" + name,
      "--cluster.port=" + std::to_string(cluster_port),
      "--annals.data-dir=" + dir,
      "--annals.partitions=64",
      "--bank.http-port=" + std::to_string(http_port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<annals::testing::child_process>(argv);
    INFO(name << " did not start");
    REQUIRE(proc->await_line("READY", std::chrono::seconds{40}));
  }

  /// Sends `sig` and reaps the process. One that has not exited 20 s
  /// after a SIGTERM is SIGKILLed and the check fails (a hung shutdown
  /// must not hang the suite).
  void stop(int sig = SIGTERM) {
    proc->kill(sig);
    auto st = proc->wait_for(std::chrono::seconds{20});
    if (!st) {
      proc->kill(SIGKILL);
      proc->wait();
    }
    INFO(name << " did not exit within 20 s of signal " << sig);
    CHECK(st.has_value());
    proc.reset();
  }

  node_reply call(const std::string& method, const std::string& target,
                  const json& body = nullptr,
                  std::vector<std::pair<std::string, std::string>> headers
                  = {}) const {
    auto r = bank::http_request("127.0.0.1", http_port, method, target,
                                body.is_null() ? std::string{} : body.dump(),
                                headers);
    if (!r)
      return {0, json::object()};
    auto doc = json::parse(r->body, nullptr, false);
    return {r->status, doc.is_discarded() ? json::object() : doc};
  }
};

/// The operator token of every `bank_cluster` node (in a file only its
/// owner may read, as `bank-node` expects).
constexpr const char* operator_token = "bank-cluster-test-operator-token";

/// Three nodes over one etcd member (replication factor `rf`: 1 where
/// replication is not the point, 3 for faults), started and settled; each
/// reads the operator token from `token_file`. The nodes stop before etcd.
struct bank_cluster {
  annals::testing::temp_dir root;
  annals::testing::etcd_cluster_fixture control;
  std::string token_file = root.sub("operator-token");
  std::vector<bank_node> nodes;

  explicit bank_cluster(uint32_t rf, std::vector<std::string> extra = {})
    : control(settings(rf)) {
    std::ofstream{token_file} << operator_token << '\n';
    std::filesystem::permissions(token_file,
                                 std::filesystem::perms::owner_read
                                   | std::filesystem::perms::owner_write);
    extra.push_back("--bank.operator-token-file=" + token_file);
    for (auto& a : control.node_args())
      extra.push_back(a);
    for (int i = 0; i < 3; ++i) {
      bank_node n;
      n.name = "n" + std::to_string(i + 1);
      n.dir = root.path() + "/" + n.name;
      n.extra = extra;
      nodes.push_back(std::move(n));
    }
    for (auto& n : nodes)
      n.start();
    REQUIRE(annals::testing::await([&] { return settled(); },
                                   std::chrono::seconds{60}));
  }

  ~bank_cluster() {
    for (auto& n : nodes)
      if (n.proc)
        n.stop();
  }

  static annals::testing::etcd_cluster_fixture::settings settings(uint32_t rf) {
    annals::testing::etcd_cluster_fixture::settings s;
    s.replication_factor = rf;
    s.initial_members = 3;
    s.name = "bank";
    return s;
  }

  /// Every node answers, has settled, and sees all three members reachable.
  bool settled() {
    for (auto& n : nodes) {
      auto r = n.call("GET", "/cluster");
      if (r.status != 200 || !r.body.value("settled", false)
          || r.body["members"].size() != 3)
        return false;
      for (auto& m : r.body["members"])
        if (!m.value("reachable", false))
          return false;
    }
    return true;
  }
};

} // namespace bank::testing
