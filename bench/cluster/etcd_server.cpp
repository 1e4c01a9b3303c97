// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/etcd_server.hpp"

#include "cluster/base64.hpp"
#include "cluster/helpers.hpp"
#include "cluster/http_post.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <thread>

extern char** environ;

namespace cluster_bench {

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

etcd_server::etcd_server() {
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

etcd_server::~etcd_server() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

etcd_kv etcd_server::get(const std::string& key) const {
  auto kv = etcd_get(client_port_, key);
  if (!kv) {
    die("etcd did not answer a range read of " + key);
  }
  return *kv;
}

bool etcd_server::accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::vector<std::string> replicated_options(const etcd_server& etcd,
                                            uint32_t rf) {
  return {"--cluster.etcd=" + etcd.endpoint(),
          "--cluster.cluster-name=" + etcd_cluster,
          "--cluster.initial-members=3",
          "--cluster.replication-factor=" + std::to_string(rf)};
}

} // namespace cluster_bench
