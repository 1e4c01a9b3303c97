// annals -- multi-process cluster tests with mutual TLS between nodes (CAF's
// openssl module): who gets in, who is refused, and where the port listens.
// Certificates are made at run time by the openssl CLI (test_certs.hpp).
#include "annals/render.hpp"

#include "cluster_harness.hpp"

#include <fcntl.h>
#include <poll.h>

#include <arpa/inet.h>
#include <fstream>

using namespace annals;
using namespace annals::testing;

namespace {

using clock_type = std::chrono::steady_clock;

/// A cluster CA with an identity per node and for the test's client, plus
/// a foreign CA that nobody trusts.
struct tls_env {
  temp_dir root;
  test_ca ca{root.path(), "cluster"};
  test_ca foreign{root.path(), "foreign"};

  /// The node options for identity `id`.
  static std::vector<std::string> node_args(const tls_identity& id) {
    return {"--cluster.tls", "--openssl.certificate=" + id.certificate,
            "--openssl.key=" + id.key, "--openssl.cafile=" + id.cafile};
  }

  node_process make_node(const std::string& name) {
    return node_process{name, root.sub(name), free_port(),
                        node_args(ca.issue(name))};
  }
};

/// VmRSS of `pid` in KiB (0 if unreadable).
long rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

/// Connects a plain TCP socket from `from` to `to`:`port`; -1 on failure
/// (errno set).
int tcp_connect(const char* from, const char* to, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  ::inet_pton(AF_INET, to, &remote.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0
      || ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote)
           != 0) {
    auto err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/// Waits up to `timeout` until the peer closes `fd` (EOF or reset); drains
/// whatever it sends before (a TLS alert). True if it closed.
bool await_closed(int fd, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0)
      return false;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[256];
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      return true;
  }
}

/// The listening sockets on `port` in /proc/net/tcp{,6}: "addr" as the
/// kernel prints it (hex, host byte order for IPv4).
std::vector<std::string> listeners(uint16_t port) {
  std::vector<std::string> out;
  for (auto file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in{file};
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
      std::istringstream fields{line};
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (state != "0A" || colon == std::string::npos)
        continue; // not LISTEN
      if (std::stoul(local.substr(colon + 1), nullptr, 16) == port)
        out.push_back(local.substr(0, colon));
    }
  }
  return out;
}

/// One deposit through the node at `port` succeeds.
void check_serves(cluster_client& client, uint16_t port,
                  const std::string& id) {
  auto ack = client.accounts(port).ask(id, sample::deposit{1, "probe"});
  INFO("deposit through port " << port << ": "
                               << (ack ? "ok" : render(ack.error())));
  CHECK(ack);
}

} // namespace

TEST_CASE("TLS: nodes form a cluster over mutual TLS and route commands from "
          "a TLS client",
          "[cluster][tls]") {
  // Three nodes over etcd, one replica per partition. A node with
  // `--cluster.tls` speaks TLS to etcd too, with its own identity: etcd
  // gets one of the same CA.
  tls_env env;
  etcd_cluster_fixture::settings rf1;
  rf1.replication_factor = 1;
  rf1.initial_members = 3;
  rf1.server_tls = env.ca.issue("etcd");
  auto probe = env.ca.issue("etcd-probe");
  rf1.client_tls
    = cluster::etcd::tls_files{probe.cafile, probe.certificate, probe.key};
  etcd_nodes c{rf1, [&](const std::string& name) {
                 return tls_env::node_args(env.ca.issue(name));
               }};
  cluster_client client{env.ca.issue("client")};
  auto nodes = c.all();
  // Every node leads some partitions: commands cross the TLS links.
  for (auto* n : nodes)
    CHECK(n->status().active > 0);
  for (int i = 0; i < 12; ++i) {
    auto ack = client.accounts(nodes[i % 3]->port())
                 .ask(id_of(i), sample::deposit{100 + i, "tls"});
    INFO(i << ": " << (ack ? "" : render(ack.error())));
    REQUIRE(ack);
    CHECK(ack->revision == 1);
  }
  // Every node sees every balance: routing between nodes works over TLS.
  for (auto* n : nodes)
    for (int i = 0; i < 12; ++i) {
      auto bal
        = client.accounts(n->port()).ask(id_of(i), sample::get_balance{});
      INFO(n->name() << " " << id_of(i));
      REQUIRE(bal);
      CHECK(*bal == 100 + i);
    }
  for (auto* n : nodes)
    CHECK(n->stop() == 0);
}

TEST_CASE("TLS: a plain BASP client is refused at once and the node keeps "
          "serving",
          "[cluster][tls]") {
  tls_env env;
  auto n1 = env.make_node("n1");
  n1.start();
  // An established TLS client before and after the refusal: a failed
  // handshake must not disturb other connections (tls_error_queue.cpp).
  cluster_client client{env.ca.issue("client")};
  check_serves(client, n1.port(), "acct-1");
  {
    cluster_client plain;
    auto t0 = clock_type::now();
    auto root = plain.connect(n1.port(), std::chrono::seconds{5});
    auto took = clock_type::now() - t0;
    REQUIRE_FALSE(root);
    INFO(render(root.error()));
    CHECK(root.error() == caf::sec::disconnect_during_handshake);
    CHECK(took < std::chrono::seconds{2});
  }
  check_serves(client, n1.port(), "acct-1");
  CHECK(n1.stop() == 0);
}

TEST_CASE("TLS: clients with a certificate of another CA or with none are "
          "refused",
          "[cluster][tls]") {
  tls_env env;
  auto n1 = env.make_node("n1");
  n1.start();
  cluster_client client{env.ca.issue("client")};
  check_serves(client, n1.port(), "acct-2");
  auto refused = [&](const tls_identity& id) {
    cluster_client rogue{id};
    auto t0 = clock_type::now();
    auto root = rogue.connect(n1.port(), std::chrono::seconds{5});
    auto took = clock_type::now() - t0;
    REQUIRE_FALSE(root);
    INFO(render(root.error()));
    CHECK(root.error() == caf::sec::disconnect_during_handshake);
    CHECK(took < std::chrono::seconds{2});
  };
  SECTION("a certificate signed by a foreign CA") {
    // It trusts the cluster CA, so only the node's check can refuse it.
    refused(env.foreign.issue("intruder", env.ca.cafile()));
  }
  SECTION("no certificate (CAF then speaks anonymous TLS)") {
    refused(tls_identity{});
  }
  check_serves(client, n1.port(), "acct-2");
  CHECK(n1.stop() == 0);
}

TEST_CASE("TLS: garbage on the cluster port closes the connection without a "
          "large allocation",
          "[cluster][tls]") {
  tls_env env;
  auto n1 = env.make_node("n1");
  n1.start();
  cluster_client client{env.ca.issue("client")};
  check_serves(client, n1.port(), "acct-3");
  auto rss_before = rss_kib(n1.pid());
  REQUIRE(rss_before > 0);
  // A BASP client_handshake header announcing a 4 GiB payload: on plain
  // BASP this makes CAF 0.17.6 allocate the payload (reliability.md 6.5);
  // the TLS layer must reject it as a broken record. Then plain junk.
  const unsigned char bomb[32] = {0x01, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
  const std::string junk(4096, 'x');
  for (int i = 0; i < 20; ++i) {
    int fd = tcp_connect("127.0.0.1", "127.0.0.1", n1.port());
    REQUIRE(fd >= 0);
    if (i % 2 == 0)
      CHECK(::write(fd, bomb, sizeof bomb) == sizeof bomb);
    else
      CHECK(::write(fd, junk.data(), junk.size())
            == static_cast<ssize_t>(junk.size()));
    CHECK(await_closed(fd, std::chrono::seconds{5}));
    ::close(fd);
  }
  auto rss_after = rss_kib(n1.pid());
  INFO("VmRSS " << rss_before << " KiB -> " << rss_after << " KiB");
  CHECK(rss_after - rss_before < 100 * 1024);
  check_serves(client, n1.port(), "acct-3");
  CHECK(n1.stop() == 0);
}

TEST_CASE("TLS: a node with an incomplete or broken TLS setup refuses to "
          "start and says why",
          "[cluster][tls]") {
  tls_env env;
  auto n1 = env.ca.issue("n1");
  auto n2 = env.ca.issue("n2");
  struct setup {
    std::vector<std::string> args;
    std::string expected; // in stderr
  };
  std::vector<setup> setups{
    {{"--cluster.tls", "--openssl.certificate=" + n1.certificate,
      "--openssl.cafile=" + n1.cafile},
     "openssl.key"},
    {{"--cluster.tls"}, "openssl.certificate, openssl.key, openssl.cafile"},
    {{"--cluster.tls", "--openssl.certificate=" + n1.certificate,
      "--openssl.key=" + env.root.sub("absent.key"),
      "--openssl.cafile=" + n1.cafile},
     "cannot read openssl.key="},
    // A key that does not belong to the certificate: only OpenSSL notices.
    {{"--cluster.tls", "--openssl.certificate=" + n1.certificate,
      "--openssl.key=" + n2.key, "--openssl.cafile=" + n1.cafile},
     "cannot load private key"},
    // No TLS on an address other hosts reach, without --cluster.insecure.
    {{"--cluster.host=0.0.0.0"}, "without --cluster.tls"},
  };
  for (std::size_t i = 0; i < setups.size(); ++i) {
    std::vector<std::string> argv{
      ANNALS_CLUSTER_NODE_CHILD,
      "--annals.data-dir=" + env.root.sub("d" + std::to_string(i)),
      "--cluster.name=n1", "--cluster.port=" + std::to_string(free_port())};
    for (auto& a : setups[i].args)
      argv.push_back(a);
    auto err_file = env.root.sub("stderr-" + std::to_string(i));
    child_process proc{argv, true, err_file};
    auto status = proc.wait_for(std::chrono::seconds{20});
    std::ifstream in{err_file};
    std::string err{std::istreambuf_iterator<char>{in}, {}};
    INFO("setup " << i << ", stderr: " << err);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) != 0);
    CHECK(err.find(setups[i].expected) != std::string::npos);
  }
}

TEST_CASE("TLS: the cluster port listens only on the configured address",
          "[cluster][tls]") {
  tls_env env;
  auto args = tls_env::node_args(env.ca.issue("n1"));
  args.push_back("--cluster.host=127.0.0.1");
  node_process n1{"n1", env.root.sub("n1"), free_port(), args};
  n1.start();
  // Exactly one listener on the port, bound to 127.0.0.1 (0100007F).
  auto found = listeners(n1.port());
  CHECK(found == std::vector<std::string>{"0100007F"});
  // Another loopback address reaches the host, but nothing listens there.
  int fd = tcp_connect("127.0.0.2", "127.0.0.2", n1.port());
  auto err = errno;
  CHECK(fd < 0);
  CHECK(err == ECONNREFUSED);
  if (fd >= 0)
    ::close(fd);
  // ... while the configured address accepts.
  fd = tcp_connect("127.0.0.1", "127.0.0.1", n1.port());
  CHECK(fd >= 0);
  if (fd >= 0)
    ::close(fd);
  CHECK(n1.stop() == 0);
}
