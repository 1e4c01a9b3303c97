// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/node_cluster.hpp"

#include "cluster/helpers.hpp"

#include <filesystem>
#include <thread>

namespace cluster_bench {

cluster::cluster(std::size_t n, std::vector<std::string> extra)
  : extra_(std::move(extra)) {
  for (std::size_t i = 0; i < n; ++i) {
    add();
  }
  await_settled();
}

node_process& cluster::add() {
  // Appended, not "n" + to_string(...): GCC 12 -O3 warns (-Wrestrict,
  // PR 105651) on the latter here.
  std::string name = "n";
  name += std::to_string(nodes_.size() + 1);
  auto data = dir_.path() + "/" + name;
  std::filesystem::create_directories(data);
  nodes_.push_back(std::make_unique<node_process>(
    name, data, dir_.path() + "/" + name + ".log", free_port(), extra_));
  auto& n = *nodes_.back();
  n.start();
  return n;
}

std::vector<node_process*> cluster::members() {
  std::vector<node_process*> out;
  for (auto& n : nodes_) {
    if (n->running() && !left_.count(n->name())) {
      out.push_back(n.get());
    }
  }
  return out;
}

void cluster::mark_left(const node_process& n) {
  left_.insert({n.name(), true});
}

void cluster::await_settled(std::chrono::seconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto ms = members();
    bool ok = true;
    uint64_t version = 0;
    for (auto* n : ms) {
      auto r = n->must_status();
      if (!r.settled || r.members != ms.size() || r.reachable != ms.size()
          || (version != 0 && r.version != version)) {
        ok = false;
      }
      version = r.version;
    }
    if (ok) {
      return;
    }
    if (clock_type::now() > deadline) {
      die("the cluster did not settle:\n" + ms.front()->log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

void cluster::stop_all() {
  for (auto& n : nodes_) {
    n->stop();
  }
}

cluster::~cluster() {
  stop_all();
}

} // namespace cluster_bench
