// bank-node -- one node of the bank: an annals cluster node hosting the
// bank's aggregates and services, with the HTTP/JSON API.
//
// Usage: bank-node --cluster.name=N --cluster.port=P --annals.data-dir=D
//                  [--cluster.etcd=HOST:PORT,... --cluster.cluster-name=C
//                   [--cluster.replication-factor=3]
//                   [--cluster.initial-members=1]] [--bank.http-port=H]
//                  [--bank.http-host=127.0.0.1] [--bank.alert-share=0.8]
//                  [--bank.http-max-connections=4096]
//                  [--bank.operator-token-file=PATH]
//                  [--bank.tls-cert=PEM --bank.tls-key=PEM
//                   [--bank.tls-client-ca=PEM
//                    [--bank.tls-client-auth=optional|require]]]
// Prints "READY <cluster port> <http port>" once it serves, and stops
// cleanly on SIGINT or SIGTERM (the node stays a member: start it again on
// the same data directory to rejoin). It raises its open-file limit to the
// hard limit at start (the HTTP server holds thousands of connections).
#include "annals/cluster/node.hpp"
#include "annals/log.hpp"
#include "annals/render.hpp"

#include "bank/cluster_api.hpp"
#include "bank/http_server.hpp"
#include "bank/services.hpp"
#include "bank/types.hpp"

#include <caf/actor_system.hpp>
#include <caf/config_option_adder.hpp>
#include <caf/sec.hpp>

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <iostream>

namespace {

struct bank_config : annals::cluster::config {
  bank_config() {
    opt_group{custom_options_, "bank"}
      .add(http_host, "http-host", "address of the HTTP API")
      .add(http_port, "http-port", "port of the HTTP API (0 = any)")
      .add(alert_share, "alert-share",
           "credit alert above this share of the limit")
      .add(http_max_connections, "http-max-connections",
           "most HTTP connections held (idle ones are evicted first)")
      .add(operator_token_file, "operator-token-file",
           "file holding the operator bearer token")
      .add(tls_cert, "tls-cert", "HTTPS: the server's certificate (PEM)")
      .add(tls_key, "tls-key", "HTTPS: the server's private key (PEM)")
      .add(tls_client_ca, "tls-client-ca",
           "HTTPS: CA of client certificates (they are operators)")
      .add(tls_client_auth, "tls-client-auth",
           "HTTPS: client certificates \"optional\" or \"require\"d");
    add_message_types<caf::id_block::bank>();
  }
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080;
  double alert_share = 0.8;
  size_t http_max_connections = bank::http_options{}.max_connections;
  std::string operator_token_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string tls_client_auth = "optional";

  /// The HTTP server's options, or an error naming the bad option.
  caf::expected<bank::http_options> http() const {
    bank::http_options out;
    out.address = http_host;
    out.port = http_port;
    out.max_connections = http_max_connections;
    out.operator_token_file = operator_token_file;
    out.tls.certificate_file = tls_cert;
    out.tls.key_file = tls_key;
    out.tls.client_ca_file = tls_client_ca;
    if (tls_client_auth == "require")
      out.tls.client_certs = bank::client_cert_mode::required;
    else if (tls_client_auth != "optional")
      return caf::make_error(caf::sec::invalid_argument,
                             "bank.tls-client-auth must be \"optional\" or "
                             "\"require\"");
    if (auto err = bank::http_server::check(out))
      return err;
    return out;
  }
};

} // namespace

int main(int argc, char** argv) {
  // Signals are taken by sigwait below: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  bank_config cfg;
  cfg.set("scheduler.max-threads", 2);
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "bank-node: bad options: " << annals::render(err) << std::endl;
    return 2;
  }
  annals::set_log_level(annals::log_level::info);
  // Before anything starts: a bad token or TLS file must not cost a
  // cluster member.
  auto hopts = cfg.http();
  if (!hopts) {
    std::cerr << "bank-node: bad HTTP options: "
              << annals::render(hopts.error()) << std::endl;
    return 2;
  }
  if (auto limit = bank::raise_open_files_limit(); !limit)
    std::cerr << "bank-node: cannot raise the open-file limit: "
              << annals::render(limit.error()) << std::endl;
  caf::actor_system sys{cfg};
  auto rt = annals::runtime::start(sys, cfg.runtime());
  if (!rt) {
    std::cerr << "bank-node: cannot open the journal: "
              << annals::render(rt.error()) << std::endl;
    return 3;
  }
  auto node = annals::cluster::node::start(sys, **rt, cfg.node());
  if (!node) {
    std::cerr << "bank-node: cannot start the cluster node: "
              << annals::render(node.error()) << std::endl;
    (*rt)->shutdown();
    return 4;
  }
  auto svc = bank::start(**node, **rt, cfg.alert_share);
  bank::cluster_api backend{**node, **rt, svc};
  auto http = bank::http_server::start(backend, *hopts);
  if (!http) {
    std::cerr << "bank-node: cannot serve HTTP: "
              << annals::render(http.error()) << std::endl;
    (*node)->stop();
    (*rt)->shutdown();
    return 5;
  }
  std::cout << "READY " << (*node)->port() << ' ' << (*http)->port()
            << std::endl;
  int sig = 0;
  sigwait(&sigs, &sig);
  std::cerr << "bank-node " << (*node)->name() << ": stopping" << std::endl;
  (*http)->stop();
  (*node)->stop();
  (*rt)->shutdown();
  return 0;
}
