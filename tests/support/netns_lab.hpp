// annals -- test support: a private network of Linux network namespaces for
// network-fault tests (isolation, splits, one-way drops, slow links).
//
// Topology: namespace `<tag>-hub` holds a bridge; each host namespace
// `<tag>-<host>` has one interface `eth0` (a veth into the bridge) with
// address 10.77.0.<k>/24 and only the bridge's subnet as a route: no
// default route, no link to the root namespace, so no packet can leave the
// machine. The constructor checks that (`ip route get` from every host to
// every other names eth0, and no host has a default route) and throws
// otherwise. Everything is deleted in the destructor; namespaces left over
// by a test process that died are swept on the next construction.
//
// Faults are iptables rules inside a host's namespace (filter table, on
// eth0 only) and `tc tbf` on its eth0; `heal()` removes all of them.
//
// Needs root, `ip` (iproute2), `iptables` and `tc`; `unsupported()` says
// why not when something is missing. Not thread-safe.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace annals::testing {

class netns_lab {
public:
  /// Why this machine cannot run the lab, or nothing if it can.
  static std::optional<std::string> unsupported() {
    if (::geteuid() != 0)
      return "needs root for network namespaces";
    if (tool("ip").empty() || tool("iptables").empty() || tool("tc").empty())
      return "needs ip, iptables and tc (iproute2, iptables)";
    return std::nullopt;
  }

  /// Creates the hub and one namespace per host, in order 10.77.0.1, .2...
  explicit netns_lab(const std::vector<std::string>& hosts)
    : tag_("annals-" + std::to_string(::getpid())) {
    sweep();
    try {
      sh("ip netns add " + ns("hub"));
      sh("ip -n " + ns("hub") + " link add br0 type bridge");
      sh("ip -n " + ns("hub") + " link set br0 up");
      sh("ip -n " + ns("hub") + " link set lo up");
      int k = 1;
      for (const auto& h : hosts) {
        auto n = ns(h);
        auto addr = "10.77.0." + std::to_string(k);
        auto port = "v" + std::to_string(k);
        sh("ip netns add " + n);
        sh("ip -n " + ns("hub") + " link add " + port
           + " type veth peer name eth0 netns " + n);
        sh("ip -n " + ns("hub") + " link set " + port + " master br0 up");
        sh("ip -n " + n + " addr add " + addr + "/24 dev eth0");
        sh("ip -n " + n + " link set eth0 up");
        sh("ip -n " + n + " link set lo up");
        addrs_[h] = addr;
        ++k;
      }
      check_confined();
    } catch (...) {
      teardown();
      throw;
    }
  }

  netns_lab(const netns_lab&) = delete;
  netns_lab& operator=(const netns_lab&) = delete;

  ~netns_lab() {
    leave();
    teardown();
  }

  /// The namespace name of `host`.
  std::string ns(const std::string& host) const {
    return tag_ + "-" + host;
  }

  /// The address of `host`.
  const std::string& addr(const std::string& host) const {
    return addrs_.at(host);
  }

  /// argv words that run a program inside `host`'s namespace.
  std::vector<std::string> wrapper(const std::string& host) const {
    return {tool("ip"), "netns", "exec", ns(host)};
  }

  /// Moves the calling thread into `host`'s namespace: sockets it (and
  /// threads it starts later) creates live there. `leave()` goes back.
  void enter(const std::string& host) {
    if (home_ < 0)
      home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    auto fd = ::open(("/run/netns/" + ns(host)).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      if (fd >= 0)
        ::close(fd);
      throw std::runtime_error("cannot enter namespace " + ns(host));
    }
    ::close(fd);
  }

  /// Returns the calling thread to the namespace it had before `enter`.
  void leave() {
    if (home_ < 0)
      return;
    ::setns(home_, CLONE_NEWNET);
    ::close(home_);
    home_ = -1;
  }

  /// Drops every packet `from` sends to `to` (one way).
  void drop(const std::string& from, const std::string& to) {
    sh(in(from) + "iptables -A OUTPUT -o eth0 -d " + addr(to) + " -j DROP");
  }

  /// Drops all traffic between `a` and `b`, both ways.
  void split(const std::string& a, const std::string& b) {
    drop(a, b);
    drop(b, a);
  }

  /// Drops all traffic into and out of `host` (its eth0).
  void isolate(const std::string& host) {
    sh(in(host) + "iptables -A INPUT -i eth0 -j DROP");
    sh(in(host) + "iptables -A OUTPUT -o eth0 -j DROP");
  }

  /// Drops each packet into and out of `host` with `probability` (0..1).
  void flaky(const std::string& host, double probability) {
    auto rule = " -m statistic --mode random --probability "
                + std::to_string(probability) + " -j DROP";
    sh(in(host) + "iptables -A INPUT -i eth0" + rule);
    sh(in(host) + "iptables -A OUTPUT -o eth0" + rule);
  }

  /// Limits what `host` sends to `rate` (tc tbf, e.g. "256kbit") with at
  /// most `latency` (e.g. "400ms") of queueing; the rest is dropped.
  void slow(const std::string& host, const std::string& rate,
            const std::string& latency) {
    sh(in(host) + "tc qdisc replace dev eth0 root tbf rate " + rate
       + " burst 16kbit latency " + latency);
    slowed_.push_back(host);
  }

  /// Removes every drop rule and rate limit.
  void heal() {
    for (const auto& [h, a] : addrs_)
      sh(in(h) + "iptables -F");
    for (const auto& h : slowed_)
      sh(in(h) + "tc qdisc del dev eth0 root");
    slowed_.clear();
  }

  /// Runs `cmd` through /bin/sh; throws with the command on failure.
  static void sh(const std::string& cmd) {
    auto rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    if (rc != 0)
      throw std::runtime_error("failed: " + cmd);
  }

  /// `cmd`'s standard output (first 4 KiB).
  static std::string capture(const std::string& cmd) {
    std::string out;
    if (auto* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
      char buf[4096];
      auto n = std::fread(buf, 1, sizeof buf, p);
      out.assign(buf, n);
      ::pclose(p);
    }
    return out;
  }

  /// The full path of a tool in the usual system directories, or "".
  static std::string tool(const std::string& name) {
    for (auto dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
      auto p = std::string{dir} + name;
      if (::access(p.c_str(), X_OK) == 0)
        return p;
    }
    return {};
  }

private:
  std::string in(const std::string& host) const {
    return "ip netns exec " + ns(host) + " ";
  }

  /// Refuses to go on unless every host reaches the others through eth0
  /// only and has no default route.
  void check_confined() const {
    for (const auto& [h, a] : addrs_) {
      auto routes = capture("ip -n " + ns(h) + " route show default");
      if (!routes.empty())
        throw std::runtime_error(ns(h) + " has a default route: " + routes);
      for (const auto& [peer, pa] : addrs_) {
        if (peer == h)
          continue;
        auto via = capture("ip -n " + ns(h) + " route get " + pa);
        if (via.find("dev eth0") == std::string::npos)
          throw std::runtime_error(ns(h) + " reaches " + pa
                                   + " not through eth0: " + via);
      }
    }
  }

  void teardown() {
    for (const auto& [h, a] : addrs_)
      std::system(("ip netns del " + ns(h) + " >/dev/null 2>&1").c_str());
    std::system(("ip netns del " + ns("hub") + " >/dev/null 2>&1").c_str());
    addrs_.clear();
  }

  /// Deletes namespaces of earlier test processes that are gone.
  static void sweep() {
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/run/netns", ec)) {
      auto name = e.path().filename().string();
      if (name.rfind("annals-", 0) != 0)
        continue;
      auto pid = std::atoi(name.c_str() + 7);
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
        std::system(("ip netns del " + name + " >/dev/null 2>&1").c_str());
    }
  }

  std::string tag_;
  std::map<std::string, std::string> addrs_;
  std::vector<std::string> slowed_;
  int home_ = -1;
};

} // namespace annals::testing
