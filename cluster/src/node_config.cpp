// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/cluster/node_config.hpp"

#include "protocol.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace annals::cluster {

config::config() {
  opt_group{custom_options_, "cluster"}
    .add(name_, "name", "unique name of this node")
    .add(host_, "host", "address the cluster port binds to")
    .add(port_, "port", "cluster port (0 = any)")
    .add(seeds_, "seeds", "comma-separated host:port of members to join")
    .add(tls_, "tls", "mutual TLS between nodes (needs openssl.*)");
  load<caf::io::middleman>();
  load<caf::openssl::manager>();
  set("middleman.heartbeat-interval",
      caf::timespan{std::chrono::milliseconds{250}});
  set("middleman.connection-timeout", caf::timespan{std::chrono::seconds{2}});
  register_protocol(*this);
}

node_config config::node() const {
  node_config nc;
  nc.name = name_;
  nc.host = host_;
  nc.port = port_;
  std::string cur;
  for (char c : seeds_ + ",") {
    if (c == ',') {
      if (!cur.empty())
        nc.seeds.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  nc.tls = tls_;
  return nc;
}

} // namespace annals::cluster
