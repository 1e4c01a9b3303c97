// annals -- test support: real etcd members on loopback (free ports, data
// in a temp dir, fast Raft tuning), and a fake HTTP server for the client's
// failure paths.
#pragma once

#include "await.hpp"
#include "child_process.hpp"
#include "etcd/etcd_client.hpp"
#include "ports.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace annals::testing {

/// A cluster of `n` etcd members on loopback, started by the constructor
/// and awaited (a linearizable read succeeds on every member), killed
/// (SIGKILL) and removed with the object. With `tls`, client URLs are
/// https with `--client-cert-auth` (peers stay plain on loopback) and
/// `client_tls` is what the readiness probe uses. Members may run
/// elsewhere too (`site`: another address, a network namespace). Not
/// thread-safe.
class etcd_cluster {
public:
  /// Where a member runs: the address its client and peer URLs bind to,
  /// and words put before `etcd` on its command line (e.g. `ip netns exec
  /// NS`; the address must then be one of that namespace's).
  struct site {
    std::string host = "127.0.0.1";
    std::vector<std::string> wrapper;
  };

  struct member {
    std::string name;
    std::string host;
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    /// The command line (kept for `restart`).
    std::vector<std::string> argv;
    /// How often the member was started (names its log file).
    int starts = 0;
    /// The attempt of `init` that started it (names its data and log).
    int attempt = 1;
    std::unique_ptr<child_process> proc;
  };

  explicit etcd_cluster(size_t n = 1,
                        std::optional<tls_identity> server_tls = {},
                        std::optional<cluster::etcd::tls_files> client_tls = {})
    : client_tls_(std::move(client_tls)) {
    init(std::vector<site>(n), server_tls);
  }

  /// One plain-http member per site (`e1`, `e2`, ... in order). The
  /// calling thread must reach every site (the readiness probe).
  explicit etcd_cluster(const std::vector<site>& sites) {
    init(sites, std::nullopt);
  }

  etcd_cluster(const etcd_cluster&) = delete;
  etcd_cluster& operator=(const etcd_cluster&) = delete;

  /// `host:port` of member `i`'s client URL.
  std::string endpoint(size_t i) const {
    return members_.at(i).host + ":"
           + std::to_string(members_.at(i).client_port);
  }

  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < members_.size(); ++i)
      out.push_back(endpoint(i));
    return out;
  }

  /// A client of every member (deadline 1 s unless given).
  cluster::etcd::client make_client(std::chrono::milliseconds deadline
                                    = std::chrono::seconds{1},
                                    std::vector<std::string> eps = {}) const {
    cluster::etcd::client_config cfg;
    cfg.endpoints = eps.empty() ? endpoints() : std::move(eps);
    cfg.deadline = deadline;
    cfg.tls = client_tls_;
    auto c = cluster::etcd::client::make(std::move(cfg));
    if (!c)
      throw std::runtime_error("cannot make an etcd client");
    return std::move(*c);
  }

  /// SIGKILLs member `i` and reaps it.
  void kill(size_t i) {
    members_.at(i).proc->kill();
    members_.at(i).proc->wait();
  }

  /// Starts member `i` again (after `kill`) with the same name, data
  /// directory and ports: etcd recovers its data (keys, revisions and
  /// leases, whose expiry restarts at the TTL) and rejoins its cluster
  /// (`--initial-cluster-state` is ignored for an existing data dir). Its
  /// log goes to `<name>.<start>.log`. Does not wait: a member of a
  /// multi-member cluster answers only once a quorum runs; `await_all`.
  void restart(size_t i) {
    auto& m = members_.at(i);
    m.proc->wait();
    spawn(m);
  }

  /// Waits until every member answers a linearizable read (15 s each);
  /// throws if one does not.
  void await_all() {
    for (size_t i = 0; i < members_.size(); ++i)
      if (!await_member(i))
        throw std::runtime_error("etcd member " + members_[i].name
                                 + " did not become ready; see "
                                 + log_file(members_[i]));
  }

  /// Member `i`'s raft id (hex) and whether it leads, from `etcdctl
  /// endpoint status` (plain http only); nothing if it did not answer
  /// within a second.
  struct raft_status {
    std::string id;
    bool leader = false;
  };
  std::optional<raft_status> raft(size_t i) const {
    // "<endpoint>, <id>, <version>, <db size>, <is leader>, ..."
    auto res = run_command("/usr/bin/etcdctl --dial-timeout=1s "
                           "--command-timeout=1s --endpoints="
                           + endpoint(i) + " endpoint status 2>/dev/null");
    std::vector<std::string> fields;
    std::istringstream in{res.output};
    for (std::string f; std::getline(in, f, ',');)
      fields.push_back(f.substr(f.find_first_not_of(' ')));
    if (res.exit_code != 0 || fields.size() < 5)
      return std::nullopt;
    return raft_status{fields[1], fields[4] == "true"};
  }

  /// The member that leads, as it says itself; nothing if none does.
  std::optional<size_t> leader() const {
    for (size_t i = 0; i < members_.size(); ++i)
      if (auto s = raft(i); s && s->leader)
        return i;
    return std::nullopt;
  }

  /// Hands the leadership to member `to` (`etcdctl move-leader`, asked of
  /// the current leader); true once `to` says it leads.
  bool move_leader(size_t to) {
    auto from = leader();
    auto target = raft(to);
    if (!from || !target)
      return false;
    if (*from == to)
      return true;
    auto res
      = run_command("/usr/bin/etcdctl --dial-timeout=1s "
                    "--command-timeout=3s --endpoints="
                    + endpoint(*from) + " move-leader " + target->id + " 2>&1");
    if (res.exit_code != 0)
      return false;
    auto now = raft(to);
    return now && now->leader;
  }

  size_t size() const noexcept {
    return members_.size();
  }

  const std::string& dir() const noexcept {
    return dir_.path();
  }

private:
  /// Starts the members and awaits them. A member whose port another test
  /// took between `free_port` and its bind (ctest runs tests in parallel)
  /// exits at once and never becomes ready: then the whole cluster starts
  /// again, on new ports and in new data directories (3 attempts).
  void init(const std::vector<site>& sites,
            const std::optional<tls_identity>& server_tls) {
    for (int attempt = 1;; ++attempt) {
      start(sites, server_tls, attempt);
      std::optional<size_t> unready;
      for (size_t i = 0; i < members_.size() && !unready; ++i)
        if (!await_member(i))
          unready = i;
      if (!unready)
        return;
      if (attempt == 3)
        throw std::runtime_error("etcd member " + members_[*unready].name
                                 + " did not become ready; see "
                                 + log_file(members_[*unready]));
      members_.clear(); // SIGKILLs every member
    }
  }

  void start(const std::vector<site>& sites,
             const std::optional<tls_identity>& server_tls, int attempt) {
    std::string scheme = server_tls ? "https" : "http";
    std::string initial;
    for (size_t i = 0; i < sites.size(); ++i) {
      member m;
      m.name = "e" + std::to_string(i + 1);
      m.attempt = attempt;
      m.host = sites[i].host;
      m.client_port = free_port();
      m.peer_port = free_port();
      if (!initial.empty())
        initial += ",";
      initial
        += m.name + "=http://" + m.host + ":" + std::to_string(m.peer_port);
      m.argv = sites[i].wrapper;
      members_.push_back(std::move(m));
    }
    for (auto& m : members_) {
      auto client_url
        = scheme + "://" + m.host + ":" + std::to_string(m.client_port);
      auto peer_url = "http://" + m.host + ":" + std::to_string(m.peer_port);
      for (auto arg : {std::string{"/usr/bin/etcd"},
                       std::string{"--name"},
                       m.name,
                       std::string{"--data-dir"},
                       dir_.sub(base_name(m)),
                       std::string{"--listen-client-urls"},
                       client_url,
                       std::string{"--advertise-client-urls"},
                       client_url,
                       std::string{"--listen-peer-urls"},
                       peer_url,
                       std::string{"--initial-advertise-peer-urls"},
                       peer_url,
                       std::string{"--initial-cluster"},
                       initial,
                       std::string{"--initial-cluster-state"},
                       std::string{"new"},
                       std::string{"--initial-cluster-token"},
                       "annals-test-" + dir_.path(),
                       std::string{"--heartbeat-interval"},
                       std::string{"50"},
                       std::string{"--election-timeout"},
                       std::string{"500"}})
        m.argv.push_back(std::move(arg));
      if (server_tls) {
        for (auto arg :
             {"--cert-file", server_tls->certificate.c_str(), "--key-file",
              server_tls->key.c_str(), "--trusted-ca-file",
              server_tls->cafile.c_str(), "--client-cert-auth"})
          m.argv.emplace_back(arg);
      }
      spawn(m);
    }
  }

  /// The member's data directory and log name (`e1`, or `e1.try2` for a
  /// later attempt of `init`).
  static std::string base_name(const member& m) {
    return m.attempt <= 1 ? m.name
                          : m.name + ".try" + std::to_string(m.attempt);
  }

  std::string log_file(const member& m) const {
    return dir_.sub(m.starts <= 1
                      ? base_name(m) + ".log"
                      : base_name(m) + "." + std::to_string(m.starts) + ".log");
  }

  void spawn(member& m) {
    ++m.starts;
    m.proc = std::make_unique<child_process>(m.argv, false, log_file(m));
  }

  bool await_member(size_t i) {
    auto c = make_client(std::chrono::milliseconds{200}, {endpoint(i)});
    return await([&] { return static_cast<bool>(c.get("annals-ready")); },
                 std::chrono::seconds{15});
  }

  temp_dir dir_;
  std::optional<cluster::etcd::tls_files> client_tls_;
  std::vector<member> members_;
};

/// A loopback TCP server on its own thread that answers every connection
/// with `reply` (raw bytes, sent after the request's header and body
/// arrived) and then closes it; with an empty `reply` it accepts and never
/// answers (a hung endpoint). `close_at_once` closes each connection as
/// soon as the request arrived. Stops with the object.
class fake_http_server {
public:
  explicit fake_http_server(std::string reply, bool close_at_once = false)
    : reply_(std::move(reply)), close_at_once_(close_at_once) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
        || ::listen(fd_, 16) != 0)
      throw std::runtime_error("fake server: cannot listen");
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (::pipe2(wake_, O_CLOEXEC) != 0)
      throw std::runtime_error("fake server: pipe failed");
    thread_ = std::thread{[this] { serve(); }};
  }

  fake_http_server(const fake_http_server&) = delete;
  fake_http_server& operator=(const fake_http_server&) = delete;

  ~fake_http_server() {
    char c = 'x';
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    thread_.join();
    for (int fd : open_)
      ::close(fd);
    ::close(fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(port_);
  }

  /// Connections accepted so far.
  int accepted() const noexcept {
    return accepted_.load();
  }

private:
  void serve() {
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0)
        continue;
      if (fds[1].revents != 0)
        return;
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0)
        continue;
      ++accepted_;
      if (reply_.empty() && !close_at_once_) {
        open_.push_back(conn); // never answered
        continue;
      }
      read_request(conn);
      if (!close_at_once_) {
        [[maybe_unused]] auto n
          = ::send(conn, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      }
      ::close(conn);
    }
  }

  /// Reads the header and a Content-Length body (the client sends one).
  static void read_request(int conn) {
    std::string in;
    char buf[4096];
    for (;;) {
      auto end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto cl = in.find("Content-Length: ");
        size_t body = 0;
        if (cl != std::string::npos && cl < end)
          body = std::stoul(in.substr(cl + 16));
        if (in.size() >= end + 4 + body)
          return;
      }
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0)
        return;
      auto n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<size_t>(n));
    }
  }

  std::string reply_;
  bool close_at_once_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::vector<int> open_;
  std::thread thread_;
};

/// An HTTP/1.1 response with `status` and a JSON `body` (Content-Length).
inline std::string http_response(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status)
         + " X\r\nContent-Type: application/json\r\nContent-Length: "
         + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace annals::testing
