// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "cluster/replicated_rig.hpp"

#include "annals/render.hpp"

#include "cluster/cleanup.hpp"
#include "cluster/helpers.hpp"

#include <caf/io/middleman.hpp>

#include <thread>

namespace cluster_bench {

replicated_rig::replicated_rig()
  : c_(3, replicated_options(etcd_, 3)), sys_(sys_cfg_) {
  for (std::size_t i = 0; i < 3; ++i) {
    handles_.push_back(connect(i));
  }
}

replicated_rig::~replicated_rig() {
  handles_.clear();
}

std::vector<node_process*> replicated_rig::all() {
  return {&c_[0], &c_[1], &c_[2]};
}

std::vector<node_process*> replicated_rig::all_but(std::size_t i) {
  std::vector<node_process*> out;
  for (std::size_t j = 0; j < 3; ++j) {
    if (j != i) {
      out.push_back(&c_[j]);
    }
  }
  return out;
}

void replicated_rig::reconnect(std::size_t i) {
  handles_[i] = connect(i);
}

std::size_t replicated_rig::controller() const {
  auto kv = etcd_.get(controller_key);
  for (std::size_t i = 0; i < c_.size(); ++i) {
    if (kv.exists && kv.value == c_name(i)) {
      return i;
    }
  }
  die("no controller in etcd (" + kv.value + ")");
}

uint64_t replicated_rig::map_version() const {
  return etcd_.get(map_key).version;
}

uint64_t
replicated_rig::await_map_quiet(std::chrono::milliseconds quiet) const {
  auto v = map_version();
  auto since = clock_type::now();
  auto deadline = since + std::chrono::seconds{60};
  while (clock_type::now() - since < quiet) {
    if (clock_type::now() > deadline) {
      die("the partition map kept changing");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    auto now_v = map_version();
    if (now_v != v) {
      v = now_v;
      since = clock_type::now();
    }
  }
  return v;
}

std::string replicated_rig::c_name(std::size_t i) const {
  std::string name = "n"; // not "n" + ...: see cluster::add
  name += std::to_string(i + 1);
  return name;
}

accounts_handle replicated_rig::connect(std::size_t i) {
  // A node just restarted under load may time the first handshake out
  // (seen once in 10 restarts of (7) on a busy machine): try 3 times.
  auto root = sys_.middleman().remote_actor("127.0.0.1", c_[i].port());
  for (int attempt = 1; !root && attempt < 3; ++attempt) {
    root = sys_.middleman().remote_actor("127.0.0.1", c_[i].port());
  }
  if (!root) {
    die("cannot connect to " + c_[i].name() + ": "
        + annals::render(root.error()));
  }
  return accounts_handle{sys_, *root, std::chrono::seconds{60}};
}

} // namespace cluster_bench
