// bank-demo -- the main job: the bank on a local 3-node annals cluster
// whose partitions are replicated three times, driven through its HTTP API
// and narrated.
//
// Usage: bank-demo [--data=DIR] [--exit] [--keep]
// Starts a one-member etcd (the control plane, /usr/bin/etcd) and three
// `bank-node` processes (found next to this binary) with their data under
// DIR (default ./demo-data, wiped first unless --keep), waits until every
// partition has its leader and replicas, runs a short scripted workload --
// credits, withdrawals, a rejected overdraft, transfers, the balance
// projection catching up, load through every node -- then the faults: a
// node SIGKILLed (its partitions fail over and its accounts keep
// answering), restarted (it catches up), and a node whose data directory
// is wiped (it rebuilds its replicas from the others), with every
// acknowledged cent checked. Then it keeps serving until Ctrl-C (or exits
// at once with --exit). Exit status 0 only if every check of the story
// held.
#include "annals/persistence/stream.hpp"

#include "bank/http_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// `j[key]` as an integer, or `otherwise` if absent or not a number (an
/// account the projection has not seen yet has `"balance": null`).
int64_t num(const json& j, const char* key, int64_t otherwise) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>()
                                                  : otherwise;
}

int failures = 0;

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

constexpr int steps = 10;

void step(int n, const std::string& title) {
  std::printf("\n[%d/%d] %s\n", n, steps, title.c_str());
  std::fflush(stdout);
}

void check(bool ok, const std::string& what) {
  say(std::string{ok ? "      ok   " : "      FAIL "} + what);
  if (!ok)
    ++failures;
}

std::string money(int64_t c) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld", c < 0 ? "-" : "",
                static_cast<long long>((c < 0 ? -c : c) / 100),
                static_cast<long long>((c < 0 ? -c : c) % 100));
  return buf;
}

void progress(const std::string& label, int done, int total) {
  int width = 30;
  int filled = total > 0 ? done * width / total : width;
  std::printf(
    "\r      %s [%s%s] %d/%d", label.c_str(),
    std::string(static_cast<std::size_t>(filled), '#').c_str(),
    std::string(static_cast<std::size_t>(width - filled), '.').c_str(), done,
    total);
  if (done == total)
    std::printf("\n");
  std::fflush(stdout);
}

bool port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

uint16_t any_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// One bank-node process.
struct node_proc {
  std::string name;
  uint16_t cluster_port = 0;
  uint16_t http_port = 0;
  std::string dir;
  pid_t pid = 0;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(http_port);
  }
};

std::string node_binary;

/// The control plane: one etcd member on loopback.
struct etcd_proc {
  uint16_t client_port = 0;
  uint16_t peer_port = 0;
  std::string dir;
  pid_t pid = 0;

  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(client_port);
  }
};

/// Starts etcd and waits until it answers a read (30 s).
bool start(etcd_proc& e) {
  auto client = "http://" + e.endpoint();
  auto peer = "http://127.0.0.1:" + std::to_string(e.peer_port);
  std::vector<std::string> args{"/usr/bin/etcd",
                                "--name=demo",
                                "--data-dir=" + e.dir,
                                "--listen-client-urls=" + client,
                                "--advertise-client-urls=" + client,
                                "--listen-peer-urls=" + peer,
                                "--initial-advertise-peer-urls=" + peer,
                                "--initial-cluster=demo=" + peer,
                                "--heartbeat-interval=50",
                                "--election-timeout=500"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto log_path = e.dir + ".log";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  auto rc = posix_spawn(&e.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    say("      cannot start /usr/bin/etcd (Debian package etcd-server)");
    e.pid = 0;
    return false;
  }
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = bank::http_request("127.0.0.1", e.client_port, "POST",
                                "/v3/kv/range", R"({"key":"YQ=="})");
    if (r && r->status == 200)
      return true;
    std::this_thread::sleep_for(100ms);
  }
  say("      etcd did not start; see " + log_path);
  return false;
}

std::vector<std::string> replicated_args;

/// Starts `n` with `replicated_args` (it registers in etcd, which tells
/// it the other members) and waits for its READY line.
bool start(node_proc& n) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return false;
  auto log_path = n.dir + ".log";
  std::vector<std::string> args{
    node_binary, "--cluster.name=" + n.name,
    "--cluster.port=" + std::to_string(n.cluster_port),
    "--annals.data-dir=" + n.dir,
    "--bank.http-port=" + std::to_string(n.http_port)};
  args.insert(args.end(), replicated_args.begin(), replicated_args.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  auto rc = posix_spawn(&n.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    say("      cannot start " + node_binary);
    return false;
  }
  // Wait for "READY" (the node joined and serves HTTP).
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0)
      continue;
    char chunk[256];
    auto got = ::read(fds[0], chunk, sizeof chunk);
    if (got <= 0)
      break;
    buf.append(chunk, static_cast<std::size_t>(got));
    ready = buf.find("READY") != std::string::npos;
  }
  ::close(fds[0]);
  if (!ready)
    say("      " + n.name + " did not start; see " + log_path);
  return ready;
}

void stop(node_proc& n, int sig = SIGTERM) {
  if (n.pid <= 0)
    return;
  ::kill(n.pid, sig);
  ::waitpid(n.pid, nullptr, 0);
  n.pid = 0;
}

struct reply {
  int status = 0;
  json body;
};

reply call(const node_proc& n, const std::string& method,
           const std::string& target, const json& body = nullptr) {
  auto r = bank::http_request("127.0.0.1", n.http_port, method, target,
                              body.is_null() ? std::string{} : body.dump());
  if (!r)
    return {0, json{{"error", "transport"}, {"message", "no answer"}}};
  // A node's JSON is always an object; anything else reads as empty.
  auto doc = json::parse(r->body, nullptr, false);
  return {r->status,
          doc.is_discarded() || !doc.is_object() ? json::object() : doc};
}

int64_t balance_of(const node_proc& n, const std::string& id) {
  auto r = call(n, "GET", "/accounts/" + id);
  return r.status == 200 ? r.body.value("balance", int64_t{0}) : INT64_MIN;
}

/// Polls `pred` every 20 ms until it holds or `limit` passes.
template <class F>
bool await(F pred, std::chrono::milliseconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

bool settled(std::vector<node_proc>& nodes) {
  for (auto& n : nodes) {
    auto r = call(n, "GET", "/cluster");
    if (r.status != 200 || !r.body.value("settled", false)
        || r.body["members"].size() != nodes.size())
      return false;
    for (auto& m : r.body["members"])
      if (!m.value("reachable", false))
        return false;
  }
  return true;
}

json cluster_of(const node_proc& n) {
  auto r = call(n, "GET", "/cluster");
  return r.status == 200 ? r.body : json::object();
}

/// Settled, and every node holds a voting replica of every partition.
bool replicated_ready(std::vector<node_proc>& nodes) {
  if (!settled(nodes))
    return false;
  for (auto& n : nodes) {
    auto c = cluster_of(n);
    auto reps = c["this_node"].value("replicas", json::object());
    if (c.value("mode", "") != "replicated"
        || reps.value("held", 0u) != c["partitions"].size()
        || reps.value("learners", 1) != 0)
      return false;
  }
  return true;
}

/// Every partition ends at the same position in `n`'s journal as in
/// `ref`'s (both quiet): `n` caught up.
bool caught_up(const node_proc& n, const node_proc& ref, uint64_t* events) {
  auto a = cluster_of(n)["partitions"], b = cluster_of(ref)["partitions"];
  if (!a.is_array() || a.size() != b.size() || a.empty())
    return false;
  uint64_t total = 0;
  for (std::size_t p = 0; p < a.size(); ++p) {
    auto ea = a[p].value("replica", json::object()).value("end", uint64_t{0});
    auto eb = b[p].value("replica", json::object()).value("end", ~uint64_t{0});
    if (ea != eb)
      return false;
    total += ea;
  }
  if (events)
    *events = total;
  return true;
}

std::string owner_of(node_proc& n, const std::string& id) {
  auto r = call(n, "GET", "/cluster");
  if (r.status != 200)
    return "?";
  auto parts = static_cast<uint32_t>(r.body["partitions"].size());
  auto p = annals::partition_of(annals::stream_id{"bank.account", id}, parts);
  return r.body["partitions"][p].value("owner", "?");
}

} // namespace

int main(int argc, char** argv) {
  std::string data = "demo-data";
  bool exit_at_end = false, keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--data=", 0) == 0)
      data = a.substr(7);
    else if (a == "--exit")
      exit_at_end = true;
    else if (a == "--keep")
      keep = true;
    else {
      std::fprintf(stderr, "usage: bank-demo [--data=DIR] [--exit] [--keep]\n");
      return 2;
    }
  }
  // Ctrl-C ends the serving phase; block it so sigwait can take it.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  node_binary = (fs::path{argv[0]}.parent_path() / "bank-node").string();
  if (!keep)
    fs::remove_all(data);
  fs::create_directories(data);
  data = fs::absolute(data).string();

  std::vector<node_proc> nodes(3);
  for (int i = 0; i < 3; ++i) {
    auto& n = nodes[static_cast<std::size_t>(i)];
    n.name = "n" + std::to_string(i + 1);
    n.dir = data + "/" + n.name;
    n.cluster_port = static_cast<uint16_t>(7101 + i);
    n.http_port = static_cast<uint16_t>(8081 + i);
    if (!port_free(n.cluster_port))
      n.cluster_port = any_free_port();
    if (!port_free(n.http_port))
      n.http_port = any_free_port();
  }
  etcd_proc etcd;
  etcd.dir = data + "/etcd";
  etcd.client_port = port_free(2379) ? 2379 : any_free_port();
  etcd.peer_port = port_free(2380) ? 2380 : any_free_port();
  replicated_args
    = {"--cluster.etcd=" + etcd.endpoint(), "--cluster.cluster-name=demo",
       "--cluster.initial-members=3"};
  auto stop_all = [&] {
    for (auto& n : nodes)
      stop(n);
    if (etcd.pid > 0) {
      ::kill(etcd.pid, SIGTERM);
      ::waitpid(etcd.pid, nullptr, 0);
      etcd.pid = 0;
    }
  };

  step(1, "Starting etcd and a 3-node bank cluster, every partition on "
          "3 replicas (data in "
            + data + ")");
  if (!start(etcd)) {
    stop_all();
    return 1;
  }
  say("      etcd up: " + etcd.endpoint() + " (the control plane)");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!start(nodes[i])) {
      stop_all();
      return 1;
    }
    say("      " + nodes[i].name + " up: cluster port "
        + std::to_string(nodes[i].cluster_port) + ", API " + nodes[i].url());
  }
  check(await([&] { return replicated_ready(nodes); }, 60s),
        "3 members; every partition has a leader and a replica on each node");
  {
    auto r = call(nodes[0], "GET", "/cluster");
    for (auto& m : r.body["members"])
      say("      " + m.value("name", std::string{}) + " leads "
          + std::to_string(m.value("partitions", 0)) + " of "
          + std::to_string(r.body["partitions"].size())
          + " partitions and follows the others");
  }

  step(2, "Opening accounts (each request enters at a different node)");
  struct acct {
    const char* id;
    const char* owner;
    int64_t limit;
  };
  for (auto [i, a] : {std::pair{0, acct{"alice", "Alice", 0}},
                      std::pair{1, acct{"bob", "Bob", 50000}},
                      std::pair{2, acct{"carol", "Carol", 0}}}) {
    auto& n = nodes[static_cast<std::size_t>(i)];
    auto r = call(n, "POST", std::string{"/accounts/"} + a.id + "/open",
                  {{"owner", a.owner}, {"credit_limit", a.limit}});
    check(r.status == 200, std::string{a.id} + " opened via " + n.name
                             + " (owned by " + owner_of(n, a.id)
                             + "), credit limit " + money(a.limit));
  }

  step(3, "Credits and withdrawals; an overdraft is refused");
  check(
    call(nodes[1], "POST", "/accounts/alice/credit", {{"amount", 10000}}).status
      == 200,
    "alice +100.00 (via n2)");
  check(call(nodes[2], "POST", "/accounts/alice/withdraw", {{"amount", 3000}})
            .status
          == 200,
        "alice -30.00 (via n3)");
  {
    auto r
      = call(nodes[0], "POST", "/accounts/alice/withdraw", {{"amount", 50000}});
    check(r.status == 409, "alice -500.00 refused: HTTP "
                             + std::to_string(r.status) + " "
                             + r.body.value("message", std::string{}));
  }
  check(
    call(nodes[0], "POST", "/accounts/bob/withdraw", {{"amount", 30000}}).status
      == 200,
    "bob -300.00 on credit (limit 500.00)");
  {
    auto r = call(nodes[2], "GET", "/accounts/alice");
    check(r.body.value("balance", int64_t{0}) == 7000,
          "alice's state read from its owner: balance "
            + money(r.body.value("balance", int64_t{0})) + ", revision "
            + std::to_string(r.body.value("revision", 0)));
  }

  step(4, "Transfers run as a saga across nodes");
  check(
    call(nodes[0], "POST", "/transfers",
         {{"id", "t-1"}, {"from", "alice"}, {"to", "carol"}, {"amount", 2500}})
        .status
      == 200,
    "transfer t-1: alice -> carol 25.00 accepted");
  std::string st;
  bool done = await([&] {
    st = call(nodes[1], "GET", "/transfers/t-1")
           .body.value("status", std::string{});
    return st == "completed";
  });
  check(done, "t-1 " + st + " (debit on alice's owner, credit on carol's)");
  check(
    call(
      nodes[0], "POST", "/transfers",
      {{"id", "t-2"}, {"from", "carol"}, {"to", "alice"}, {"amount", 100000}})
        .status
      == 200,
    "transfer t-2: carol -> alice 1000.00 accepted");
  json t2;
  done = await([&] {
    t2 = call(nodes[2], "GET", "/transfers/t-2").body;
    return t2.value("status", std::string{}) == "failed";
  });
  check(done, "t-2 failed: " + t2.value("reason", std::string{}));
  check(balance_of(nodes[1], "alice") == 4500
          && balance_of(nodes[1], "carol") == 2500,
        "alice 45.00, carol 25.00: money conserved");

  step(5, "The balance projection catches up on every node");
  for (auto& n : nodes) {
    auto t0 = std::chrono::steady_clock::now();
    json b;
    bool ok = await([&] {
      b = call(n, "GET", "/balances/alice").body;
      return num(b, "balance", -1) == 4500;
    });
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
    check(ok, n.name + ": projected alice 45.00 (position "
                + std::to_string(b.value("position", 0)) + ", waited "
                + std::to_string(ms) + " ms)");
  }

  step(6, "Load: 300 credits to 30 accounts through all three nodes");
  std::map<std::string, int64_t> expected;
  expected["alice"] = 4500;
  expected["bob"] = -30000;
  expected["carol"] = 2500;
  constexpr int accounts = 30, credits = 300;
  auto acct_id = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "acct-%02d", i);
    return std::string{buf};
  };
  for (int i = 0; i < accounts; ++i) {
    call(nodes[static_cast<std::size_t>(i % 3)], "POST",
         "/accounts/" + acct_id(i) + "/open",
         {{"owner", "load"}, {"credit_limit", 0}});
    expected[acct_id(i)] = 0;
  }
  std::atomic<int> sent{0}, acked{0};
  std::vector<int64_t> sums(accounts, 0);
  std::vector<std::thread> senders;
  for (int t = 0; t < 3; ++t)
    senders.emplace_back([&, t] {
      for (int k = t; k < credits; k += 3) {
        auto r = call(
          nodes[static_cast<std::size_t>(t)], "POST",
          "/accounts/" + acct_id(k % accounts) + "/credit",
          {{"amount", 100}, {"command_id", "load-" + std::to_string(k)}});
        if (r.status == 200)
          ++acked;
        ++sent;
      }
    });
  while (sent < credits) {
    progress("credits", sent, credits);
    std::this_thread::sleep_for(50ms);
  }
  progress("credits", credits, credits);
  for (auto& s : senders)
    s.join();
  for (int k = 0; k < credits; ++k)
    expected[acct_id(k % accounts)] += 100;
  check(acked == credits, std::to_string(acked.load()) + "/"
                            + std::to_string(credits) + " acknowledged");

  step(7, "SIGKILL n2: its partitions fail over, its accounts keep answering");
  std::vector<bool> led_by_n2(accounts);
  int n2_accounts = 0;
  for (int i = 0; i < accounts; ++i) {
    led_by_n2[static_cast<std::size_t>(i)]
      = owner_of(nodes[0], acct_id(i)) == "n2";
    n2_accounts += led_by_n2[static_cast<std::size_t>(i)] ? 1 : 0;
  }
  stop(nodes[1], SIGKILL);
  auto killed = std::chrono::steady_clock::now();
  say("      n2 killed; it led " + std::to_string(n2_accounts) + " of the "
      + std::to_string(accounts) + " load accounts");
  // One cent to every account through n1, each retried with its command id
  // while it is refused (503 while its partition has no leader, 504 if an
  // outcome is unknown): the retry never applies it twice.
  int ok = 0, refused = 0;
  int64_t gap_ms = 0;
  for (int i = 0; i < accounts; ++i) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      auto r = call(nodes[0], "POST", "/accounts/" + acct_id(i) + "/credit",
                    {{"amount", 1}, {"command_id", "outage-" + acct_id(i)}});
      if (r.status == 200) {
        ++ok;
        expected[acct_id(i)] += 1;
        if (led_by_n2[static_cast<std::size_t>(i)])
          gap_ms = std::max<int64_t>(
            gap_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - killed)
                      .count());
        break;
      }
      if ((r.status != 503 && r.status != 504)
          || std::chrono::steady_clock::now() > deadline)
        break;
      ++refused;
      std::this_thread::sleep_for(20ms);
    }
  }
  check(ok == accounts,
        std::to_string(ok) + "/" + std::to_string(accounts)
          + " accounts credited through n1 (" + std::to_string(refused)
          + " attempts refused and retried during the failover)");
  check(n2_accounts > 0, "n2's accounts answered again "
                           + std::to_string(gap_ms)
                           + " ms after the kill, led by n1 and n3 now");

  step(8, "n2 restarts on its data and catches up as a follower");
  check(start(nodes[1]), "n2 restarted");
  uint64_t events = 0;
  bool back = await(
    [&] {
      return replicated_ready(nodes) && caught_up(nodes[1], nodes[0], &events);
    },
    60s);
  check(back, "n2 holds every partition to the same end as n1 ("
                + std::to_string(events) + " events)");

  step(9, "n3's data directory is wiped; n3 rebuilds its replicas from n1 "
          "and n2");
  stop(nodes[2], SIGKILL);
  fs::remove_all(nodes[2].dir);
  say("      n3 killed, " + nodes[2].dir + " removed");
  auto wiped = std::chrono::steady_clock::now();
  check(start(nodes[2]), "n3 started on an empty directory");
  bool rebuilt = await(
    [&] {
      return replicated_ready(nodes) && caught_up(nodes[2], nodes[0], &events);
    },
    120s);
  auto rebuild_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - wiped)
                      .count();
  check(rebuilt,
        "n3 caught up as a learner and votes again: " + std::to_string(events)
          + " events in " + std::to_string(rebuild_ms) + " ms");
  for (auto& n : nodes) {
    int match = 0;
    for (auto& [id, cents] : expected)
      match += balance_of(n, id) == cents ? 1 : 0;
    check(match == static_cast<int>(expected.size()),
          "through " + n.name + ": " + std::to_string(match) + "/"
            + std::to_string(expected.size())
            + " accounts hold exactly their acknowledged money");
  }
  check(await([&] {
          return num(call(nodes[2], "GET", "/balances/acct-00").body, "balance",
                     -1)
                   == expected["acct-00"]
                 && num(call(nodes[2], "GET", "/balances/alice").body,
                        "balance", -1)
                      == expected["alice"];
        }),
        "n3's balance projection was rebuilt from the cluster");

  step(10, failures == 0 ? "Done: every check held" : "Done, with failures");
  if (exit_at_end || failures != 0) {
    stop_all();
    return failures == 0 ? 0 : 1;
  }
  say("      The cluster keeps serving. Try:");
  for (auto& n : nodes)
    say("        curl " + n.url() + "/accounts/alice");
  say("        " + (fs::path{argv[0]}.parent_path() / "bank-cli").string()
      + " --node 127.0.0.1:" + std::to_string(nodes[0].http_port)
      + " transfer t-3 bob carol 500");
  say("      Ctrl-C stops it and etcd (the data stays in " + data + ").");
  int sig = 0;
  sigwait(&sigs, &sig);
  say("\n      stopping the nodes");
  stop_all();
  return 0;
}
