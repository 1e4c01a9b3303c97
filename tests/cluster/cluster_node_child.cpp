// annals -- a cluster node for the multi-process cluster tests.
//
// Usage: cluster_node_child --annals.data-dir=D --cluster.name=N
//                           --cluster.port=P
//                           [--cluster.etcd=host:port --cluster.cluster-name=C
//                            --cluster.replication-factor=R
//                            --cluster.initial-members=M]
//                           [--cluster.tls --openssl.certificate=C
//                            --openssl.key=K --openssl.cafile=CA]
// Without etcd it is a standalone node. Hosts `sample::account`; the stdin
// commands (status, leave, replicas, stats) are those of
// annals/tools/node_program.hpp.
#include "annals/tools/node_program.hpp"

#include "sample_account.hpp"

int main(int argc, char** argv) {
  annals::tools::node_program_hooks hooks;
  hooks.configure = [](annals::cluster::config& cfg) {
    cfg.add_message_types<caf::id_block::sample>();
  };
  hooks.serve = [](annals::runtime&, annals::cluster::node& node) {
    node.host<sample::account>();
  };
  return annals::tools::run_node_program(argc, argv, hooks);
}
