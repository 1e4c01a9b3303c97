// annals -- a cluster node process for cluster_bench.
//
// Usage: cluster_bench_node --annals.data-dir=D --cluster.name=N
//                           --cluster.port=P [--cluster.etcd=host:port ...]
//                           [other --annals.* / --cluster.* options]
// Hosts `cluster_bench::account`; the stdin commands (status with routing
// counters, leave, replicas, stats) are those of
// annals/tools/node_program.hpp. Log output (warnings and errors) goes to
// stderr.
#include "annals/log.hpp"
#include "annals/tools/node_program.hpp"

#include "cluster_bench_account.hpp"

int main(int argc, char** argv) {
  annals::set_log_level(annals::log_level::warning);
  annals::tools::node_program_hooks hooks;
  hooks.configure = [](annals::cluster::config& cfg) {
    cfg.add_message_types<caf::id_block::cluster_bench>();
  };
  hooks.serve = [](annals::runtime&, annals::cluster::node& node) {
    node.host<cluster_bench::account>();
  };
  return annals::tools::run_node_program(argc, argv, hooks);
}
