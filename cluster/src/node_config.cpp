// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/cluster/node_config.hpp"

#include "annals/errc.hpp"

#include "protocol.hpp"
#include "tls_error_queue.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include <fstream>

namespace annals::cluster {

config::config() {
  opt_group{custom_options_, "cluster"}
    .add(name_, "name", "unique name of this node")
    .add(host_, "host", "address the cluster port binds to")
    .add(port_, "port", "cluster port (0 = any)")
    .add(seeds_, "seeds", "removed: nodes find each other through etcd")
    .add(tls_, "tls", "mutual TLS between nodes (needs openssl.*)")
    .add(insecure_, "insecure",
         "allow plain traffic on a non-loopback host (trusted networks)")
    .add(etcd_, "etcd",
         "comma-separated host:port of etcd (replicated mode; empty: none)")
    .add(cluster_name_, "cluster-name", "the cluster's name in etcd")
    .add(replication_factor_, "replication-factor",
         "replicas per partition in replicated mode (default 3)")
    .add(initial_members_, "initial-members",
         "replicated mode: nodes a new cluster waits for before its first "
         "partition map (default 1)");
  load<caf::io::middleman>();
  load<caf::openssl::manager>();
  static_cast<void>(detail::tls_error_queue_anchor());
  set("middleman.heartbeat-interval",
      caf::timespan{std::chrono::milliseconds{250}});
  set("middleman.connection-timeout", caf::timespan{std::chrono::seconds{2}});
  register_protocol(*this);
}

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text + ",") {
    if (c == ',') {
      if (!cur.empty())
        out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

} // namespace

node_config config::node() const {
  node_config nc;
  nc.name = name_;
  nc.host = host_;
  nc.port = port_;
  nc.seeds = split_list(seeds_);
  nc.etcd = split_list(etcd_);
  nc.cluster_name = cluster_name_;
  nc.replication_factor = replication_factor_;
  nc.initial_members = initial_members_;
  nc.tls = tls_;
  nc.insecure = insecure_;
  return nc;
}

caf::error config::validate() const {
  if (!tls_)
    return {};
  std::string missing;
  std::string unreadable;
  auto check = [&](const char* option, const std::string& path) {
    if (path.empty()) {
      missing += missing.empty() ? "" : ", ";
      missing += option;
    } else if (!std::ifstream{path}) {
      unreadable += unreadable.empty() ? "" : ", ";
      unreadable += std::string{option} + "=" + path;
    }
  };
  check("openssl.certificate", openssl_certificate);
  check("openssl.key", openssl_key);
  check("openssl.cafile", openssl_cafile);
  if (!missing.empty())
    return make_error(errc::invalid_command,
                      "--cluster.tls needs " + missing
                        + " (mutual TLS: certificate, key and CA)");
  if (!unreadable.empty())
    return make_error(errc::invalid_command,
                      "--cluster.tls: cannot read " + unreadable);
  return {};
}

} // namespace annals::cluster
